/**
 * The memory of client assertions already used, so that each one authenticates once
 * (SMART client-confidential-asymmetric, "Signature Verification": a `jti` is never
 * accepted twice for a client within the assertion lifetime). Entries are kept until the
 * assertion itself could no longer be accepted, then forgotten.
 *
 * Held in the shared store (src/shared/store.ts): with REDIS_URL, a replay sent to another
 * replica is refused too, and while Redis cannot answer nothing is recorded (StoreUnavailable:
 * the token endpoint answers 503) — a replica alone would take a replay for a first use. Each
 * client's assertions fill only its own share (`perClient` live ones), so one client minting
 * assertions as fast as it can is refused (503) while every other client keeps getting tokens;
 * the store refuses new entries rather than forget live ones, since forgetting would let a
 * replay through.
 */
import type { SharedStore } from '../../shared/store.ts';

/** What recording an assertion's `jti` found. */
export type SpendResult = 'fresh' | 'replayed' | 'full';

/** The default bound of an in-memory store: far above what legitimate clients send within five minutes. */
export const DEFAULT_REPLAY_CAPACITY = 10_000;

export class ReplayStore {
  constructor(
    private readonly store: SharedStore,
    /** Live assertions one client may have recorded at once (SINGLE_USE_PER_CLIENT). */
    private readonly perClient: number,
  ) {}

  /**
   * Records `jti` for `clientId`, kept until `keepUntil` (epoch seconds). Resolves 'fresh' the
   * first time, 'replayed' while an earlier record lives, and 'full' (recording nothing)
   * when the client's share, or a bounded store, holds only live entries. Rejects with
   * StoreUnavailable when the shared store cannot decide (nothing recorded).
   */
  async spend(clientId: string, jti: string, keepUntil: number, nowSeconds: number): Promise<SpendResult> {
    // JSON of the pair: no choice of separator can make two pairs collide.
    const key = `backend-jti:${JSON.stringify([clientId, jti])}`;
    const claimed = await this.store.claim(key, Math.max(1, keepUntil - nowSeconds + 1) * 1000, { owner: clientId, max: this.perClient });
    return claimed === 'taken' ? 'replayed' : claimed;
  }
}
