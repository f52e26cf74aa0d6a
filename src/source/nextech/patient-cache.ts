/**
 * Nextech patient searches (GET /search?term=), reused for a short TTL per practice, caller
 * and term (answer-cache.ts): the patient check every Encounter and DocumentReference search
 * makes, a Patient read after a search, and the next page all ask the same question, and a
 * caller's answer is the same for a few seconds. Bounded in answers and in patient rows, so
 * a flood of broad terms cannot grow it.
 */
import { AnswerCache, unbound } from '../answer-cache.ts';
import type { CallContext } from '../call.ts';
import type { NextechClient } from './client.ts';
import { EhrPatientListSchema, type EhrPatient } from './schemas.ts';
import type { SharedAnswers } from '../../shared/shared-answers.ts';

/** (practice, caller, term) answers held at most. */
const MAX_ENTRIES = 10_000;
/** Patient rows held at most across all answers (a few MB). */
const MAX_ROWS = 20_000;
/** An answer longer than this is used once, not kept. */
const MAX_ROWS_PER_ANSWER = 200;

export class PatientCache {
  readonly #cache: AnswerCache<EhrPatient[]>;

  constructor(
    private readonly nextech: NextechClient,
    private readonly ttlMs: number,
    now: () => number = Date.now,
    onReuse?: () => void,
    /** Answers shared with the other replicas (REDIS_URL), looked up before Nextech is asked. */
    private readonly shared?: SharedAnswers,
  ) {
    this.#cache = new AnswerCache({
      ttlMs,
      maxEntries: MAX_ENTRIES,
      weigh: (rows) => rows.length,
      maxWeight: MAX_ROWS,
      maxEntryWeight: MAX_ROWS_PER_ANSWER,
      now,
      ...(onReuse ? { onReuse } : {}),
    });
  }

  /** Upstream searches made and answers reused, for tests. */
  get stats(): { fetches: number; reused: number } {
    return this.#cache.stats;
  }

  /** Patient rows held now. */
  get rows(): number {
    return this.#cache.weight;
  }

  get(call: CallContext, term: string): Promise<EhrPatient[]> {
    const key = JSON.stringify([call.practiceId, call.callerKey, term]);
    return this.#cache.get(key, async (kept) => {
      const tier = kept && !call.unshared ? this.shared : undefined;
      const shared = await tier?.get('patients', key, EhrPatientListSchema);
      if (shared) return shared;
      const rows = await this.nextech.searchPatients(kept ? unbound(call) : call, term);
      if (rows.length <= MAX_ROWS_PER_ANSWER) tier?.put('patients', key, rows, this.ttlMs, call.callerKey);
      return rows;
    });
  }
}
