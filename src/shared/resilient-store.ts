/**
 * Shared state that never fails a request because Redis is down, unless the request needs a
 * decision only the shared store can make. Each operation goes to Redis while it answers; when
 * it does not,
 * - what a replica may do alone falls back to this process's own memory: the rate budget is
 *   divided by the configured number of replicas (so together they still stay under Nextech's
 *   limit), the managed token is kept per replica;
 * - everything else is refused with StoreUnavailable — its caller answers "retry shortly" —
 *   never decided in one replica's memory, where the other replicas would decide it again: what
 *   must be single-use or known to every replica (SMART codes, refresh-token families and
 *   revocations, assertion `jti`s, export leases), and any key of a namespace not listed as one a
 *   replica may act on alone (namespaces.ts, `mayActAlone`: closed by default).
 * The switch is per operation: when Redis is back, the next operation uses it again.
 * `degraded` says which mode the last operation ran in, for readiness and metrics.
 */
import type { MemoryStore } from './memory-store.ts';
import type { RedisStore } from './redis-store.ts';
import { mayActAlone } from './namespaces.ts';
import { StoreUnavailable, type ClaimQuota, type ClaimResult, type SharedStore, type SwapResult } from './store.ts';

/** The largest value mirrored into this replica's memory (the fallback's entries stay small). */
const MIRROR_MAX_CHARS = 16 * 1024;

export interface ResilientStoreOptions {
  redis: RedisStore;
  fallback: MemoryStore;
  /** Replicas sharing the upstream budget (REPLICAS): alone, each takes this share of it. */
  replicas: number;
  /** Told on every change of mode (true: degraded to per-process). */
  onDegraded?: (degraded: boolean) => void;
  /** Other connections to close with this store. */
  also?: readonly { close(): Promise<void> }[];
}

export class ResilientStore implements SharedStore {
  readonly kind = 'redis' as const;
  #degraded = false;

  constructor(private readonly opts: ResilientStoreOptions) {}

  /** Whether the last operation fell back to per-process state. */
  get degraded(): boolean {
    return this.#degraded || !this.opts.redis.ready;
  }

  claim(key: string, ttlMs: number, quota?: ClaimQuota): Promise<ClaimResult> {
    return this.#either(
      key,
      () => this.opts.redis.claim(key, ttlMs, quota),
      () => this.opts.fallback.claim(key, ttlMs, quota),
    );
  }

  takeSlot(key: string, gapMs: number): Promise<number> {
    return this.#either(
      key,
      () => this.opts.redis.takeSlot(key, gapMs),
      // Alone, this replica may use only its share of the budget.
      () => this.opts.fallback.takeSlot(key, gapMs * this.opts.replicas),
    );
  }

  get(key: string): Promise<string | undefined> {
    return this.#either(
      key,
      () => this.opts.redis.get(key),
      () => this.opts.fallback.get(key),
    );
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    // Small values (the managed token) are kept locally too, so a replica that loses Redis still
    // has the latest it wrote; shared answers (listings, MBs) are not: the local caches hold what
    // this replica needs, within their own bounds. Nor is what only Redis decides: never read here.
    if (value.length <= MIRROR_MAX_CHARS && mayActAlone(key)) void this.opts.fallback.set(key, value, ttlMs);
    return this.#either(
      key,
      () => this.opts.redis.set(key, value, ttlMs),
      () => Promise.resolve(),
    );
  }

  swap(key: string, expected: string | undefined, next: string, ttlMs: number): Promise<SwapResult> {
    return this.#either(
      key,
      async () => {
        const result = await this.opts.redis.swap(key, expected, next, ttlMs);
        // Like set: what this replica wrote is kept locally too, for when Redis goes away.
        if (result.swapped && next.length <= MIRROR_MAX_CHARS && mayActAlone(key)) void this.opts.fallback.set(key, next, ttlMs);
        return result;
      },
      () => this.opts.fallback.swap(key, expected, next, ttlMs),
    );
  }

  lease(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#either(
      key,
      () => this.opts.redis.lease(key, owner, ttlMs),
      () => this.opts.fallback.lease(key, owner, ttlMs),
    );
  }

  release(key: string, owner: string): Promise<void> {
    if (mayActAlone(key)) void this.opts.fallback.release(key, owner);
    return this.#either(
      key,
      () => this.opts.redis.release(key, owner),
      () => Promise.resolve(),
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.opts.redis, ...(this.opts.also ?? [])].map((r) => r.close()));
  }

  /** Redis's answer; while it cannot give one, this replica's own for a key it may act on alone, else StoreUnavailable. */
  async #either<T>(key: string, shared: () => Promise<T>, local: () => Promise<T>): Promise<T> {
    try {
      const v = await shared();
      this.#mode(false);
      return v;
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      this.#mode(true);
      if (!mayActAlone(key)) throw err;
      return local();
    }
  }

  #mode(degraded: boolean): void {
    if (degraded === this.#degraded) return;
    this.#degraded = degraded;
    this.opts.onDegraded?.(degraded);
  }
}
