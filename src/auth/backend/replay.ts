/**
 * The memory of client assertions already used, so that each one authenticates once
 * (SMART client-confidential-asymmetric, "Signature Verification": a `jti` is never
 * accepted twice for a client within the assertion lifetime). Entries are kept until the
 * assertion itself could no longer be accepted, then forgotten.
 *
 * Held in the shared store (src/shared/store.ts): with REDIS_URL, a replay sent to another
 * replica is refused too. In memory the store is bounded and, when full of entries still
 * alive, refuses new ones rather than forgetting any, since forgetting would let a replay through.
 */
import type { SharedStore } from '../../shared/store.ts';

/** What recording an assertion's `jti` found. */
export type SpendResult = 'fresh' | 'replayed' | 'full';

/** The default bound of an in-memory store: far above what legitimate clients send within five minutes. */
export const DEFAULT_REPLAY_CAPACITY = 10_000;

export class ReplayStore {
  constructor(private readonly store: SharedStore) {}

  /**
   * Records `jti` for `clientId`, kept until `keepUntil` (epoch seconds). Resolves 'fresh' the
   * first time, 'replayed' while an earlier record lives, and 'full' (recording nothing)
   * when a bounded store holds only live entries.
   */
  async spend(clientId: string, jti: string, keepUntil: number, nowSeconds: number): Promise<SpendResult> {
    // JSON of the pair: no choice of separator can make two pairs collide.
    const key = `backend-jti:${JSON.stringify([clientId, jti])}`;
    const claimed = await this.store.claim(key, Math.max(1, keepUntil - nowSeconds + 1) * 1000);
    return claimed === 'taken' ? 'replayed' : claimed;
  }
}
