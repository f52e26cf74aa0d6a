/**
 * The shared-state interface held in this process: what one replica alone uses, what a
 * cluster primary serves its workers (src/cluster.ts), and what a replica falls back to
 * when Redis is unavailable. Bounded: every map is keyed by request input (codes, `jti`s,
 * credentials), so each has a ceiling — one per key namespace (namespaces.ts), so that one
 * registered client's assertions cannot fill the memory of SMART codes, nor a burst of sign-ins
 * evict the managed Nextech token; within a namespace, claims made with a quota fill only their
 * client's share (namespaced-memory.ts) — and expired entries are swept as new ones arrive.
 */
import { NamespacedMemory } from './namespaced-memory.ts';
import type { ClaimQuota, ClaimResult, SharedStore, SwapResult } from './store.ts';

/** Entries per namespace of each map: far above what legitimate traffic holds within their lifetimes. */
export const MEMORY_STORE_ENTRIES = 100_000;

export class MemoryStore implements SharedStore {
  readonly kind: 'memory' | 'cluster';
  readonly #claims: NamespacedMemory<true>;
  readonly #values: NamespacedMemory<string>;
  readonly #leases: NamespacedMemory<string>;
  /** Budget key → the theoretical arrival time of its next request (GCRA). */
  readonly #slots: NamespacedMemory<number>;

  constructor(
    private readonly now: () => number = Date.now,
    /** `entries`: the bound of each namespace of request-made keys, in each map. */
    opts: { kind?: 'memory' | 'cluster'; entries?: number } = {},
  ) {
    const max = opts.entries ?? MEMORY_STORE_ENTRIES;
    this.kind = opts.kind ?? 'memory';
    this.#claims = new NamespacedMemory(max, 'refuse', now);
    this.#values = new NamespacedMemory(max, 'evict', now);
    this.#leases = new NamespacedMemory(max, 'evict', now);
    this.#slots = new NamespacedMemory(max, 'evict', now);
  }

  claim(key: string, ttlMs: number, quota?: ClaimQuota): Promise<ClaimResult> {
    if (this.#claims.has(key, quota)) return Promise.resolve('taken');
    return Promise.resolve(this.#claims.set(key, true, this.now() + ttlMs, quota) ? 'fresh' : 'full');
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

  swap(key: string, expected: string | undefined, next: string, ttlMs: number): Promise<SwapResult> {
    // Synchronous from read to write: nothing else in this process (or, for a cluster
    // primary, no other worker's message) runs in between.
    const found = this.#values.get(key);
    const swapped = found === expected;
    if (swapped) this.#values.set(key, next, this.now() + ttlMs);
    return Promise.resolve({ swapped, found });
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
