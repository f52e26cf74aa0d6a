/**
 * `POST /oauth2/token`: the authorization_code and refresh_token grants, answered with
 * the OAuth 2.0 JSON shapes (RFC 6749 §5.1 success, §5.2 errors). Client credentials may
 * come in the form or as HTTP Basic (§2.3.1); a secret is optional, but a wrong one is
 * refused. Refresh tokens rotate: the presented one stops working.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { SandboxClient } from './defaults.ts';
import type { IssuedTokens, TokenStore } from './token-store.ts';

type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type';
type Fields = Record<string, string | undefined>;

/** A refused token request; the handler turns it into the RFC 6749 §5.2 JSON. */
class OAuthError extends Error {
  constructor(readonly error: OAuthErrorCode, description: string) {
    super(description);
  }
}

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

function decodeCredential(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new OAuthError('invalid_client', 'Malformed Basic credentials.');
  }
}

async function formFields(c: Context): Promise<Fields> {
  const type = c.req.header('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    throw new OAuthError('invalid_request', 'The body must be application/x-www-form-urlencoded.');
  }
  const fields: Fields = {};
  for (const [key, value] of new URLSearchParams(await c.req.text())) fields[key] = value;
  return fields;
}

/** client_id and client_secret from HTTP Basic, else from the form. */
function clientCredentials(c: Context, fields: Fields): { clientId?: string; secret?: string } {
  const basic = /^Basic\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
  if (!basic?.[1]) return { clientId: fields.client_id, secret: fields.client_secret };
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new OAuthError('invalid_client', 'Malformed Basic credentials.');
  const clientId = decodeCredential(decoded.slice(0, colon));
  if (fields.client_id !== undefined && fields.client_id !== clientId) {
    throw new OAuthError('invalid_request', 'client_id differs from the Basic credentials.');
  }
  return { clientId, secret: decodeCredential(decoded.slice(colon + 1)) };
}

function authenticateClient(
  c: Context,
  fields: Fields,
  clients: ReadonlyMap<string, SandboxClient>,
): SandboxClient {
  const { clientId, secret } = clientCredentials(c, fields);
  if (!clientId) throw new OAuthError('invalid_request', 'client_id is required.');
  const client = clients.get(clientId);
  if (!client) throw new OAuthError('invalid_client', 'Unknown client.');
  if (secret !== undefined && client.clientSecret !== undefined && secret !== client.clientSecret) {
    throw new OAuthError('invalid_client', 'Client authentication failed.');
  }
  return client;
}

function required(fields: Fields, name: string): string {
  const value = fields[name];
  if (!value) throw new OAuthError('invalid_request', `${name} is required.`);
  return value;
}

function grant(fields: Fields, client: SandboxClient, store: TokenStore): IssuedTokens {
  const grantType = required(fields, 'grant_type');
  if (grantType === 'authorization_code') {
    const code = required(fields, 'code');
    const redirectUri = required(fields, 'redirect_uri');
    if (!store.redeemCode(code, { clientId: client.clientId, redirectUri })) {
      throw new OAuthError('invalid_grant', 'The authorization code is invalid, expired, used, or issued to another client or redirect_uri.');
    }
    return store.issueTokens(client.clientId);
  }
  if (grantType === 'refresh_token') {
    const issued = store.rotateRefreshToken(required(fields, 'refresh_token'), client.clientId);
    if (!issued) throw new OAuthError('invalid_grant', 'The refresh token is invalid, revoked or already used.');
    return issued;
  }
  throw new OAuthError('unsupported_grant_type', 'grant_type must be authorization_code or refresh_token.');
}

/** The token route, to be mounted at `/oauth2`. `resource` is echoed in every response. */
export function tokenRoutes(clients: ReadonlyMap<string, SandboxClient>, store: TokenStore, resource: string): Hono {
  const routes = new Hono();
  routes.post('/token', async (c) => {
    try {
      const fields = await formFields(c);
      // grant_type is checked before the client so a bad grant type names itself.
      required(fields, 'grant_type');
      const tokens = grant(fields, authenticateClient(c, fields, clients), store);
      return c.json({
        access_token: tokens.accessToken,
        token_type: 'Bearer',
        expires_in: tokens.expiresIn,
        refresh_token: tokens.refreshToken,
        resource,
      }, 200, NO_STORE);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      const body = { error: err.error, error_description: err.message };
      if (err.error !== 'invalid_client') return c.json(body, 400, NO_STORE);
      return c.json(body, 401, { ...NO_STORE, 'WWW-Authenticate': 'Basic realm="nextech-sandbox"' });
    }
  });
  return routes;
}
