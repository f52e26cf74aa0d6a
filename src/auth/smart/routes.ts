/**
 * The SMART authorization server's pages, under `/auth`: authorize, Nextech's callback and
 * the patient picker — what a person's browser visits. A login is bound to the browser that
 * started it by a cookie set at authorize; the callback and the picker serve no one else. Errors before the app's redirect URI
 * is known are pages, never redirects; later ones go back to the app (RFC 6749 §4.1.2.1) or
 * are pages that offer the way back. The token endpoint and its friends are in
 * ../token-routes.ts.
 */
import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { UpstreamError } from '../../source/errors.ts';
import { formBody, limitBody } from '../form-body.ts';
import { describeAccess } from './consent.ts';
import type { PickerClaims } from './claims.ts';
import { donePage, errorPage, pickerPage, type Back, type Page, type PickerRow } from './pages.ts';
import { OAuthError, type SmartServer } from './server.ts';

const show = (c: Context, page: Page, status: 200 | 400 | 413 = 200) => c.body(page.html, status, page.headers);

/** The cookie naming the browser a login belongs to: 32 random bytes, HttpOnly, SameSite=Lax, under /auth only. */
const LOGIN_COOKIE = 'nxf_login';
const LOGIN_COOKIE_SECONDS = 600;
const BROWSER_VALUE = /^[A-Za-z0-9_-]{43}$/;

