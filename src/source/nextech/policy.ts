/**
 * The upstream policy's settings and the events it reports (for metrics and tests).
 * Defaults suit Nextech's documented limits: 20 requests per second per endpoint, tokens
 * of an hour, and a SaaS API that is sometimes slow.
 */

export interface UpstreamPolicy {
  /** Whole-call deadline, retries and waits included. */
  requestMs: number;
  connectMs: number;
  /** Time to the response headers, per attempt. */
  headersMs: number;
  /** Longest silence while the body arrives, per attempt. */
  bodyMs: number;
  /** Extra attempts for connection errors and 502/503/504. */
  retries: number;
  /** Requests per second per (Nextech credential, endpoint) this service allows itself. */
  ratePerSecond: number;
  breakerThreshold: number;
  breakerCoolOffMs: number;
}

export const DEFAULT_POLICY: UpstreamPolicy = {
  requestMs: 30_000,
  connectMs: 5_000,
  headersMs: 20_000,
  bodyMs: 20_000,
  retries: 2,
  ratePerSecond: 20,
  breakerThreshold: 5,
  breakerCoolOffMs: 30_000,
};

/** What the client reports; every method optional. Labels are endpoint names, never values. */
export interface UpstreamObserver {
  attempt?(endpoint: string, outcome: string, ms: number): void;
  retry?(endpoint: string, reason: string): void;
  rateLimited?(endpoint: string): void;
  budgetWait?(endpoint: string): void;
  /** A call refused by the rate budget (its caller's queue full, or the wait too long): a 429 of ours. */
  budgetRefused?(endpoint: string): void;
  coalesced?(endpoint: string): void;
  breaker?(endpoint: string, state: 'closed' | 'open' | 'half-open'): void;
}
