/**
 * State the replicas of the service share (issue 11): with `REDIS_URL`, in Redis; without it,
 * in this process (or, with WORKERS > 1, in the cluster's primary). Everything that must hold
 * across replicas goes through this interface:
 * - single-use values (SMART authorization codes, Backend Services assertion `jti`s): `claim`;
 * - the upstream rate budget per Nextech credential and endpoint: `takeSlot`, a paced ledger
 *   (GCRA: one request per `gapMs`, so at most N per window of N × gapMs) on one clock;
 * - the managed Nextech token and its rotated refresh token: `get`/`set`, with a `lease` so
 *   exactly one replica refreshes per expiry.
 *
 * Values that hold secrets are encrypted by their owner before they reach the store.
 */

/** What claiming a single-use value found. */
export type ClaimResult = 'fresh' | 'taken' | 'full';

export interface SharedStore {
  /** 'memory' (this process), 'cluster' (the primary's memory), 'redis'. */
  readonly kind: 'memory' | 'cluster' | 'redis';
  /**
   * Records `key` as used for `ttlMs`: 'fresh' the first time, 'taken' while an earlier
   * claim lives, 'full' when a bounded memory cannot record it (refuse: forgetting would let
   * the value be used twice).
   */
  claim(key: string, ttlMs: number): Promise<ClaimResult>;
  /**
   * Takes the next slot of a paced budget, one request per `gapMs`: 0 when taken now
   * (recorded), else how many ms until a slot frees (nothing recorded).
   */
  takeSlot(key: string, gapMs: number): Promise<number>;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Takes `key` for `owner` for `ttlMs` if nobody holds it; true when taken (or already held by `owner`). */
  lease(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives `key` back, only if `owner` still holds it. */
  release(key: string, owner: string): Promise<void>;
  close(): Promise<void>;
}

/** Raised by a store that cannot answer now (Redis down or slow); callers fall back. */
export class StoreUnavailable extends Error {
  constructor(why: string) {
    super(`shared state unavailable: ${why}`);
    this.name = 'StoreUnavailable';
  }
}
