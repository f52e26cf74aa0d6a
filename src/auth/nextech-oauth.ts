/**
 * Calls to Nextech's OAuth token endpoint on a user's behalf (the SMART broker): exchanging
 * an authorization code, and refreshing. Only the fields the facade needs are parsed; the
 * endpoint's error bodies are never passed on (they may echo codes or tokens).
 */
import { request } from 'undici';
import { z } from 'zod';

export interface NextechOAuthClient {
  tokenUrl: string;
  clientId: string;
  clientSecret?: string;
  resource?: string;
  timeoutMs: number;
}

export interface NextechTokens {
  accessToken: string;
  refreshToken?: string;
  /** Epoch seconds. */
  expiresAt: number;
}

const TokenResponse = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.coerce.number().positive().optional(),
});

/** Why Nextech would not issue tokens: `refused` (bad code/refresh token) or `unavailable`. */
export class NextechOAuthError extends Error {
  constructor(readonly reason: 'refused' | 'unavailable') {
    super(reason === 'refused' ? 'Nextech refused the grant' : 'Nextech token endpoint unavailable');
    this.name = 'NextechOAuthError';
  }
}

async function tokenRequest(client: NextechOAuthClient, fields: Record<string, string>, now: number): Promise<NextechTokens> {
  const form = new URLSearchParams({ ...fields, client_id: client.clientId });
  if (client.clientSecret) form.set('client_secret', client.clientSecret);
  if (client.resource) form.set('resource', client.resource);
  let status: number;
  let body: unknown;
  try {
    const res = await request(client.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      signal: AbortSignal.timeout(client.timeoutMs),
    });
    status = res.statusCode;
    body = await res.body.json().catch(() => undefined);
  } catch {
    throw new NextechOAuthError('unavailable');
  }
  const parsed = TokenResponse.safeParse(body);
  if (status >= 500) throw new NextechOAuthError('unavailable');
  if (status !== 200 || !parsed.success) throw new NextechOAuthError('refused');
  return {
    accessToken: parsed.data.access_token,
    ...(parsed.data.refresh_token ? { refreshToken: parsed.data.refresh_token } : {}),
    expiresAt: Math.floor(now / 1000) + (parsed.data.expires_in ?? 3600),
  };
}

export function exchangeCode(client: NextechOAuthClient, code: string, redirectUri: string, now = Date.now()): Promise<NextechTokens> {
  return tokenRequest(client, { grant_type: 'authorization_code', code, redirect_uri: redirectUri }, now);
}

export function refreshGrant(client: NextechOAuthClient, refreshToken: string, now = Date.now()): Promise<NextechTokens> {
  return tokenRequest(client, { grant_type: 'refresh_token', refresh_token: refreshToken }, now);
}
