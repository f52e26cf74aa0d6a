import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SANDBOX_CLIENT_ID,
  SANDBOX_CLIENT_SECRET,
  SANDBOX_REDIRECT_URI,
  SANDBOX_RESOURCE,
} from '../../src/sandbox/app.ts';
import { anyString, postForm, startTestSandbox, type TestSandbox } from './helpers.ts';

interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  resource: string;
}

describe('sandbox OAuth', () => {
  let clock = new Date('2025-06-01T08:00:00Z');
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await startTestSandbox({ now: () => clock, accessTokenTtlSeconds: 120 });
  });
  afterAll(() => sb.close());

  const loginFields = (overrides: Record<string, string> = {}): Record<string, string> => ({
    client_id: SANDBOX_CLIENT_ID,
    response_type: 'code',
    redirect_uri: SANDBOX_REDIRECT_URI,
    resource: SANDBOX_RESOURCE,
    state: 'xyz<&>',
    username: 'demo',
    password: 'demo',
    ...overrides,
  });

  /** Logs in through the form and returns the code from the redirect. */
  async function authorizationCode(): Promise<string> {
    const res = await postForm(sb.authorizeUrl, loginFields());
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(SANDBOX_REDIRECT_URI);
    expect(location.searchParams.get('state')).toBe('xyz<&>');
    return location.searchParams.get('code') ?? '';
  }

  const exchange = (code: string, extra: Record<string, string> = {}): Promise<Response> =>
    postForm(sb.tokenUrl, {
      grant_type: 'authorization_code', client_id: SANDBOX_CLIENT_ID, redirect_uri: SANDBOX_REDIRECT_URI,
      code, resource: SANDBOX_RESOURCE, ...extra,
    });

  const refresh = (refreshToken: string): Promise<Response> =>
    postForm(sb.tokenUrl, { grant_type: 'refresh_token', client_id: SANDBOX_CLIENT_ID, refresh_token: refreshToken });

  it('shows a login form that escapes the echoed parameters', async () => {
    const query = new URLSearchParams({ ...loginFields(), state: '"><script>alert(1)</script>' });
    const res = await fetch(`${sb.authorizeUrl}?${query.toString()}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('<form method="post"');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&quot;&gt;&lt;script&gt;');
  });

  it('refuses an unknown client or unregistered redirect with plain 400, never a redirect', async () => {
    const bads: Record<string, string>[] = [{ client_id: 'nobody' }, { redirect_uri: 'https://evil.example/cb' }];
    for (const bad of bads) {
      const query = new URLSearchParams(loginFields(bad));
      const res = await fetch(`${sb.authorizeUrl}?${query.toString()}`, { redirect: 'manual' });
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      const posted = await postForm(sb.authorizeUrl, loginFields(bad));
      expect(posted.status).toBe(400);
      expect(posted.headers.get('location')).toBeNull();
    }
  });

  it('shows the form again with an error for a wrong password', async () => {
    const res = await postForm(sb.authorizeUrl, loginFields({ password: 'nope' }));
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('Incorrect username or password');
  });

  it('exchanges an authorization code for working tokens', async () => {
    const res = await exchange(await authorizationCode());
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as TokenResponse;
    expect(body).toEqual({
      access_token: anyString, token_type: 'Bearer', expires_in: 120,
      refresh_token: anyString, resource: SANDBOX_RESOURCE,
    });
    expect((await sb.get('/encounters/categories', { token: body.access_token })).status).toBe(200);
  });

  it('accepts the right client secret and refuses a wrong one', async () => {
    expect((await exchange(await authorizationCode(), { client_secret: SANDBOX_CLIENT_SECRET })).status).toBe(200);
    const res = await exchange(await authorizationCode(), { client_secret: 'wrong' });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('accepts client credentials as HTTP Basic', async () => {
    const basic = Buffer.from(`${SANDBOX_CLIENT_ID}:${SANDBOX_CLIENT_SECRET}`).toString('base64');
    const res = await postForm(sb.tokenUrl, {
      grant_type: 'authorization_code', redirect_uri: SANDBOX_REDIRECT_URI, code: await authorizationCode(),
    }, { authorization: `Basic ${basic}` });
    expect(res.status).toBe(200);
  });

  it('accepts a code only once', async () => {
    const code = await authorizationCode();
    expect((await exchange(code)).status).toBe(200);
    const again = await exchange(code);
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a code for another redirect_uri or after five minutes', async () => {
    const wrongRedirect = await exchange(await authorizationCode(), { redirect_uri: 'http://localhost:8000/other/' });
    expect(await wrongRedirect.json()).toMatchObject({ error: 'invalid_grant' });
    const code = await authorizationCode();
    const issuedAt = clock;
    clock = new Date(issuedAt.getTime() + 5 * 60_000);
    try {
      expect(await (await exchange(code)).json()).toMatchObject({ error: 'invalid_grant' });
    } finally {
      clock = issuedAt;
    }
  });

  it('rotates refresh tokens: the new one works and the old one is invalid_grant', async () => {
    const first = (await (await exchange(await authorizationCode())).json()) as TokenResponse;
    const res = await refresh(first.refresh_token);
    expect(res.status).toBe(200);
    const second = (await res.json()) as TokenResponse;
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect((await sb.get('/encounters/categories', { token: second.access_token })).status).toBe(200);
    const replay = await refresh(first.refresh_token);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await refresh(second.refresh_token)).status).toBe(200);
  });

  it('refreshes tokens issued programmatically', async () => {
    const { refreshToken } = sb.sandbox.issueTokens();
    expect((await refresh(refreshToken)).status).toBe(200);
  });

  it('answers bad token requests with OAuth error JSON', async () => {
    const cases: [Record<string, string>, number, string][] = [
      [{ client_id: SANDBOX_CLIENT_ID }, 400, 'invalid_request'],
      [{ grant_type: 'password', client_id: SANDBOX_CLIENT_ID }, 400, 'unsupported_grant_type'],
      [{ grant_type: 'refresh_token', client_id: 'nobody', refresh_token: 'x' }, 401, 'invalid_client'],
      [{ grant_type: 'refresh_token', refresh_token: 'x' }, 400, 'invalid_request'],
      [{ grant_type: 'authorization_code', client_id: SANDBOX_CLIENT_ID, redirect_uri: SANDBOX_REDIRECT_URI }, 400, 'invalid_request'],
    ];
    for (const [fields, status, error] of cases) {
      const res = await postForm(sb.tokenUrl, fields);
      expect(res.status, JSON.stringify(fields)).toBe(status);
      expect(await res.json()).toEqual({ error, error_description: anyString });
    }
    const json = await fetch(sb.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(await json.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('expires access tokens after accessTokenTtlSeconds', async () => {
    const body = (await (await exchange(await authorizationCode())).json()) as TokenResponse;
    const issuedAt = clock;
    clock = new Date(issuedAt.getTime() + 120_000);
    try {
      expect((await sb.get('/encounters/categories', { token: body.access_token })).status).toBe(401);
    } finally {
      clock = issuedAt;
    }
  });

  it('refuses token and login bodies over 64 KiB as they arrive', async () => {
    for (const url of [sb.tokenUrl, sb.authorizeUrl]) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=refresh_token&refresh_token=${'a'.repeat(70_000)}`,
      });
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    }
  });
});