/** Parameters RFC 6749 §3.1 forbids repeating, and that the authorize endpoint reads. */
const AUTHORIZE_PARAMS = ['client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'aud', 'code_challenge', 'code_challenge_method', 'nonce', 'launch'];

export function smartRoutes(smart: SmartServer): Hono {
  const app = new Hono();
  const appName = (clientId: string) => {
    const c = smart.client(clientId);
    return c?.name ?? c?.clientId ?? 'The app';
  };
  const backWithError = (login: { ruri: string; st?: string; cid: string }, why: string): Back => ({
    label: `Return to ${appName(login.cid)}`,
    href: smart.errorRedirect(login, new OAuthError('access_denied', why)),
  });
  const picker = (p: PickerClaims, txn: string, extra: { query?: string; rows?: PickerRow[]; notice?: string } = {}) =>
    pickerPage({
      txn,
      app: appName(p.cid),
      access: describeAccess(smart.scopes(p.scope)),
      query: extra.query ?? '',
      redirectUri: p.ruri,
      ...(extra.rows ? { rows: extra.rows } : {}),
      ...(extra.notice !== undefined ? { notice: extra.notice } : {}),
    });

  const secure = smart.deps.publicBaseUrl.startsWith('https:');
  // The rest of a login belongs to the browser that started it (see SmartServer.startLogin).
  const browserOf = (c: Context) => {
    const value = getCookie(c, LOGIN_COOKIE);
    return value !== undefined && BROWSER_VALUE.test(value) ? value : undefined;
  };
  const otherBrowser = (c: Context) =>
    show(c, errorPage('This sign-in was started in another browser, or this browser lost its sign-in cookie. Start again from the app.'), 400);

  app.get('/authorize', (c) => {
    const q = c.req.query();
    const repeated = AUTHORIZE_PARAMS.find((name) => (c.req.queries(name)?.length ?? 0) > 1);
    const client = smart.client(q.client_id);
    if (!client) return show(c, errorPage('This app is not registered here (unknown client_id).'), 400);
    if (!q.redirect_uri || !client.redirectUris.includes(q.redirect_uri) || repeated === 'redirect_uri' || repeated === 'client_id') {
      return show(c, errorPage('The app sent a redirect_uri that is not registered for it.'), 400);
    }
    const login = { ruri: q.redirect_uri, ...(q.state !== undefined ? { st: q.state } : {}) };
    try {
      if (repeated) throw new OAuthError('invalid_request', `${repeated} is repeated`);
      const browser = browserOf(c) ?? randomBytes(32).toString('base64url');
      const url = smart.startLogin(client, q, browser);
      setCookie(c, LOGIN_COOKIE, browser, { httpOnly: true, sameSite: 'Lax', path: '/auth', maxAge: LOGIN_COOKIE_SECONDS, secure });
      return c.redirect(url, 302);
    } catch (err) {
      if (err instanceof OAuthError) return c.redirect(smart.errorRedirect(login, err), 302);
      throw err;
    }
  });

  app.get('/callback', async (c) => {
    const pending = smart.openPending(c.req.query('state'));
    if (!pending) return show(c, errorPage('This sign-in has expired or is not valid. Start again from the app.'), 400);
    if (!smart.sameBrowser(pending, browserOf(c))) return otherBrowser(c);
    const before = smart.outcomeOf(pending);
    // A reloaded callback: show where the login stands instead of spending Nextech's code twice.
    if (before?.at === 'picker') {
      const p = smart.openPicker(before.txn);
      if (p) return show(c, picker(p, before.txn));
    }
    if (before?.at === 'done') return show(c, donePage(appName(pending.cid), before.how));
    const code = c.req.query('code');
    if (!code) return c.redirect(smart.errorRedirect(pending, new OAuthError('access_denied', 'the user did not sign in at Nextech')), 302);
    try {
      const next = await smart.finishLogin(pending, code);
      if ('redirect' in next) return c.redirect(next.redirect, 302);
      const p = smart.openPicker(next.picker);
      if (!p) throw new Error('picker state did not open');
      return show(c, picker(p, next.picker));
    } catch {
      const message = 'Nextech did not accept this sign-in (it may have expired or been used already). Start again from the app.';
      return show(c, errorPage(message, backWithError(pending, 'Nextech did not accept the sign-in')), 400);
    }
  });

  // Search, choose and cancel are all POSTs: a patient's name never lands in a URL.
  const tooLarge = (c: Context) => show(c, errorPage('The form sent was too large.'), 413);
  app.post('/pick', limitBody(tooLarge), async (c) => {
    const form = await formBody(c);
    if (!form) return show(c, errorPage('The page sent something that is not a form. Start again from the app.'), 400);
    const txn = form.get('txn') ?? '';
    const p = smart.openPicker(txn);
    if (!p) return show(c, errorPage('This sign-in has expired. Start again from the app.'), 400);
    if (!smart.sameBrowser(p, browserOf(c))) return otherBrowser(c);
    const before = smart.outcomeOf(p);
    if (before?.at === 'done') return show(c, donePage(appName(p.cid), before.how));
    const action = form.get('action') ?? (form.has('patient') ? 'choose' : 'search');
    if (action === 'cancel') return c.redirect(smart.cancel(p), 302);
    const query = (form.get('q') ?? '').trim().slice(0, 100);
    try {
      if (action === 'choose') {
        const patient = form.get('patient') ?? '';
        if (!(await smart.patientExists(p, patient))) return show(c, picker(p, txn, { notice: 'That patient cannot be chosen. Search again.' }), 400);
        return c.redirect(smart.issueCode(p, patient), 302);
      }
      if (query === '') return show(c, picker(p, txn));
      return show(c, picker(p, txn, { query, rows: await searchRows(smart, p, query) }));
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      return show(c, picker(p, txn, { query, notice: 'Nextech did not answer. Try again in a moment.' }));
    }
  });

  return app;
}

async function searchRows(smart: SmartServer, p: PickerClaims, query: string): Promise<PickerRow[]> {
  const found = await smart.deps.source.findPatients(smart.callFor(p), query);
  return found.slice(0, 50).flatMap((r) => {
    const id = smart.deps.patientIds.issue(p.prac, r);
    const name = [r.firstName, r.middleName, r.lastName].filter(Boolean).join(' ') || '(no name)';
    return id ? [{ id, name, ...(r.dob ? { birthDate: r.dob.slice(0, 10) } : {}), ...(r.chartNumber ? { chart: r.chartNumber } : {}) }] : [];
  });
}
