/**
 * The memory of client assertions already used, so that each one authenticates once
 * (SMART client-confidential-asymmetric, "Signature Verification": a `jti` is never
 * accepted twice for a client within the assertion lifetime). Entries are kept until the
 * assertion itself could no longer be accepted, then forgotten.
 *
 * Bounded: when the store is full of entries still alive it refuses new ones rather than
 * forgetting any, since forgetting would let a replay through. In memory and per replica:
 * behind a load balancer, a replay sent to another replica is not caught (assertions live
 * at most a few minutes).
 */

/** What recording an assertion's `jti` found. */
export type SpendResult = 'fresh' | 'replayed' | 'full';

/** The default bound: far above what legitimate clients send within five minutes. */
export const DEFAULT_REPLAY_CAPACITY = 10_000;

export class ReplayStore {
  /** Key (client and jti) → epoch second until which the entry is kept. */
  readonly #seen = new Map<string, number>();

  constructor(readonly capacity: number = DEFAULT_REPLAY_CAPACITY) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  /** How many entries are held (expired ones may linger until the next sweep). */
  get size(): number {
    return this.#seen.size;
  }

  /**
   * Records `jti` for `clientId`, kept until `keepUntil` (epoch seconds). Returns 'fresh' the
   * first time, 'replayed' while an earlier record lives, and 'full' (recording nothing)
   * when the store holds `capacity` live entries.
   */
  spend(clientId: string, jti: string, keepUntil: number, nowSeconds: number): SpendResult {
    // JSON of the pair: no choice of separator can make two pairs collide.
    const key = JSON.stringify([clientId, jti]);
    const until = this.#seen.get(key);
    if (until !== undefined && until >= nowSeconds) return 'replayed';
    if (until === undefined && this.#seen.size >= this.capacity) {
      this.#sweep(nowSeconds);
      if (this.#seen.size >= this.capacity) return 'full';
    }
    this.#seen.set(key, keepUntil);
    return 'fresh';
  }

  /** Forgets every entry whose time has passed; only under pressure, so spend stays O(1) otherwise. */
  #sweep(nowSeconds: number): void {
    for (const [key, until] of this.#seen) if (until < nowSeconds) this.#seen.delete(key);
  }
}
