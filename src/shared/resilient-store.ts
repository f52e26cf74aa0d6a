/**
 * Shared state that never fails a request because Redis is down: each operation goes to
 * Redis while it answers, and to this process's own memory when it does not — codes and
 * `jti`s stay single-use per replica, the rate budget is divided by the configured number of
 * replicas (so together they still stay under Nextech's limit), the managed token is kept per
 * replica. The switch is per operation: when Redis is back, the next operation uses it again.
 * `degraded` says which mode the last operation ran in, for readiness and metrics.
 */
import type { MemoryStore } from './memory-store.ts';
import type { RedisStore } from './redis-store.ts';
import { isExclusive } from './namespaces.ts';
import { StoreUnavailable, type ClaimResult, type SharedStore, type SwapResult } from './store.ts';

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

  claim(key: string, ttlMs: number): Promise<ClaimResult> {
    return this.#either(
      () => this.opts.redis.claim(key, ttlMs),
      () => this.opts.fallback.claim(key, ttlMs),
    );
  }

  takeSlot(key: string, gapMs: number): Promise<number> {
    return this.#either(
      () => this.opts.redis.takeSlot(key, gapMs),
      // Alone, this replica may use only its share of the budget.
      () => this.opts.fallback.takeSlot(key, gapMs * this.opts.replicas),
    );
  }

  get(key: string): Promise<string | undefined> {
    return this.#either(
      () => this.opts.redis.get(key),
      () => this.opts.fallback.get(key),
    );
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    // Small values (the managed token, sign-ins) are kept locally too, so a replica that loses
    // Redis still has the latest it wrote; shared answers (listings, MBs) are not: the local
    // caches hold what this replica needs, within their own bounds.
    if (value.length <= MIRROR_MAX_CHARS) void this.opts.fallback.set(key, value, ttlMs);
    return this.#either(
      () => this.opts.redis.set(key, value, ttlMs),
      () => Promise.resolve(),
    );
  }

  swap(key: string, expected: string | undefined, next: string, ttlMs: number): Promise<SwapResult> {
    return this.#either(
      async () => {
        const result = await this.opts.redis.swap(key, expected, next, ttlMs);
        // Like set: what this replica wrote is kept locally too, for when Redis goes away.
        if (result.swapped && next.length <= MIRROR_MAX_CHARS) void this.opts.fallback.set(key, next, ttlMs);
        return result;
      },
      // Alone, the swap is atomic within this replica (as claims are single-use per replica).
      () => this.opts.fallback.swap(key, expected, next, ttlMs),
    );
  }

  lease(key: string, owner: string, ttlMs: number): Promise<boolean> {
    // An exclusive lease is Redis's or nobody's (namespaces.ts): the caller waits for Redis.
    if (isExclusive(key)) return this.opts.redis.lease(key, owner, ttlMs);
    return this.#either(
      () => this.opts.redis.lease(key, owner, ttlMs),
      () => this.opts.fallback.lease(key, owner, ttlMs),
    );
  }

  release(key: string, owner: string): Promise<void> {
    void this.opts.fallback.release(key, owner);
    return this.#either(
      () => this.opts.redis.release(key, owner),
      () => Promise.resolve(),
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.opts.redis, ...(this.opts.also ?? [])].map((r) => r.close()));
  }

  async #either<T>(shared: () => Promise<T>, local: () => Promise<T>): Promise<T> {
    try {
      const v = await shared();
      this.#mode(false);
      return v;
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      this.#mode(true);
      return local();
    }
  }

  #mode(degraded: boolean): void {
    if (degraded === this.#degraded) return;
    this.#degraded = degraded;
    this.opts.onDegraded?.(degraded);
  }
}
