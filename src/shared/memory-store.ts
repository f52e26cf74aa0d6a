/**
 * The shared-state interface held in this process: what one replica alone uses, what a
 * cluster primary serves its workers (src/cluster.ts), and what a replica falls back to
 * when Redis is unavailable. Bounded: every map is keyed by request input (codes, `jti`s,
 * credentials), so each has a ceiling, and expired entries are swept as new ones arrive.
 */
import { BoundedMemory } from '../auth/bounded-memory.ts';
import type { ClaimResult, SharedStore } from './store.ts';

/** Entries per map: far above what legitimate traffic holds within their lifetimes. */
export const MEMORY_STORE_ENTRIES = 100_000;

export class MemoryStore implements SharedStore {
  readonly kind: 'memory' | 'cluster';
  readonly #claims: BoundedMemory<true>;
  readonly #values: BoundedMemory<string>;
  readonly #leases: BoundedMemory<string>;
  /** Budget key → the theoretical arrival time of its next request (GCRA). */
  readonly #slots: BoundedMemory<number>;

  constructor(
    private readonly now: () => number = Date.now,
    opts: { kind?: 'memory' | 'cluster'; entries?: number } = {},
  ) {
    const max = opts.entries ?? MEMORY_STORE_ENTRIES;
    this.kind = opts.kind ?? 'memory';
    this.#claims = new BoundedMemory(max, 'refuse', now);
    this.#values = new BoundedMemory(max, 'evict', now);
    this.#leases = new BoundedMemory(max, 'evict', now);
    this.#slots = new BoundedMemory(max, 'evict', now);
  }

  claim(key: string, ttlMs: number): Promise<ClaimResult> {
    if (this.#claims.has(key)) return Promise.resolve('taken');
    return Promise.resolve(this.#claims.set(key, true, this.now() + ttlMs) ? 'fresh' : 'full');
  }

  takeSlot(key: string, gapMs: number): Promise<number> {
    const now = this.now();
    const tat = this.#slots.get(key) ?? now;
    if (tat > now) return Promise.resolve(Math.ceil(tat - now));
    // Forgotten once idle for a gap: the next request finds no debt.
    this.#slots.set(key, now + gapMs, now + gapMs);
    return Promise.resolve(0);
  }

  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.#values.get(key));
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    this.#values.set(key, value, this.now() + ttlMs);
    return Promise.resolve();
  }

  lease(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const holder = this.#leases.get(key);
    if (holder !== undefined && holder !== owner) return Promise.resolve(false);
    this.#leases.set(key, owner, this.now() + ttlMs);
    return Promise.resolve(true);
  }

  release(key: string, owner: string): Promise<void> {
    if (this.#leases.get(key) === owner) this.#leases.set(key, '', this.now());
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
