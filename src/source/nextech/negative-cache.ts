/**
 * A short memory of record failures (see breaker.ts): for a few seconds, a repeat of a call
 * for a patient's record whose URL Nextech answered with HTTP 500 (or another non-gateway
 * 5xx) or with a body we cannot use (not JSON, not the schema, too large) gets the same
 * failure again without an upstream call, so a client retrying one broken record in a loop
 * cannot spend the practice's rate budget, or Nextech's time, on it.
 *
 * Only endpoints whose URL names one patient's record (the encounter listing, CCDs of
 * several MB): that is where one broken record costs. A patient search is a small list for a
 * caller-chosen term, answered again as asked.
 *
 * Only record failures are kept. Not 4xx: 401 and 403 depend on the token and its consent,
 * which change (a refresh, a re-authentication); 404 may become a record a moment later; a
 * 429 carries its own Retry-After, which the caller must see counted down, not frozen; a 400
 * is answered quickly and costs Nextech little. Not health failures (timeouts, connection
 * errors, 502/503/504): they are retried and judged by the circuit breaker.
 *
 * Keyed by a hash of (practice, caller, URL), so one caller's failure is never served to
 * another and no id, term or token is held. Bounded: at most `maxEntries`, least recently
 * set first out; expired entries go on read. Entries are made only from Nextech's answers.
 */
import { createHash } from 'node:crypto';
import type { UpstreamFailure } from '../errors.ts';
import { ExpiringMap } from '../expiring-map.ts';
import { nextechPaths } from './paths.ts';

export interface NegativeCacheOptions {
  /** How long a failure is answered from memory (default 10 s). */
  ttlMs?: number;
  /** Entries held at most (default 1,000). */
  maxEntries?: number;
  now?: () => number;
}

const DEFAULT_TTL_MS = 10_000;
const DEFAULT_MAX_ENTRIES = 1_000;
/** Endpoints whose record failures are remembered. */
const RECORD_ENDPOINTS: ReadonlySet<string> = new Set([nextechPaths.searchEncounters.name]);

export class NegativeCache {
  readonly #failures: ExpiringMap<UpstreamFailure>;

  constructor(private readonly opts: NegativeCacheOptions = {}) {
    this.#failures = new ExpiringMap(opts.maxEntries ?? DEFAULT_MAX_ENTRIES, opts.now ?? Date.now);
  }

  /** The failure remembered for this call, if it is still fresh. */
  get(practiceId: string, callerKey: string, url: URL): UpstreamFailure | undefined {
    return this.#failures.get(this.#key(practiceId, callerKey, url));
  }

  /** Remembers a record failure of this call to `endpoint` for the TTL (if it names a record). */
  set(endpoint: string, practiceId: string, callerKey: string, url: URL, failure: UpstreamFailure): void {
    if (!RECORD_ENDPOINTS.has(endpoint)) return;
    this.#failures.set(this.#key(practiceId, callerKey, url), failure, this.opts.ttlMs ?? DEFAULT_TTL_MS);
  }

  #key(practiceId: string, callerKey: string, url: URL): string {
    return createHash('sha256').update(`${practiceId}\u0000${callerKey}\u0000${url.href}`).digest('base64url').slice(0, 22);
  }
}
