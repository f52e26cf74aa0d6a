/**
 * Calls to Nextech's OAuth token endpoint: exchanging an authorization code (the SMART
 * broker, `npm run login`) and refreshing (the SMART broker, the service's managed token).
 * Only the fields needed are parsed; of an error body only the RFC 6749 `error` code and
 * description are kept, for the login CLI to show once it has blanked any echoed secret.
 */
import { request, type Dispatcher } from 'undici';
import { z } from 'zod';

export interface NextechOAuthClient {
  tokenUrl: string;
  clientId: string;
  clientSecret?: string;
  resource?: string;
  timeoutMs: number;
  dispatcher?: Dispatcher;
}

export interface NextechTokens {
  accessToken: string;
  refreshToken?: string;
  /** Lifetime in seconds, as Nextech gave it (an hour when it gave none). */
  expiresIn: number;
}

const TokenResponse = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.coerce.number().positive().optional(),
});

export type OAuthFailure = 'refused' | 'unavailable' | 'timeout' | 'cancelled' | 'incomplete';

export interface OAuthFailureDetails {
  /** HTTP status of the refusal. */
  status?: number;
  /** RFC 6749 §5.2 `error` and `error_description`, when the endpoint sent them. */
  error?: string;
  description?: string;
  /** The network error, when the endpoint could not be reached. */
  cause?: unknown;
}

/**
 * Why Nextech would not issue tokens: `refused` (a bad code or refresh token), `unavailable`
 * (unreachable or 5xx), `timeout`, `cancelled` (the caller's signal), or `incomplete` (200
 * without what was needed).
 */
export class NextechOAuthError extends Error {
  constructor(
    readonly reason: OAuthFailure,
    readonly details: OAuthFailureDetails = {},
  ) {
    super(`Nextech token endpoint: ${reason}`);
    this.name = 'NextechOAuthError';
  }
}

const OAuthErrorBody = z.object({
  error: z.string().regex(/^[\w.-]{1,64}$/).optional().catch(undefined),
  error_description: z.string().optional().catch(undefined),
});

async function tokenRequest(client: NextechOAuthClient, fields: Record<string, string>, signal?: AbortSignal): Promise<NextechTokens> {
  const form = new URLSearchParams({ ...fields, client_id: client.clientId });
  if (client.clientSecret) form.set('client_secret', client.clientSecret);
  if (client.resource) form.set('resource', client.resource);
  let status: number;
  let body: unknown;
  const timeout = AbortSignal.timeout(client.timeoutMs);
  try {
    const res = await request(client.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      ...(client.dispatcher ? { dispatcher: client.dispatcher } : {}),
    });
    status = res.statusCode;
    body = await res.body.json().catch(() => undefined);
  } catch (cause) {
    if (timeout.aborted) throw new NextechOAuthError('timeout');
    if (signal?.aborted) throw new NextechOAuthError('cancelled');
    throw new NextechOAuthError('unavailable', { cause });
  }
  if (status >= 500) throw new NextechOAuthError('unavailable', { status });
  if (status !== 200) {
    const e = OAuthErrorBody.safeParse(body);
    const { error, error_description: description } = e.success ? e.data : {};
    throw new NextechOAuthError('refused', { status, ...(error ? { error } : {}), ...(description ? { description } : {}) });
  }
  const parsed = TokenResponse.safeParse(body);
  if (!parsed.success) throw new NextechOAuthError('incomplete', { status });
  return {
    accessToken: parsed.data.access_token,
    ...(parsed.data.refresh_token ? { refreshToken: parsed.data.refresh_token } : {}),
    expiresIn: parsed.data.expires_in ?? 3600,
  };
}

export function exchangeCode(client: NextechOAuthClient, code: string, redirectUri: string, signal?: AbortSignal): Promise<NextechTokens> {
  return tokenRequest(client, { grant_type: 'authorization_code', code, redirect_uri: redirectUri }, signal);
}

export function refreshGrant(client: NextechOAuthClient, refreshToken: string): Promise<NextechTokens> {
  return tokenRequest(client, { grant_type: 'refresh_token', refresh_token: refreshToken });
}
