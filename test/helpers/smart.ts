/**
 * Plays a SMART app and its user against the real service and sandbox: discovery,
 * authorize (PKCE S256), the sandbox's Nextech login form, the facade's patient picker,
 * and the token call. Every step is a real HTTP request.
 */
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { TestService } from './service.ts';

export const APP = { clientId: 'test-app', redirectUri: 'http://127.0.0.1:9/cb' };
export const SMART_ENV = {
  SMART_CLIENTS: JSON.stringify([{ client_id: APP.clientId, redirect_uris: [APP.redirectUri], name: 'Test app' }]),
};

export interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
  scope: string;
  patient?: string;
  token_type: string;
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

const hidden = (html: string): Record<string, string> =>
  Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m): [string, string] => [m[1] ?? '', decodeHtml(m[2] ?? '')]),
  );
const decodeHtml = (s: string) =>
  s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

export function authorizeUrl(
  svc: TestService,
  opts: { scope: string; aud?: string; challenge: string; state?: string; clientId?: string; extra?: Record<string, string> },
): string {
  const url = new URL(`${svc.origin}/auth/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: opts.clientId ?? APP.clientId,
    redirect_uri: APP.redirectUri,
    scope: opts.scope,
    state: opts.state ?? 'app-state',
    aud: opts.aud ?? svc.fhir,
    code_challenge: opts.challenge,
    code_challenge_method: 'S256',
    ...opts.extra,
  }).toString();
  return url.toString();
}

/** The facade's login cookie from an authorize response, as a Cookie header value (a browser would keep it). */
function loginCookie(res: Response): string {
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('nxf_login='));
  expect(cookie).toMatch(/; HttpOnly/i);
  expect(cookie).toMatch(/; SameSite=Lax/i);
  return (cookie ?? '').split(';')[0] ?? '';
}

/** Authorize and log in at Nextech: the facade's callback answer (a picker page, or the redirect to the app). */
export async function signIn(svc: TestService, scope: string, opts: { clientId?: string; extra?: Record<string, string>; aud?: string } = {}) {
  const { verifier, challenge } = pkce();
  const start = await fetch(authorizeUrl(svc, { scope, challenge, ...opts }), { redirect: 'manual' });
  expect(start.status).toBe(302);
  const cookie = loginCookie(start);
  const { callbackUrl, response } = await nextechLoginAt(start.headers.get('location') ?? '', cookie);
  return { verifier, callbackUrl, response, cookie };
}

/** The txn of a picker page. */
export const txnOf = (html: string) => hidden(html).txn ?? '';

/** POSTs the picker form (search, choose or cancel), as the browser holding `cookie`. */
export function pick(svc: TestService, fields: Record<string, string>, cookie?: string): Promise<Response> {
  return fetch(`${svc.origin}/auth/pick`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams(fields).toString(),
  });
}

/** Logs in at the sandbox's Nextech form; returns the facade callback URL and its response. */
async function nextechLoginAt(nextechUrl: string, cookie: string): Promise<{ callbackUrl: string; response: Response }> {
  const form = await (await fetch(nextechUrl)).text();
  const login = await fetch(new URL('/oauth2/authorize', nextechUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...hidden(form), username: 'demo', password: 'demo' }).toString(),
  });
  expect(login.status).toBe(302);
  const callbackUrl = login.headers.get('location') ?? '';
  return { callbackUrl, response: await fetch(callbackUrl, { redirect: 'manual', headers: { cookie } }) };
}

/** The whole standalone launch; returns the app's token response. */
export async function launch(svc: TestService, scope: string, opts: { aud?: string; pickQuery?: string; extra?: Record<string, string> } = {}) {
  const { verifier, response, cookie } = await signIn(svc, scope, opts);
  let callback = response;
  let picked: string | undefined;
  if (callback.status === 200) {
    // The patient picker: search, then choose the first patient found.
    const txn = txnOf(await callback.text());
    const list = await (await pick(svc, { txn, q: opts.pickQuery ?? 'smith', action: 'search' }, cookie)).text();
    picked = [...list.matchAll(/name="patient" value="([^"]+)"/g)][0]?.[1];
    callback = await pick(svc, { txn, patient: picked ?? '', action: 'choose' }, cookie);
  }
  expect(callback.status).toBe(302);
  const back = new URL(callback.headers.get('location') ?? '');
  expect(`${back.origin}${back.pathname}`).toBe(APP.redirectUri);
  expect(back.searchParams.get('state')).toBe('app-state');
  const code = back.searchParams.get('code') ?? '';
  const token = await tokenCall(svc, { grant_type: 'authorization_code', code, redirect_uri: APP.redirectUri, client_id: APP.clientId, code_verifier: verifier });
  expect(token.status).toBe(200);
  return { token: (await token.json()) as TokenResponse & { id_token?: string }, code, verifier, picked };
}

export function tokenCall(svc: TestService, form: Record<string, string>): Promise<Response> {
  return fetch(`${svc.origin}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
}
