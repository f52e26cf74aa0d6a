/**
 * Upstream failures as typed errors, and their translation into FHIR responses. The source
 * layer's own: the adapter (nextech/) throws them, and the layers above catch them from here
 * without knowing the adapter. The upstream body is never copied into an outcome: it may
 * carry patient data or tokens.
 */
import { FhirError, outcome } from '../fhir/outcome.ts';

export type UpstreamFailure =
  | { kind: 'rejected'; status: 400 }
  | { kind: 'unauthorized'; status: 401 }
  | { kind: 'forbidden'; status: 403 }
  | { kind: 'not-found'; status: 404 }
  | { kind: 'rate-limited'; status: 429; retryAfterSeconds?: number }
  | { kind: 'server-error'; status: number }
  | { kind: 'timeout' }
  | { kind: 'connection' }
  | { kind: 'bad-response'; detail: string }
  | { kind: 'credentials'; detail: string }
  /** Our own breaker: Nextech failed repeatedly; calls fail fast for a while. */
  | { kind: 'circuit-open'; retryAfterSeconds: number }
  /** Our own rate budget: this caller's share of Nextech's limit is used up for now. */
  | { kind: 'budget'; retryAfterSeconds: number }
  /** Our own document memory budget: no room for this body came within the bounded wait. */
  | { kind: 'memory'; retryAfterSeconds: number };

/** A failed call to Nextech. `endpoint` is the logical name (never a URL with values). */
export class UpstreamError extends Error {
  constructor(
    readonly failure: UpstreamFailure,
    readonly endpoint: string,
  ) {
    super(`Nextech ${endpoint}: ${failure.kind}`);
    this.name = 'UpstreamError';
  }
}

/** Translates an upstream failure into the FHIR error the caller sees. */
export function toFhirError(err: UpstreamError): FhirError {
  const f = err.failure;
  switch (f.kind) {
    case 'rejected':
      return new FhirError(400, outcome('error', 'invalid', 'The Nextech API rejected the request as invalid'));
    case 'unauthorized':
      return new FhirError(401, outcome('error', 'login', 'The Nextech API did not accept the access token'), {
        'WWW-Authenticate': 'Bearer error="invalid_token"',
      });
    case 'forbidden':
      return new FhirError(403, outcome('error', 'forbidden', 'The Nextech API refused access to this practice'));
    case 'not-found':
      return new FhirError(404, outcome('error', 'not-found', 'The Nextech API has no such record'));
    case 'rate-limited':
      return new FhirError(
        429,
        outcome('error', 'throttled', 'The Nextech API rate limit was reached; retry later'),
        f.retryAfterSeconds !== undefined ? { 'Retry-After': String(f.retryAfterSeconds) } : {},
      );
    case 'server-error':
      return new FhirError(502, outcome('error', 'transient', `The Nextech API failed (HTTP ${f.status})`));
    case 'timeout':
      return new FhirError(504, outcome('error', 'timeout', 'The Nextech API did not answer in time'));
    case 'connection':
      return new FhirError(502, outcome('error', 'transient', 'The Nextech API could not be reached'));
    case 'bad-response':
      return new FhirError(502, outcome('error', 'exception', 'The Nextech API returned a response that could not be understood'));
    case 'circuit-open':
      return new FhirError(503, outcome('error', 'transient', 'The Nextech API is failing; requests are paused briefly'), {
        'Retry-After': String(f.retryAfterSeconds),
      });
    case 'budget':
      return new FhirError(429, outcome('error', 'throttled', 'Too many requests to the Nextech API for this caller; retry later'), {
        'Retry-After': String(f.retryAfterSeconds),
      });
    case 'memory':
      return new FhirError(503, outcome('error', 'transient', 'The service is at its memory limit for documents; retry shortly'), {
        'Retry-After': String(f.retryAfterSeconds),
      });
    case 'credentials':
      return new FhirError(503, outcome('error', 'security', 'The service cannot obtain a Nextech access token; its credentials need renewing'), {
        'Retry-After': '60',
      });
  }
}
