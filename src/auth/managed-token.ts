/**
 * Managed credentials: the service holds a Nextech refresh token and keeps a valid access
 * token. It refreshes ahead of expiry, runs one refresh at a time however many requests
 * wait on it, keeps each rotated refresh token, and after a failed refresh waits a cool-off
 * before trying again rather than hammering the token endpoint.
 */
import type { Dispatcher } from 'undici';
import type { ManagedCredentials } from '../config.ts';
import type { ManagedCredentials as ManagedTokenSource } from '../source/call.ts';
import { UpstreamError } from '../source/errors.ts';
import { NextechOAuthError, refreshGrant, type NextechTokens } from './nextech-oauth.ts';
import type { SharedStore } from '../shared/store.ts';

export interface ManagedTokenOptions {
  /** The refresh token to start from is `credentials.refreshToken`. */
  credentials: ManagedCredentials & { refreshToken: string };
  dispatcher?: Dispatcher;
  timeoutMs: number;
  now?: () => number;
  /** Called with every rotated refresh token so it can be persisted. */
  onRotate?: (refreshToken: string) => void;
  /** Wait after a failed refresh before another attempt. */
  coolOffMs?: number;
  /** Observes each refresh ('ok' or 'failed'), for metrics. */
  onRefresh?: (result: 'ok' | 'failed') => void;
  /**
   * With several replicas: the token they share. The latest access token and refresh token
   * live in `store` (sealed: they are credentials); a replica whose token is due first looks
   * there, and only the one holding the refresh lease asks Nextech — so each expiry causes
   * one refresh in all, and every replica uses the rotated refresh token.
   */
  shared?: SharedToken;
}

export interface SharedToken {
  store: SharedStore;
  /** Seals/opens the shared record (AES-GCM under SHARED_STATE_KEY). */
  seal(json: Record<string, unknown>, ttlSeconds: number): string;
  open(sealed: string): Record<string, unknown> | undefined;
  /** This replica's name for the lease. */
  owner: string;
}

const SHARED_KEY = 'managed-token';
const LEASE_KEY = 'managed-token:refreshing';
/** How often a replica waiting on another's refresh looks for its result. */
const POLL_MS = 50;

interface SharedRecord {
  token: string;
  expiresAt: number;
  refreshAt: number;
  refreshToken: string;
}

export type ManagedState = 'empty' | 'valid' | 'failed';

export class ManagedToken implements ManagedTokenSource {
  #access?: { token: string; expiresAt: number; refreshAt: number };
  #refreshToken: string;
  #inflight?: Promise<string>;
  #failedUntil = 0;
  /** The last access token Nextech refused: never taken from the shared record again. */
  #refused?: string;
  #state: ManagedState = 'empty';
  /** How many refreshes were made (observable in tests and metrics). */
  refreshCount = 0;

  constructor(private readonly opts: ManagedTokenOptions) {
    this.#refreshToken = opts.credentials.refreshToken;
  }

  get state(): ManagedState {
    return this.#state;
  }

  token(): Promise<string> {
    const now = this.#now();
    if (this.#access && now < this.#access.refreshAt) return Promise.resolve(this.#access.token);
    // Still valid but due for refresh: refresh now, but a failure must not fail the request.
    return this.#refresh().catch((err: unknown) => {
      if (this.#access && now < this.#access.expiresAt) return this.#access.token;
      throw err;
    });
  }

