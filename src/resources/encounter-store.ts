/**
 * Every read of a patient's encounters (with their CCDs) goes through this store. One
 * upstream call serves every use of the same (patient, window, section) — an Encounter
 * search, its `_revinclude`d documents, a DocumentReference search, `$docref`, and the
 * next page a client follows shortly after — because calls in flight and recent results
 * are shared by key. The key always includes the practice and the caller, so nothing
 * fetched for one caller or practice is ever served to another. Entries expire after a
 * short TTL and the total CCD bytes held are bounded (least recently used go first).
 */
import type { CallContext, EncounterQuery, NextechClient } from '../nextech/client.ts';
import type { EhrEncounter } from '../nextech/schemas.ts';

export interface EncounterStoreOptions {
  /** How long a result may be reused (0 disables reuse across requests). */
  ttlMs: number;
  /** Observes each reuse of a result or of a call in flight, for metrics. */
  onReuse?: () => void;
  /** Upper bound of CCD bytes held. */
  maxBytes: number;
  now?: () => number;
}

interface Entry {
  promise: Promise<EhrEncounter[]>;
  /** Infinity while the call is in flight: in-flight calls are always shared. */
  expires: number;
  bytes: number;
}

/** Most listings held at once, whatever their size. */
const MAX_ENTRIES = 10_000;

export class EncounterStore {
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  /** Upstream calls made and results reused, for tests and metrics. */
  readonly stats = { fetches: 0, reused: 0 };

  constructor(
    private readonly nextech: NextechClient,
    private readonly opts: EncounterStoreOptions,
  ) {}

  /**
   * The patient's encounters for the query. `callerKey` identifies who is asking (see
   * callerKey()); requests from different callers or practices never share an entry.
   */
  get(call: CallContext, callerKey: string, patientId: number, query: EncounterQuery): Promise<EhrEncounter[]> {
    const key = JSON.stringify([call.practiceId, callerKey, patientId, query.start ?? '', query.end ?? '', query.section ?? '']);
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (hit && hit.expires > now) {
      this.stats.reused++;
      this.opts.onReuse?.();
      // Refresh recency: Map iteration order is insertion order.
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit.promise;
    }
    if (hit) this.#drop(key);
    this.stats.fetches++;
    // The upstream call is not tied to this client's disconnect: another request may share it.
    const { signal: _signal, ...shared } = call;
    const promise = this.nextech.searchEncounters(shared, patientId, query);
    const entry: Entry = { promise, expires: Number.POSITIVE_INFINITY, bytes: 0 };
    this.#entries.set(key, entry);
    promise.then(
      (rows) => this.#settle(key, entry, rows),
      () => {
        if (this.#entries.get(key) === entry) this.#drop(key);
      },
    );
    return promise;
  }

  #settle(key: string, entry: Entry, rows: EhrEncounter[]): void {
    if (this.#entries.get(key) !== entry) return;
    if (this.opts.ttlMs <= 0) return this.#drop(key);
    const now = this.#now();
    entry.expires = now + this.opts.ttlMs;
    // Expired entries are otherwise only dropped when asked for again: sweep them here.
    for (const [k, e] of this.#entries) if (e.expires <= now) this.#drop(k);
    // Empty listings weigh nothing in bytes; bound the count too.
    while (this.#entries.size > MAX_ENTRIES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#drop(oldest);
    }
    entry.bytes = rows.reduce((n, r) => n + r.ccd.length * 2, 0);
    this.#bytes += entry.bytes;
    for (const [k] of this.#entries) {
      if (this.#bytes <= this.opts.maxBytes) break;
      this.#drop(k);
    }
  }

  #drop(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#bytes -= e.bytes;
    this.#entries.delete(key);
  }

  #now(): number {
    return this.opts.now?.() ?? Date.now();
  }
}
