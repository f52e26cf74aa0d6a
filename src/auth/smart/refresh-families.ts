/**
 * Refresh token rotation with reuse detection (RFC 9700 §4.14.2): per sign-in, the one
 * refresh token that may be used next. Presenting an older one — a stolen copy, or a replay —
 * revokes the whole sign-in: its refresh and access tokens stop working.
 *
 * Held in the shared store (src/shared/store.ts): with REDIS_URL every replica knows every
 * sign-in's latest token and its revocation; without it, this process (or the cluster's
 * primary) does. A sign-in the store does not remember (forgotten when a bounded memory was
 * full, or after Redis lost it) is taken on trust. This replica also remembers the
 * revocations it made or learned, so its own check needs no round trip.
 *
 * A refresh token from before rotation names no id of its own: it stands for BEFORE_ROTATION and
 * is spent like any other — its first use, over a sign-in with no record yet, starts the
 * family, and presenting it again is a replay that revokes the sign-in. (Before, each use started
 * the family anew, so such a token could be replayed without limit.)
 *
 * Every change of a sign-in's record is a compare-and-set (`swap`), never a read then a write:
 * a renewal replaces the token it spends by the next one in one step, so of two replays of one
 * token at two replicas at the same instant exactly one renews the sign-in and the other
 * revokes it, and neither a renewal nor a token given back can undo a revocation another
 * replica made meanwhile.
 *
 * While the shared store cannot answer, nothing is decided: the swaps throw StoreUnavailable
 * (the token endpoint answers 503, retry) — a replica alone would take a replay for a first
 * use. A revocation decided while Redis answered but not written before it went away is kept
 * here and written as soon as it is back, so it does not stay this replica's alone.
 */
import { randomUUID } from 'node:crypto';
import { BoundedMemory } from '../bounded-memory.ts';
import { OAuthError } from '../oauth-error.ts';
import { StoreUnavailable, type SharedStore } from '../../shared/store.ts';

const REVOKED = 'revoked';
/**
 * The id a refresh token from before rotation stands for. No record holds it (ids are UUIDs)
 * unless such a token was given back after a failed renewal, for its retry (restore).
 */
const BEFORE_ROTATION = 'before-rotation';
/** Attempts at starting a sign-in's record: more than two means other requests keep writing it. */
const START_ATTEMPTS = 4;

/** What a refresh token says about its place in its sign-in's family. */
export interface RefreshLink {
  sid?: string;
  rjti?: string;
  /** Its expiry, epoch seconds. */
  exp?: number;
}

const keyOf = (sid: string) => `smart-sign-in:${sid}`;
/** The id a refresh token is spent as: its own, or BEFORE_ROTATION for one from before rotation. */
const idOf = (token: RefreshLink) => token.rjti ?? BEFORE_ROTATION;
const reused = () => new OAuthError('invalid_grant', 'this refresh token was already used; the session is revoked, log in again');

export class RefreshFamilies {
  /** Sign-ins this replica revoked or saw revoked, for the synchronous check of every access token. */
  readonly #revokedHere: BoundedMemory<true>;
  /** Revocations decided here that the store has not taken yet: sign-in → until when it matters. */
  readonly #unwritten = new Map<string, number>();
  #writing = false;

  constructor(
    private readonly store: SharedStore,
    private readonly max: number,
    private readonly now: () => number,
    /** How long a revoked sign-in is remembered (the longest refresh token lifetime). */
    private readonly revokedForMs: number,
  ) {
    this.#revokedHere = new BoundedMemory(max, 'evict', now);
  }

  /**
   * The first refresh token id of a new sign-in. Throws invalid_grant when the sign-in was
   * revoked meanwhile, and StoreUnavailable when the store cannot record it.
   */
  async issue(sid: string | undefined, ttlSeconds: number): Promise<string> {
    const rjti = randomUUID();
    if (sid === undefined) return rjti;
    this.#writeRevocations();
    return this.#start(sid, rjti, ttlSeconds);
  }

