/**
 * Refresh token rotation with reuse detection (RFC 9700 §4.14.2): per sign-in, the one
 * refresh token that may be used next. Presenting an older one — a stolen copy, or a replay —
 * revokes the whole sign-in on this replica: its refresh and access tokens stop working. A
 * sign-in this replica does not remember (after a restart, on another replica, or forgotten
 * when the bounded memory is full) is taken on trust.
 */
import { randomUUID } from 'node:crypto';
import { BoundedMemory } from '../bounded-memory.ts';
import { OAuthError } from '../oauth-error.ts';

const REVOKED = 'revoked';

/** What a refresh token says about its place in its sign-in's family. */
export interface RefreshLink {
  sid?: string;
  rjti?: string;
  /** Its expiry, epoch seconds. */
  exp?: number;
}

export class RefreshFamilies {
  readonly #latest: BoundedMemory<string>;

  constructor(
    max: number,
    private readonly now: () => number,
    /** How long a revoked sign-in is remembered (the longest refresh token lifetime). */
    private readonly revokedForMs: number,
  ) {
    this.#latest = new BoundedMemory(max, 'evict', now);
  }

  /** A fresh refresh token id for the sign-in, now the only one it may use next. */
  issue(sid: string | undefined, ttlSeconds: number): string {
    const rjti = randomUUID();
    if (sid !== undefined) this.#latest.set(sid, rjti, this.now() + ttlSeconds * 1000);
    return rjti;
  }

  /** Spends a refresh token; throws invalid_grant (and revokes the sign-in) when a newer one exists. */
  spend(old: RefreshLink): void {
    if (old.sid === undefined || old.rjti === undefined) return;
    const latest = this.#latest.get(old.sid);
    if (latest !== undefined && latest !== old.rjti) {
      this.#latest.set(old.sid, REVOKED, this.now() + this.revokedForMs);
      throw new OAuthError('invalid_grant', 'this refresh token was already used; the session is revoked, log in again');
    }
    this.#latest.set(old.sid, `spent:${old.rjti}`, (old.exp ?? 0) * 1000);
  }

  /** Gives a spent refresh token back (the renewal failed for a passing reason), so the app can retry with it. */
  restore(old: RefreshLink): void {
    if (old.sid !== undefined && old.rjti !== undefined) this.#latest.set(old.sid, old.rjti, (old.exp ?? 0) * 1000);
  }

  revoked(sid: string | undefined): boolean {
    return sid !== undefined && this.#latest.get(sid) === REVOKED;
  }
}
