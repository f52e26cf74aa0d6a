/**
 * An OAuth 2.0 error (RFC 6749 §4.1.2.1 for redirects, §5.2 for the token endpoint), raised
 * by the authorization servers (SMART App Launch, Backend Services) and answered as OAuth
 * JSON — never as an OperationOutcome or a 500.
 */
import { StoreUnavailable } from '../shared/store.ts';

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'access_denied'
  | 'temporarily_unavailable'
  | 'server_error';

export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly status = 400,
    /** Seconds after which a retry may succeed (a 503): sent as `Retry-After` (RFC 9110 §10.2.3). */
    readonly retryAfterSeconds?: number,
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}

/** Seconds a client is asked to wait while the shared state cannot decide. */
export const SHARED_STATE_RETRY_SECONDS = 5;

/**
 * The shared state cannot decide whether a code, refresh token or client assertion was already
 * used (Redis unavailable), and nothing was recorded: the same request may succeed on a retry.
 * RFC 6749 defines `temporarily_unavailable` for the authorization endpoint's redirects only
 * because a redirect cannot carry a 503 (§4.1.2.1); at the token endpoint the 503 itself, with
 * `Retry-After`, is the retryable signal, and the same error code names the reason (as the
 * token endpoint already answers when Nextech cannot be reached).
 */
export const cannotDecideNow = (what: string) =>
  new OAuthError('temporarily_unavailable', `${what} cannot be checked for a moment (shared state unavailable); retry shortly`, 503, SHARED_STATE_RETRY_SECONDS);

/**
 * Runs a decision only the shared state can make (spending a code, a refresh token, an
 * assertion); when the shared state cannot answer, throws `refusal()` instead (most often
 * cannotDecideNow) — never StoreUnavailable itself, which would be a 500.
 */
export async function sharedDecision<T>(decide: () => Promise<T>, refusal: () => OAuthError): Promise<T> {
  try {
    return await decide();
  } catch (err) {
    if (err instanceof StoreUnavailable) throw refusal();
    throw err;
  }
}
