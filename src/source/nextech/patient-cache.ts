/**
 * Nextech patient searches (GET /search?term=), reused for a short TTL per practice, caller
 * and term: the patient check every Encounter and DocumentReference search makes, a Patient
 * read after a search, and the next page all ask the same question, and a caller's answer
 * is the same for a few seconds. A search in flight is shared; a failed one is forgotten at
 * once. Keyed by practice and caller (never shared between them), bounded, oldest first out.
 */
import type { CallContext } from '../call.ts';
import type { NextechClient } from './client.ts';
import type { EhrPatient } from './schemas.ts';

/** (practice, caller, term) answers held at most. */
const MAX_ENTRIES = 10_000;
/** Patient rows held at most across all answers (a few MB): a flood of broad terms cannot grow the cache. */
const MAX_ROWS = 20_000;
/** An answer longer than this is used once, not kept. */
const MAX_ROWS_PER_ANSWER = 200;

export class PatientCache {
  readonly #entries = new Map<string, { expires: number; rows: Promise<EhrPatient[]>; count: number }>();
  #rows = 0;
  /** Upstream searches made and answers reused, for tests. */
  readonly stats = { fetches: 0, reused: 0 };

  constructor(
    private readonly nextech: NextechClient,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly onReuse?: () => void,
  ) {}

  get(call: CallContext, term: string): Promise<EhrPatient[]> {
    if (this.ttlMs <= 0) {
      this.stats.fetches++;
      return this.nextech.searchPatients(call, term);
    }
    const key = JSON.stringify([call.practiceId, call.callerKey, term]);
    const now = this.now();
    const hit = this.#entries.get(key);
    if (hit && hit.expires > now) {
      this.stats.reused++;
      this.onReuse?.();
      return hit.rows;
    }
    for (const [k, e] of this.#entries) if (e.expires <= now) this.#drop(k);
    this.stats.fetches++;
    // Shared by later callers, so it must not be cancelled by this one leaving.
    const { signal: _signal, ...shared } = call;
    const rows = this.nextech.searchPatients(shared, term);
    const entry = { expires: now + this.ttlMs, rows, count: 0 };
    this.#drop(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > MAX_ENTRIES) this.#dropOldest();
    rows.then(
      (list) => {
        if (this.#entries.get(key) !== entry) return;
        if (list.length > MAX_ROWS_PER_ANSWER) return this.#drop(key);
        entry.count = list.length;
        this.#rows += list.length;
        while (this.#rows > MAX_ROWS && this.#dropOldest());
      },
      () => {
        if (this.#entries.get(key) === entry) this.#drop(key);
      },
    );
    return rows;
  }

  /** Patient rows held now. */
  get rows(): number {
    return this.#rows;
  }

  #drop(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#entries.delete(key);
    this.#rows -= e.count;
  }

  #dropOldest(): boolean {
    const oldest = this.#entries.keys().next().value;
    if (oldest === undefined) return false;
    this.#drop(oldest);
    return true;
  }
}
