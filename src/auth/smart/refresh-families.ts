/**
 * Refresh token rotation with reuse detection (RFC 9700 §4.14.2): per sign-in, the one
 * refresh token that may be used next. Presenting an older one — a stolen copy, or a replay —
 * revokes the whole sign-in: its refresh and access tokens stop working.
 *
 * Held in the shared store (src/shared/store.ts): with REDIS_URL every replica knows every
 * sign-in's latest token and its revocation; without it, this process (or the cluster's
 * primary) does. A sign-in the store does not remember (forgotten when a bounded memory was
 * full, or after Redis lost it) is taken on trust. This replica also remembers the
 * revocations it made itself, so its own check needs no round trip.
 *
 * Every change of a sign-in's record is a compare-and-set (`swap`), never a read then a write:
 * of two replays of one token at two replicas at the same instant exactly one spends it and
 * the other revokes the sign-in, and neither a rotation nor a token given back can undo a
 * revocation another replica made meanwhile.
 */
import { randomUUID } from 'node:crypto';
import { BoundedMemory } from '../bounded-memory.ts';
import { OAuthError } from '../oauth-error.ts';
import type { SharedStore } from '../../shared/store.ts';

const REVOKED = 'revoked';
/**
 * Attempts at rotating a sign-in's record: two suffice (the first expects no record, the second
 * the spent mark it found); more means other requests keep writing the same sign-in.
 */
const ROTATE_ATTEMPTS = 4;

/** What a refresh token says about its place in its sign-in's family. */
export interface RefreshLink {
  sid?: string;
  rjti?: string;
  /** Its expiry, epoch seconds. */
  exp?: number;
}

const keyOf = (sid: string) => `smart-sign-in:${sid}`;
/** The record of a sign-in whose token `rjti` is being renewed: no token of it may be spent now. */
const spentOf = (rjti: string) => `spent:${rjti}`;
const reused = () => new OAuthError('invalid_grant', 'this refresh token was already used; the session is revoked, log in again');

export class RefreshFamilies {
  /** Sign-ins this replica revoked, for the synchronous check of every access token. */
  readonly #revokedHere: BoundedMemory<true>;

  constructor(
    private readonly store: SharedStore,
    max: number,
    private readonly now: () => number,
    /** How long a revoked sign-in is remembered (the longest refresh token lifetime). */
    private readonly revokedForMs: number,
  ) {
    this.#revokedHere = new BoundedMemory(max, 'evict', now);
  }

  /**
   * A fresh refresh token id for the sign-in, now the only one it may use next. Throws
   * invalid_grant when the sign-in was revoked meanwhile (a replay at another replica while
   * this one renewed it): the revocation stands; and when other requests keep rewriting its
   * record, so that no attempt lands.
   */
  async issue(sid: string | undefined, ttlSeconds: number): Promise<string> {
    const rjti = randomUUID();
    if (sid === undefined) return rjti;
    // A new sign-in has no record yet; a renewed one holds the spent mark of its last token.
    // Whatever it holds, short of a revocation, this token replaces it.
    let expected: string | undefined;
    for (let i = 0; i < ROTATE_ATTEMPTS; i++) {
      const r = await this.store.swap(keyOf(sid), expected, rjti, ttlSeconds * 1000);
      if (r.swapped) return rjti;
      if (r.found === REVOKED) throw reused();
      expected = r.found;
    }
    // Not "retry": the app's refresh token is already spent, and presenting it again would
    // revoke the sign-in as a replay. The session changed under this renewal; log in again.
    throw new OAuthError('invalid_grant', 'the session changed while it was being renewed; log in again');
  }

  /** Spends a refresh token; throws invalid_grant (and revokes the sign-in) when a newer one exists or it was revoked. */
  async spend(old: RefreshLink): Promise<void> {
    if (old.sid === undefined || old.rjti === undefined) return;
    const key = keyOf(old.sid);
    const ttl = this.#ttl(old);
    let r = await this.store.swap(key, old.rjti, spentOf(old.rjti), ttl);
    // A sign-in the store does not remember is taken on trust: the first spend of it wins.
    if (!r.swapped && r.found === undefined) r = await this.store.swap(key, undefined, spentOf(old.rjti), ttl);
    if (r.swapped) return;
    await this.#revoke(old.sid);
    throw reused();
  }

  /** Gives a spent refresh token back (the renewal failed for a passing reason), so the app can retry with it. */
  async restore(old: RefreshLink): Promise<void> {
    // Only over its own spent mark: a revocation made meanwhile stands.
    if (old.sid !== undefined && old.rjti !== undefined) await this.store.swap(keyOf(old.sid), spentOf(old.rjti), old.rjti, this.#ttl(old));
  }

  /** Whether this replica itself revoked the sign-in (synchronous: checked on every access token). */
  revokedHere(sid: string | undefined): boolean {
    return sid !== undefined && this.#revokedHere.has(sid);
  }

  /** Whether any replica revoked the sign-in. */
  async revoked(sid: string | undefined): Promise<boolean> {
    if (sid === undefined) return false;
    if (this.#revokedHere.has(sid)) return true;
    return (await this.store.get(keyOf(sid))) === REVOKED;
  }

  async #revoke(sid: string): Promise<void> {
    this.#revokedHere.set(sid, true, this.now() + this.revokedForMs);
    await this.store.set(keyOf(sid), REVOKED, this.revokedForMs);
  }

  #ttl(old: RefreshLink): number {
    return Math.max(1000, (old.exp ?? 0) * 1000 - this.now());
  }
}
