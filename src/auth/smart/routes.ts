/**
 * The SMART authorization server's HTTP endpoints, under `/auth`: authorize, Nextech's
 * callback, the patient picker, and token; plus the discovery document served at every
 * FHIR base. Errors before the app's redirect URI is known are pages, never redirects.
 */
import { Hono, type Context } from 'hono';
import { patientResourceId } from '../../mapping/ids.ts';
import { errorPage, PAGE_HEADERS, pickerPage, type PickerRow } from './pages.ts';
import { OAuthError, type SmartServer } from './server.ts';
import type { SmartClient } from '../../config.ts';

const page = (c: Context, html: string, status: 200 | 400 = 200) => c.body(html, status, PAGE_HEADERS);

/** RFC 6749 §4.1.2.1: errors after the redirect URI is validated go back to the app. */
function redirectError(ruri: string, err: OAuthError, state: string | undefined): string {
  const url = new URL(ruri);
  url.searchParams.set('error', err.error);
  url.searchParams.set('error_description', err.description);
  if (state !== undefined) url.searchParams.set('state', state);
  return url.toString();
}

export function smartRoutes(smart: SmartServer): Hono {
  const app = new Hono();

  app.get('/authorize', (c) => {
    const q = c.req.query();
    const client = smart.client(q.client_id);
    if (!client) return page(c, errorPage('Unknown client_id.'), 400);
    if (!q.redirect_uri || !client.redirectUris.includes(q.redirect_uri)) {
      return page(c, errorPage('The redirect_uri is not registered for this client.'), 400);
    }
    try {
      return c.redirect(smart.startLogin(client, q), 302);
    } catch (err) {
      if (err instanceof OAuthError) return c.redirect(redirectError(q.redirect_uri, err, q.state), 302);
      throw err;
    }
  });

  app.get('/callback', async (c) => {
    const pending = smart.openPending(c.req.query('state'));
    if (!pending) return page(c, errorPage('This login has expired or is not valid. Start again from the app.'), 400);
    const code = c.req.query('code');
    if (!code) {
      const denied = new OAuthError('access_denied', 'the user did not log in at Nextech');
      return c.redirect(redirectError(pending.ruri, denied, pending.st), 302);
    }
    try {
      const next = await smart.finishLogin(pending, code);
      return 'redirect' in next ? c.redirect(next.redirect, 302) : page(c, pickerPage(next.picker, '', undefined, clientName(smart, pending.cid)));
    } catch {
      const failed = new OAuthError('access_denied', 'Nextech did not accept the login');
      return c.redirect(redirectError(pending.ruri, failed, pending.st), 302);
    }
  });

  app.get('/pick', async (c) => {
    const txn = c.req.query('txn') ?? '';
    const p = smart.openPicker(txn);
    if (!p) return page(c, errorPage('This login has expired. Start again from the app.'), 400);
    const q = (c.req.query('q') ?? '').trim().slice(0, 100);
    let rows: PickerRow[] | undefined;
    if (q !== '') {
      const found = await smart.deps.nextech.searchPatients({ practiceId: p.prac, callerToken: p.nat }, q);
      rows = found.slice(0, 50).flatMap((r) => {
        const id = patientResourceId(r);
        const name = [r.firstName, r.middleName, r.lastName].filter(Boolean).join(' ') || '(no name)';
        return id ? [{ id, name, ...(r.dob ? { birthDate: r.dob.slice(0, 10) } : {}), ...(r.chartNumber ? { chart: r.chartNumber } : {}) }] : [];
      });
    }
    return page(c, pickerPage(txn, q, rows, clientName(smart, p.cid)));
  });

  app.post('/pick', async (c) => {
    const form = await c.req.parseBody();
    const p = smart.openPicker(typeof form.txn === 'string' ? form.txn : undefined);
    if (!p) return page(c, errorPage('This login has expired. Start again from the app.'), 400);
    const patient = typeof form.patient === 'string' ? form.patient : '';
    if (!(await smart.patientExists(p, patient))) return page(c, errorPage('That patient cannot be chosen.'), 400);
    return c.redirect(smart.issueCode(p, patient), 302);
  });

  app.post('/token', async (c) => {
    const form = new URLSearchParams(await c.req.text());
    const headers = { 'cache-control': 'no-store', pragma: 'no-cache' };
    try {
      const client = authenticate(smart, c.req.header('authorization'), form);
      return c.json(await smart.token(client, form), 200, headers);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      return c.json({ error: err.error, error_description: err.description }, err.status as 400 | 401, headers);
    }
  });

  return app;
}

function clientName(smart: SmartServer, clientId: string): string {
  const c = smart.client(clientId);
  return c?.name ?? c?.clientId ?? 'An application';
}

/** Client authentication at the token endpoint: public clients by id, confidential ones by secret (basic or post). */
function authenticate(smart: SmartServer, authorization: string | undefined, form: URLSearchParams): SmartClient {
  let id = form.get('client_id') ?? undefined;
  let secret = form.get('client_secret') ?? undefined;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization ?? '');
  if (basic?.[1]) {
    const [u, p] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
    id = decodeURIComponent(u ?? '');
    secret = decodeURIComponent(p ?? '');
  }
  const client = smart.client(id);
  if (!client || (client.clientSecret !== undefined && client.clientSecret !== secret)) {
    throw new OAuthError('invalid_client', 'unknown client or bad client credentials', 401);
  }
  return client;
}

/** The discovery document (SMART App Launch 2.x §Conformance) for one FHIR base. */
export function smartConfiguration(smart: SmartServer): Record<string, unknown> {
  const base = smart.deps.publicBaseUrl;
  return {
    authorization_endpoint: `${base}/auth/authorize`,
    token_endpoint: `${base}/auth/token`,
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: [
      'launch/patient',
      'offline_access',
      'online_access',
      'patient/*.rs',
      'user/*.rs',
      ...smart.deps.supportedTypes.flatMap((t) => [`patient/${t}.rs`, `user/${t}.rs`]),
    ],
    capabilities: [
      'launch-standalone',
      'client-public',
      'client-confidential-symmetric',
      'context-standalone-patient',
      'permission-offline',
      'permission-online',
      'permission-patient',
      'permission-user',
      'permission-v1',
      'permission-v2',
    ],
  };
}
