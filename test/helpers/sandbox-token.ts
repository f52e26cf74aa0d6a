/**
 * A Nextech access token as an integration gets one: the sandbox's OAuth authorization-code
 * login (its form, user demo/demo), then the code exchanged at its token endpoint — every
 * step a real HTTP request. What a passthrough caller presents.
 */
import { expect } from 'vitest';
import { SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, type RunningSandbox } from '../../src/sandbox/index.ts';

/** Where the sandbox sends the code: nothing listens there, the test reads the redirect. */
const REDIRECT_URI = 'http://127.0.0.1:9/nextech-callback';

const unescapeHtml = (s: string) =>
  s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** A fresh access token of the sandbox, never presented to anyone yet. */
export async function sandboxAccessToken(upstream: RunningSandbox): Promise<string> {
  upstream.sandbox.registerRedirectUri(SANDBOX_CLIENT_ID, REDIRECT_URI);
  const authorize = new URL(upstream.authorizeUrl);
  authorize.search = new URLSearchParams({ client_id: SANDBOX_CLIENT_ID, redirect_uri: REDIRECT_URI, response_type: 'code', state: 'st' }).toString();
  const page = await fetch(authorize);
  expect(page.status).toBe(200);
  const fields = new URLSearchParams({ username: 'demo', password: 'demo' });
  for (const m of (await page.text()).matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)) fields.set(m[1] ?? '', unescapeHtml(m[2] ?? ''));
  const login = await fetch(upstream.authorizeUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: fields.toString(),
    redirect: 'manual',
  });
  expect(login.status).toBe(302);
  const code = new URL(login.headers.get('location') ?? '').searchParams.get('code') ?? '';
  const exchange = await fetch(upstream.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, client_id: SANDBOX_CLIENT_ID, client_secret: SANDBOX_CLIENT_SECRET }).toString(),
  });
  expect(exchange.status).toBe(200);
  return ((await exchange.json()) as { access_token: string }).access_token;
}
