/**
 * The valid CCD section names (GET /encounters/categories), cached per practice and caller
 * with a TTL: they change rarely, and a DocumentReference search with `section` must check
 * its value before asking Nextech for encounters.
 */
import type { CallContext } from '../call.ts';
import type { NextechClient } from './client.ts';

/** (practice, caller) lists held at most. */
const MAX_ENTRIES = 10_000;

export class CategoryCache {
  readonly #entries = new Map<string, { expires: number; names: Promise<string[]> }>();

  constructor(
    private readonly nextech: NextechClient,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(call: CallContext, callerKey: string): Promise<string[]> {
    const key = `${call.practiceId}\u0000${callerKey}`;
    const hit = this.#entries.get(key);
    if (hit && hit.expires > this.now()) return hit.names;
    const { signal: _signal, ...shared } = call;
    // One entry per practice and caller: drop expired ones so callers that never come back do not pile up.
    for (const [k, e] of this.#entries) if (e.expires <= this.now()) this.#entries.delete(k);
    const names = this.nextech.listCategories(shared);
    this.#entries.set(key, { expires: this.now() + this.ttlMs, names });
    // Keyed by practice and caller: bounded, oldest first out.
    if (this.#entries.size > MAX_ENTRIES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    names.catch(() => this.#entries.delete(key));
    return names;
  }
}
