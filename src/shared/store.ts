/**
 * State the replicas of the service share (issue 11): with `REDIS_URL`, in Redis; without it,
 * in this process (or, with WORKERS > 1, in the cluster's primary). Everything that must hold
 * across replicas goes through this interface:
 * - single-use values (SMART authorization codes, Backend Services assertion `jti`s): `claim`,
 *   each registered client within its own share (`ClaimQuota`), so one client's flood fills
 *   only its own;
 * - the upstream rate budget per Nextech credential and endpoint: `takeSlot`, a paced ledger
 *   (GCRA: one request per `gapMs`, so at most N per window of N × gapMs) on one clock;
 * - the managed Nextech token and its rotated refresh token: `get`/`set`, with a `lease` so
 *   exactly one replica refreshes per expiry;
 * - each SMART sign-in's next refresh token: `swap`, so two replays of one token at two
 *   replicas cannot both pass (reuse detection, RFC 9700 §4.14.2);
 * - with Redis, upstream answers shared within their quotas (`AnswerTier`, shared-answers.ts).
 *
 * Keys are `namespace:rest`, the namespace a constant of the code that names the key
 * (namespaces.ts): a memory store bounds each namespace apart, so one cannot crowd out another.
 *
 * Values that hold secrets are encrypted by their owner before they reach the store.
 */

/** What claiming a single-use value found. */
export type ClaimResult = 'fresh' | 'taken' | 'full';

/**
 * The share of a namespace one owner (a registered client: its id is checked before any claim)
 * may hold: at most `max` live claims. The owner must follow from the key (a code names its
 * client; an assertion key holds its client id), so a key is always counted under one owner.
 */
export interface ClaimQuota {
  owner: string;
  max: number;
}

/** What a compare-and-set found: whether it wrote, and the value it found (undefined: none). */
export interface SwapResult {
  swapped: boolean;
  found: string | undefined;
}

export interface SharedStore {
  /** 'memory' (this process), 'cluster' (the primary's memory), 'redis'. */
  readonly kind: 'memory' | 'cluster' | 'redis';
  /**
   * Records `key` as used for `ttlMs`: 'fresh' the first time, 'taken' while an earlier
   * claim lives, 'full' when a bounded memory — or the owner's share of it (`quota`) — cannot
   * record it (refuse: forgetting would let the value be used twice).
   */
  claim(key: string, ttlMs: number, quota?: ClaimQuota): Promise<ClaimResult>;
  /**
   * Takes the next slot of a paced budget, one request per `gapMs`: 0 when taken now
   * (recorded), else how many ms until a slot frees (nothing recorded).
   */
  takeSlot(key: string, gapMs: number): Promise<number>;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Atomically sets `key` to `next` for `ttlMs` only if it holds `expected` (undefined: only
   * if it holds nothing), in one step no other replica's operation can come between.
   */
  swap(key: string, expected: string | undefined, next: string, ttlMs: number): Promise<SwapResult>;
  /** Takes `key` for `owner` for `ttlMs` if nobody holds it; true when taken (or already held by `owner`). */
  lease(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives `key` back, only if `owner` still holds it. */
  release(key: string, owner: string): Promise<void>;
  close(): Promise<void>;
}

/** An answer's weight and the ledgers it must fit in. */
export interface AnswerQuota {
  /** Its caller's ledger (a keyed hash: no caller is readable in Redis). */
  ledger: string;
  weight: number;
  ledgerMax: number;
  totalMax: number;
}

/** Where shared answers live (a Redis store): reads, and writes that fit their quota. */
export interface AnswerTier {
  get(key: string): Promise<string | undefined>;
  /** Keeps `value` for `ttlMs` only if its weight fits both ledgers; false (nothing kept) when it does not. */
  keepWithin(key: string, value: string, ttlMs: number, quota: AnswerQuota): Promise<boolean>;
}

/**
 * Raised by a store that cannot answer now (Redis down or slow). Stores fall back where a
 * replica alone may decide (namespaces.ts, `mayActAlone`: the rate budget, the managed token);
 * anywhere else it reaches the caller, which refuses for now.
 * Nothing was decided: a Redis store fences such operations (redis-store.ts), so one that timed
 * out does not land later either.
 */
export class StoreUnavailable extends Error {
  constructor(why: string) {
    super(`shared state unavailable: ${why}`);
    this.name = 'StoreUnavailable';
  }
}
