/**
 * Managed credentials: the service holds a Nextech refresh token and keeps a valid access
 * token. It refreshes ahead of expiry, runs one refresh at a time however many requests
 * wait on it, keeps each rotated refresh token, and after a failed refresh waits a cool-off
 * before trying again rather than hammering the token endpoint.
 */
import type { Dispatcher } from 'undici';
import type { ManagedCredentials } from '../config.ts';
import type { ManagedCredentials as ManagedTokenSource } from '../source/nextech/client.ts';
import { UpstreamError } from '../source/nextech/errors.ts';
import { NextechOAuthError, refreshGrant, type NextechTokens } from './nextech-oauth.ts';

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
}

export type ManagedState = 'empty' | 'valid' | 'failed';

export class ManagedToken implements ManagedTokenSource {
  #access?: { token: string; expiresAt: number; refreshAt: number };
  #refreshToken: string;
  #inflight?: Promise<string>;
  #failedUntil = 0;
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
    this.#inflight = this.#doRefresh().finally(() => {
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