  /**
   * Nextech refused `token`. If it is already replaced (a late 401 from before a refresh),
   * retry with the current one; otherwise refresh once. A failed refresh throws the
   * credentials error (503): the caller never sent a token, so a 401 would mislead it.
   */
  async rejected(token: string): Promise<boolean> {
    if (this.#inflight) {
      await this.#inflight;
      return true;
    }
    if (this.#access && this.#access.token !== token && this.#now() < this.#access.expiresAt) return true;
    this.#refused = token;
    if (this.#access?.token === token) this.#access = undefined;
    await this.#refresh();
    return true;
  }

  /** A 401 even after a fresh token: the credentials themselves are not accepted. */
  unauthorizedError(): UpstreamError {
    return new UpstreamError({ kind: 'credentials', detail: 'Nextech refused a fresh access token' }, 'token');
  }

  #now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  #refresh(): Promise<string> {
    if (this.#inflight) return this.#inflight;
    if (this.#now() < this.#failedUntil) {
      return Promise.reject(new UpstreamError({ kind: 'credentials', detail: 'cooling off' }, 'token'));
    }
    const work = this.opts.shared ? this.#sharedRefresh(this.opts.shared) : this.#doRefresh();
    this.#inflight = work.finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #doRefresh(): Promise<string> {
    const c = this.opts.credentials;
    let tokens: NextechTokens;
    try {
      tokens = await refreshGrant(
        {
          tokenUrl: c.tokenUrl,
          clientId: c.clientId,
          ...(c.clientSecret ? { clientSecret: c.clientSecret } : {}),
          ...(c.resource ? { resource: c.resource } : {}),
          timeoutMs: this.opts.timeoutMs,
          ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
        },
        this.#refreshToken,
      );
    } catch (err) {
      this.#fail();
      const why = err instanceof NextechOAuthError ? err.reason : 'failed';
      throw new UpstreamError({ kind: 'credentials', detail: `token endpoint: ${why}` }, 'token');
    }
    this.#accept(tokens);
    return tokens.accessToken;
  }

  /**
   * Refresh with the other replicas: take a newer token another replica already got, or hold
   * the lease and refresh (with the latest rotated refresh token) and publish the result, or
   * wait for the holder's result. The store falls back to this replica alone when Redis is
   * down (src/shared/resilient-store.ts), so this never waits on Redis.
   */
  async #sharedRefresh(shared: SharedToken): Promise<string> {
    const deadline = this.#now() + this.opts.timeoutMs * 2;
    for (;;) {
      const record = await this.#readShared(shared);
      if (record) {
        if (this.#usable(record)) return this.#adopt(record);
        // Whatever else: refresh from the latest rotation, never from one already replaced —
        // and never go back to an older one (Redis may have missed a write while unavailable).
        if (this.#notOlder(record)) this.#refreshToken = record.refreshToken;
      }
      if (await shared.store.lease(LEASE_KEY, shared.owner, this.opts.timeoutMs + 5_000)) {
        try {
          const again = await this.#readShared(shared);
          if (again && this.#usable(again)) return this.#adopt(again);
          if (again && this.#notOlder(again)) this.#refreshToken = again.refreshToken;
          const token = await this.#doRefresh();
          await this.#writeShared(shared);
          return token;
        } finally {
          await shared.store.release(LEASE_KEY, shared.owner).catch(() => undefined);
        }
      }
      if (this.#now() > deadline) throw new UpstreamError({ kind: 'credentials', detail: 'another replica is still refreshing' }, 'token');
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** A shared token this replica may use: not the one it holds or Nextech refused, and not due. */
  #usable(r: SharedRecord): boolean {
    return r.token !== this.#access?.token && r.token !== this.#refused && this.#now() < r.refreshAt;
  }

  /** Whether a shared record is at least as recent as the token this replica holds (later expiry: a later refresh). */
  #notOlder(r: SharedRecord): boolean {
    return r.expiresAt >= (this.#access?.expiresAt ?? 0);
  }

  #adopt(r: SharedRecord): string {
    this.#access = { token: r.token, expiresAt: r.expiresAt, refreshAt: r.refreshAt };
    this.#refreshToken = r.refreshToken;
    this.#state = 'valid';
    return r.token;
  }

  async #readShared(shared: SharedToken): Promise<SharedRecord | undefined> {
    const sealed = await shared.store.get(SHARED_KEY);
    const r = sealed === undefined ? undefined : shared.open(sealed);
    return r && typeof r.token === 'string' && typeof r.refreshToken === 'string' && typeof r.expiresAt === 'number' && typeof r.refreshAt === 'number'
      ? { token: r.token, refreshToken: r.refreshToken, expiresAt: r.expiresAt, refreshAt: r.refreshAt }
      : undefined;
  }

  async #writeShared(shared: SharedToken): Promise<void> {
    const a = this.#access;
    if (!a) return;
    // Kept as long as the refresh token may matter (Nextech's are long-lived): a day past the access token.
    const ttlSeconds = Math.max(1, Math.ceil((a.expiresAt - this.#now()) / 1000)) + 86_400;
    const record: SharedRecord = { token: a.token, expiresAt: a.expiresAt, refreshAt: a.refreshAt, refreshToken: this.#refreshToken };
    await shared.store.set(SHARED_KEY, shared.seal({ ...record }, ttlSeconds), ttlSeconds * 1000);
  }

  #accept(t: NextechTokens): void {
    const now = this.#now();
    const lifetimeMs = t.expiresIn * 1000;
    // Refresh when 10% of the lifetime (at least 30 s, at most 5 min) remains.
    const margin = Math.min(300_000, Math.max(30_000, lifetimeMs * 0.1));
    this.#access = { token: t.accessToken, expiresAt: now + lifetimeMs, refreshAt: now + Math.max(0, lifetimeMs - margin) };
    this.refreshCount++;
    this.#state = 'valid';
    this.opts.onRefresh?.('ok');
    if (t.refreshToken && t.refreshToken !== this.#refreshToken) {
      this.#refreshToken = t.refreshToken;
      this.opts.onRotate?.(t.refreshToken);
    }
  }

  #fail(): void {
    this.opts.onRefresh?.('failed');
    this.#state = 'failed';
    this.#failedUntil = this.#now() + (this.opts.coolOffMs ?? 5_000);
  }
}
