/**
 * Every read of a patient's encounters (with their CCDs) goes through this store. One
 * upstream call serves every use of the same (patient, window, section) — an Encounter
 * search, its `_revinclude`d documents, a DocumentReference search, `$docref`, and the
 * next page a client follows shortly after — because calls in flight and recent results
 * are shared by key. The key always includes the practice and the caller, so nothing
 * fetched for one caller or practice is ever served to another. A call in flight is
 * cancelled when every request waiting on it has gone. Entries expire after a short TTL;
 * the CCD bytes held are bounded by the cache's own share and count against the document
 * memory budget, which takes them back (least recently used first) when bodies being read
 * need the room.
 */
import { Coalescer } from './coalesce.ts';
import type { CallContext } from '../call.ts';
import type { EncounterQuery, NextechClient } from './client.ts';
import type { MemoryBudget } from '../memory-budget.ts';
import { EhrEncounterListSchema, type EhrEncounter } from './schemas.ts';
import type { SharedAnswers } from '../../shared/shared-answers.ts';

export interface EncounterStoreOptions {
  /** How long a result may be reused (0 disables reuse across requests). */
  ttlMs: number;
  /** Observes each reuse of a result or of a call in flight, for metrics. */
  onReuse?: () => void;
  /** Upper bound of CCD bytes held: the cache's share of the document memory. */
  maxBytes: number;
  /** The document memory budget the CCD bytes held count against. */
  memory?: MemoryBudget;
  now?: () => number;
  /** Listings shared with the other replicas (REDIS_URL), looked up before Nextech is asked. */
  shared?: SharedAnswers;
}

interface Entry {
  rows: EhrEncounter[];
  expires: number;
  bytes: number;
}

/** Most listings held at once, whatever their size. */
const MAX_ENTRIES = 10_000;

export class EncounterStore {
  /** Settled listings, least recently used first (Map iteration order is insertion order). */
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Coalescer();
  #bytes = 0;
  /** Upstream calls made and results reused, for tests and metrics. */
  readonly stats = { fetches: 0, reused: 0 };

  constructor(
    private readonly nextech: NextechClient,
    private readonly opts: EncounterStoreOptions,
  ) {
    opts.memory?.setReclaimer((bytes) => this.#reclaim(bytes));
  }

  /** CCD bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The patient's encounters for the query. `callerKey` identifies who is asking (see
   * callerKey()); requests from different callers or practices never share an entry.
   * `read` says whether the listing was read for this very call (its body counted in the
   * call's room), rather than reused from the cache or from another request's call.
   */
  async get(call: CallContext, callerKey: string, patientId: number, query: EncounterQuery): Promise<{ rows: EhrEncounter[]; read: boolean }> {
    const key = JSON.stringify([call.practiceId, callerKey, patientId, query.start ?? '', query.end ?? '', query.section ?? '']);
    const hit = this.#entries.get(key);
    if (hit && hit.expires > this.#now()) {
      this.#reused();
      // Refresh recency.
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return { rows: hit.rows, read: false };
    }
    if (hit) this.#drop(key);
    let joined = false;
    // Shared by every request asking meanwhile; cancelled (its body's memory freed) once all have left.
    const rows = await this.#inflight.run(
      key,
      call.signal,
      async (signal) => {
        // Only with a shared tier does the call wait for anything before asking Nextech.
        const tier = this.opts.ttlMs > 0 && !call.unshared ? this.opts.shared : undefined;
        const shared = tier ? await tier.get('listing', key, EhrEncounterListSchema) : undefined;
        if (shared) {
          joined = true;
          this.#reused();
          this.#keep(key, shared);
          return shared;
        }
        this.stats.fetches++;
        const rows = await this.nextech.searchEncounters({ ...call, signal }, patientId, query);
        this.#keep(key, rows);
        tier?.put('listing', key, rows, this.opts.ttlMs, callerKey);
        return rows;
      },
      () => {
        joined = true;
        this.#reused();
      },
    );
    return { rows, read: !joined };
  }

  #reused(): void {
    this.stats.reused++;
    this.opts.onReuse?.();
  }

  #keep(key: string, rows: EhrEncounter[]): void {
    if (this.opts.ttlMs <= 0) return;
    const now = this.#now();
    // Expired entries are otherwise only dropped when asked for again: sweep them here.
    for (const [k, e] of this.#entries) if (e.expires <= now) this.#drop(k);
    this.#drop(key);
    // Empty listings weigh nothing in bytes; bound the count too.
    while (this.#entries.size >= MAX_ENTRIES && this.#dropOldest());
    // A JS string holds up to two bytes per character.
    const bytes = rows.reduce((n, r) => n + r.ccd.length * 2, 0);
    if (bytes > this.opts.maxBytes) return;
    while (this.#bytes + bytes > this.opts.maxBytes && this.#dropOldest());
    // Bodies being read come first: the listing is kept only if room is left for it.
    const memory = this.opts.memory;
    if (memory) {
      while (!memory.tryHold(bytes)) if (!this.#dropOldest()) return;
    }
    this.#entries.set(key, { rows, expires: now + this.opts.ttlMs, bytes });
    this.#bytes += bytes;
  }

  /** Gives back at least `bytes` to the memory budget if it holds that much, oldest first. */
  #reclaim(bytes: number): void {
    const target = this.#bytes - bytes;
    while (this.#bytes > Math.max(0, target) && this.#dropOldest());
  }

  #dropOldest(): boolean {
    const oldest = this.#entries.keys().next().value;
    if (oldest === undefined) return false;
    this.#drop(oldest);
    return true;
  }

  #drop(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#entries.delete(key);
    this.#bytes -= e.bytes;
    this.opts.memory?.unhold(e.bytes);
  }

  #now(): number {
    return this.opts.now?.() ?? Date.now();
  }
}