  /**
   * Spends refresh token `old` and makes a new one the only one its sign-in may use next, in one
   * step; answers the new one's id. Throws invalid_grant (and revokes the sign-in) when `old` is
   * not the sign-in's latest, or the sign-in was revoked; StoreUnavailable when nothing could be
   * decided (nothing was: the same token may be presented again).
   */
  async rotate(old: RefreshLink & { sid: string }, ttlSeconds: number): Promise<string> {
    const next = randomUUID();
    this.#writeRevocations();
    const key = keyOf(old.sid);
    let r = await this.store.swap(key, idOf(old), next, ttlSeconds * 1000);
    // A sign-in the store does not remember is taken on trust: the first renewal of it wins. So is
    // one whose tokens are all from before rotation, once: its first renewal starts the family.
    if (!r.swapped && r.found === undefined) r = await this.store.swap(key, undefined, next, ttlSeconds * 1000);
    if (r.swapped) return next;
    await this.#revoke(old.sid);
    throw reused();
  }

  /**
   * Gives `old` back after its renewal to `next` failed for a passing reason (Nextech
   * unreachable), so the app can retry with it — only over `next`: a revocation made meanwhile
   * stands. Throws StoreUnavailable when it cannot (then `old` stays spent).
   */
  async restore(old: RefreshLink, next: string): Promise<void> {
    if (old.sid !== undefined) await this.store.swap(keyOf(old.sid), next, idOf(old), this.#ttl(old));
  }

  /** Whether this replica revoked the sign-in, or saw it revoked (synchronous: checked on every access token). */
  revokedHere(sid: string | undefined): boolean {
    return sid !== undefined && this.#revokedHere.has(sid);
  }

  /**
   * Whether any replica revoked the sign-in. While the shared store cannot answer, what this
   * replica knows: the revocations it made or saw. Refusing every SMART request instead would
   * take every app down for the outage, for little: no revocation can be decided anywhere then
   * (renewals are refused), so only one made before the outage at another replica can be
   * missed, and it ended that sign-in's renewals — its access tokens, all issued before it,
   * expire at the latest SMART_TOKEN_SECONDS after it, however long the outage lasts.
   */
  async revoked(sid: string | undefined): Promise<boolean> {
    if (sid === undefined) return false;
    this.#writeRevocations();
    if (this.#revokedHere.has(sid)) return true;
    let found: string | undefined;
    try {
      found = await this.store.get(keyOf(sid));
    } catch (err) {
      if (err instanceof StoreUnavailable) return false;
      throw err;
    }
    if (found !== REVOKED) return false;
    // Known here from now on: an outage later does not make this replica forget it.
    this.#revokedHere.set(sid, true, this.now() + this.revokedForMs);
    return true;
  }

  /**
   * Makes `rjti` the one token the sign-in may use next, whatever its record holds short of a
   * revocation (a compare-and-set per attempt: a revocation made meanwhile stands).
   */
  async #start(sid: string, rjti: string, ttlSeconds: number): Promise<string> {
    let expected: string | undefined;
    for (let i = 0; i < START_ATTEMPTS; i++) {
      const r = await this.store.swap(keyOf(sid), expected, rjti, ttlSeconds * 1000);
      if (r.swapped) return rjti;
      if (r.found === REVOKED) throw reused();
      expected = r.found;
    }
    throw new OAuthError('invalid_grant', 'the session changed while it was being started; log in again');
  }

  async #revoke(sid: string): Promise<void> {
    const until = this.now() + this.revokedForMs;
    this.#revokedHere.set(sid, true, until);
    try {
      await this.store.set(keyOf(sid), REVOKED, this.revokedForMs);
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      // Decided on the store's answer, not yet written there: written once it answers again.
      if (this.#unwritten.size >= this.max) this.#unwritten.delete(this.#unwritten.keys().next().value ?? '');
      this.#unwritten.set(sid, until);
    }
  }

  /** Writes the revocations the store could not take when they were made (one pass at a time). */
  #writeRevocations(): void {
    if (this.#writing || this.#unwritten.size === 0) return;
    this.#writing = true;
    void (async () => {
      try {
        for (const [sid, until] of this.#unwritten) {
          const left = until - this.now();
          if (left > 0) await this.store.set(keyOf(sid), REVOKED, left);
          this.#unwritten.delete(sid);
        }
      } catch {
        // Still unavailable: the next call tries again.
      } finally {
        this.#writing = false;
      }
    })();
  }

  #ttl(old: RefreshLink): number {
    return Math.max(1000, (old.exp ?? 0) * 1000 - this.now());
  }
}
