/**
 * The authorization server's machine endpoints, under `/auth`: the token endpoint (SMART's
 * authorization_code and refresh_token grants, Backend Services' client_credentials), token
 * introspection (RFC 7662), the id_token signing keys (JWKS) and the OpenID Connect
 * discovery document. Every refusal is OAuth JSON (RFC 6749 §5.2) with the right status —
 * never an OperationOutcome, never a 500 — and no response is cached.
 */
import { timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { SmartClient } from '../config.ts';
import type { AuthorizationServer } from './authorization-server.ts';
import { ID_TOKEN_ALG } from './id-token.ts';
import { formBody, limitBody } from './form-body.ts';
import { OAuthError } from './oauth-error.ts';

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

function oauthError(c: Context, err: OAuthError): Response {
  const headers: Record<string, string> = { ...NO_STORE };
  if (err.status === 401) headers['www-authenticate'] = 'Basic realm="auth", charset="UTF-8"';
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
  return c.json({ error: err.error, error_description: err.description }, err.status as 400 | 401 | 413 | 503, headers);
}

/** Runs an OAuth endpoint: any OAuthError becomes OAuth JSON; anything else is a bug (logged, `server_error`). */
async function oauth(c: Context, work: () => Promise<Record<string, unknown>>): Promise<Response> {
  try {
    return c.json(await work(), 200, NO_STORE);
  } catch (err) {
    if (err instanceof OAuthError) return oauthError(c, err);
    throw err;
  }
}

async function requireForm(c: Context): Promise<URLSearchParams> {
  const form = await formBody(c);
  if (!form) throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
  return form;
}

export function tokenRoutes(auth: AuthorizationServer): Hono {
  const app = new Hono();
  const tooLarge = (c: Context) => oauthError(c, new OAuthError('invalid_request', 'the request body is too large', 413));

  app.post('/token', limitBody(tooLarge), (c) =>
    oauth(c, async () => {
      const form = await requireForm(c);
      const grant = single(form, 'grant_type');
      if (grant === undefined) throw new OAuthError('invalid_request', 'grant_type is required');
      // The grant is judged before the client (RFC 6749 §5.2): an unknown grant_type is
      // unsupported_grant_type (400) whatever credentials come with it, as the Backend
      // Services and Bulk Data test kits check with a valid client assertion.
      const grants = grantTypes(auth);
      if (!grants.includes(grant)) throw new OAuthError('unsupported_grant_type', `grant_type must be ${grants.join(' or ')}`);
      if (grant === 'client_credentials' && auth.backend) {
        if (c.req.header('authorization') !== undefined) throw new OAuthError('invalid_request', 'use one client authentication method: client_assertion');
        return auth.backend.token(form);
      }
      if (!auth.smart) throw new OAuthError('unsupported_grant_type', 'grant_type must be client_credentials');
      return auth.smart.token(authenticateSmartClient(auth, c.req.header('authorization'), form), form);
    }),
  );

  app.post('/introspect', limitBody(tooLarge), (c) =>
    oauth(c, async () => {
      const form = await requireForm(c);
      await authorizeIntrospection(auth, c.req.header('authorization'), form);
      const token = single(form, 'token');
      if (token === undefined) throw new OAuthError('invalid_request', 'token is required');
      return introspect(auth, token);
    }),
  );

  if (auth.idTokens) {
    const idTokens = auth.idTokens;
    app.get('/jwks', async (c) => c.json(await idTokens.jwks(), 200, { 'cache-control': 'public, max-age=300' }));
    app.get('/.well-known/openid-configuration', (c) =>
      c.json(
        {
          issuer: auth.urls.issuer,
          authorization_endpoint: auth.urls.authorize,
          token_endpoint: auth.urls.token,
          introspection_endpoint: auth.urls.introspect,
          jwks_uri: auth.urls.jwks,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: [ID_TOKEN_ALG],
          scopes_supported: ['openid'],
          claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nonce'],
          code_challenge_methods_supported: ['S256'],
        },
        200,
        { 'cache-control': 'no-cache' },
      ),
    );
  }
  return app;
}

/** The grant types the configured doors take: SMART's two, Backend Services' one. */
export function grantTypes(auth: Pick<AuthorizationServer, 'smart' | 'backend'>): string[] {
  return [...(auth.smart ? ['authorization_code', 'refresh_token'] : []), ...(auth.backend ? ['client_credentials'] : [])];
}

/** A form parameter given at most once (RFC 6749 §3.2). */
function single(form: URLSearchParams, name: string): string | undefined {
  const values = form.getAll(name);
  if (values.length > 1) throw new OAuthError('invalid_request', `${name} must be given once`);
  return values[0];
}

interface BasicCredentials {
  id: string;
  secret: string;
}

/** RFC 6749 §2.3.1: `Basic base64(urlencoded(id):urlencoded(secret))`; anything malformed is invalid_client. */
function basicCredentials(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined || !/^basic\s/i.test(header)) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  const decoded = m?.[1] ? Buffer.from(m[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new OAuthError('invalid_client', 'malformed Basic credentials', 401);
  try {
    const form = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: form(decoded.slice(0, colon)), secret: form(decoded.slice(colon + 1)) };
  } catch {
    throw new OAuthError('invalid_client', 'malformed Basic credentials', 401);
  }
}

const sameSecret = (a: string, b: string) => {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * SMART clients at the token endpoint: confidential ones by secret (Basic or form), public
 * ones by client_id; none at all is undefined (the grant decides whether that will do).
 */
function authenticateSmartClient(auth: AuthorizationServer, authorization: string | undefined, form: URLSearchParams): SmartClient | undefined {
  if (single(form, 'client_assertion') !== undefined) throw new OAuthError('invalid_client', 'private_key_jwt is for Backend Services (client_credentials) only', 401);
  const basic = basicCredentials(authorization);
  const formId = single(form, 'client_id');
  const formSecret = single(form, 'client_secret');
  if (basic && (formSecret !== undefined || (formId !== undefined && formId !== basic.id))) {
    throw new OAuthError('invalid_request', 'use one client authentication method');
  }
  const id = basic?.id ?? formId;
  const secret = basic?.secret ?? formSecret;
  if (id === undefined) return undefined;
  const client = auth.smart?.client(id);
  if (!client || (client.clientSecret !== undefined && (secret === undefined || !sameSecret(client.clientSecret, secret)))) {
    throw new OAuthError('invalid_client', 'unknown client or bad client credentials', 401);
  }
  return client;
}

/**
 * Who may introspect (SMART App Launch, Token Introspection): a caller holding one of our
 * live access tokens (a SMART app or a Backend Services client), or a confidential SMART
 * client authenticating with its secret.
 */
async function authorizeIntrospection(auth: AuthorizationServer, authorization: string | undefined, form: URLSearchParams): Promise<void> {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  if (bearer !== undefined) {
    if ((await liveSmart(auth, bearer)) || auth.backend?.openAccess(bearer)) return;
    throw new OAuthError('invalid_client', 'the bearer token is not a live access token of this server', 401);
  }
  const client = authenticateSmartClient(auth, authorization, form);
  if (client?.clientSecret === undefined) {
    throw new OAuthError('invalid_client', 'introspection needs a bearer access token of this server or a confidential client\'s credentials', 401);
  }
}

/** RFC 7662 §2.2 with SMART's required and conditional fields; `active: false` for anything else. */
/** A SMART access token that opens and whose sign-in no replica revoked. */
async function liveSmart(auth: AuthorizationServer, token: string) {
  const smart = auth.smart?.openAccess(token);
  return smart && (await auth.smart?.signedIn(smart.sid)) ? smart : undefined;
}

async function introspect(auth: AuthorizationServer, token: string): Promise<Record<string, unknown>> {
  const smart = await liveSmart(auth, token);
  if (smart) {
    const openid = auth.smart?.scopes(smart.scope).openid === true && auth.idTokens !== undefined;
    return {
      active: true,
      scope: smart.scope,
      client_id: smart.cid,
      exp: smart.exp,
      token_type: 'Bearer',
      ...(smart.pat ? { patient: smart.pat } : {}),
      ...(openid && auth.smart ? { iss: auth.urls.issuer, sub: auth.smart.subjectOf(smart) } : {}),
    };
  }
  const system = auth.backend?.openAccess(token);
  if (system) return { active: true, scope: system.scope, client_id: system.cid, exp: system.exp, token_type: 'Bearer' };
  return { active: false };
}
