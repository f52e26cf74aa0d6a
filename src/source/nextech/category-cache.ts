/**
 * The valid CCD section names (GET /encounters/categories), reused per practice and caller
 * for a TTL (answer-cache.ts): they change rarely, and a DocumentReference search with
 * `section` must check its value before asking Nextech for encounters.
 */
import { AnswerCache, unbound } from '../answer-cache.ts';
import type { CallContext } from '../call.ts';
import type { NextechClient } from './client.ts';

/** (practice, caller) lists held at most. */
const MAX_ENTRIES = 10_000;

export class CategoryCache {
  readonly #cache: AnswerCache<string[]>;

  constructor(
    private readonly nextech: NextechClient,
    ttlMs: number,
    now: () => number = Date.now,
  ) {
    this.#cache = new AnswerCache({ ttlMs, maxEntries: MAX_ENTRIES, now });
  }

  get(call: CallContext, callerKey: string): Promise<string[]> {
    return this.#cache.get(`${call.practiceId}\u0000${callerKey}`, (kept) => this.nextech.listCategories(kept ? unbound(call) : call));
  }
}
