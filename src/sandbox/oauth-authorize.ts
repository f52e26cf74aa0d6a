/**
 * `GET/POST /oauth2/authorize`: the authorization-code login. GET shows the form; POST
 * checks the demo login and redirects to the registered redirect URI with `code` and
 * `state`. An unknown client or unregistered redirect URI gets a plain 400 and is never
 * redirected to, so the sandbox cannot be used as an open redirector.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { authorizePage, type AuthorizeParams } from './authorize-page.ts';
import { SANDBOX_PASSWORD, SANDBOX_USERNAME, type SandboxClient } from './defaults.ts';
import type { TokenStore } from './token-store.ts';

type Fields = Record<string, string | undefined>;

/** Reads the OAuth parameters; Nextech's docs spell the redirect `redirect_url`, so both work. */
function readParams(fields: Fields): AuthorizeParams {
  return {
    clientId: fields.client_id ?? '',
    redirectUri: fields.redirect_uri ?? fields.redirect_url ?? '',
    responseType: fields.response_type ?? '',
    resource: fields.resource ?? '',
    state: fields.state ?? '',
  };
}

/** Why the request cannot proceed, or undefined when client and redirect are good. */
function rejectReason(clients: ReadonlyMap<string, SandboxClient>, params: AuthorizeParams): string | undefined {
  const client = clients.get(params.clientId);
  if (!client) return 'Unknown client_id.';
  if (!client.redirectUris.includes(params.redirectUri)) return 'redirect_uri is not registered for this client.';
  if (params.responseType !== 'code') return 'response_type must be "code".';
  return undefined;
}

async function formFields(c: Context): Promise<Fields> {
  const body = await c.req.parseBody();
  const fields: Fields = {};
  for (const [key, value] of Object.entries(body)) if (typeof value === 'string') fields[key] = value;
  return fields;
}

/** The authorize routes, to be mounted at `/oauth2`. */
export function authorizeRoutes(clients: ReadonlyMap<string, SandboxClient>, store: TokenStore): Hono {
  const routes = new Hono();
  routes.get('/authorize', (c) => {
    const params = readParams(c.req.query());
    const reason = rejectReason(clients, params);
    return reason ? c.text(reason, 400) : c.html(authorizePage(params));
  });
  routes.post('/authorize', async (c) => {
    const fields = await formFields(c);
    const params = readParams(fields);
    const reason = rejectReason(clients, params);
    if (reason) return c.text(reason, 400);
    if (fields.username !== SANDBOX_USERNAME || fields.password !== SANDBOX_PASSWORD) {
      return c.html(authorizePage(params, 'Incorrect username or password.'), 401);
    }
    const target = new URL(params.redirectUri);
    target.searchParams.set('code', store.issueCode({ clientId: params.clientId, redirectUri: params.redirectUri }));
    if (params.state !== '') target.searchParams.set('state', params.state);
    return c.redirect(target.toString(), 302);
  });
  return routes;
}
