/**
 * An OAuth 2.0 error (RFC 6749 §4.1.2.1 for redirects, §5.2 for the token endpoint), raised
 * by the authorization servers (SMART App Launch, Backend Services) and answered as OAuth
 * JSON — never as an OperationOutcome or a 500.
 */
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
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}
