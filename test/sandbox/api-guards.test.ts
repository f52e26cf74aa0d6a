import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { anyString, startTestSandbox, type TestSandbox } from './helpers.ts';

describe('sandbox API guards', () => {
  let clock = new Date('2025-01-01T12:00:00Z');
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await startTestSandbox({ accessTokenTtlSeconds: 60, now: () => clock });
  });
  afterAll(() => sb.close());
  beforeEach(() => {
    clock = new Date('2025-01-01T12:00:00Z');
    sb.sandbox.resetCalls();
  });

  it('returns 401 with a Bearer challenge without a bearer token', async () => {
    const res = await sb.get('/search?term=smith', { token: null });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    expect(await res.json()).toEqual({ message: anyString });
  });

  it('returns 401 for an unknown token', async () => {
    const res = await sb.get('/search?term=smith', { token: 'not-a-token' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('returns 401 for a non-Bearer authorization scheme', async () => {
    const res = await fetch(`${sb.apiBaseUrl}/search?term=smith`, {
      headers: { authorization: `Basic ${sb.accessToken}`, 'x-nextech-practice-id': '1001' },
    });
    expect(res.status).toBe(401);
  });

  it('returns 401 once the access token has expired, by the injected clock', async () => {
    const { accessToken } = sb.sandbox.issueTokens();
    clock = new Date('2025-01-01T12:00:59Z');
    expect((await sb.get('/search?term=smith', { token: accessToken })).status).toBe(200);
    clock = new Date('2025-01-01T12:01:00Z');
    const res = await sb.get('/search?term=smith', { token: accessToken });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toMatch(/expired/);
  });

  it('checks the token before the practice', async () => {
    expect((await sb.get('/search?term=smith', { token: null, practiceId: null })).status).toBe(401);
  });

  it('returns 403 without a practice header', async () => {
    const res = await sb.get('/search?term=smith', { practiceId: null });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ message: anyString });
  });

  it('returns 403 for an unknown practice', async () => {
    expect((await sb.get('/search?term=smith', { practiceId: '9999' })).status).toBe(403);
  });

  it('accepts the same token for every practice', async () => {
    expect((await sb.get('/search?term=smith', { practiceId: '1001' })).status).toBe(200);
    expect((await sb.get('/search?term=smith', { practiceId: '1002' })).status).toBe(200);
  });

  it('returns 404 JSON for other paths under /ehr/api', async () => {
    const res = await sb.get('/patients/10001');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ message: anyString });
  });

  it('returns 401 for every token after revokeAll', async () => {
    const own = await startTestSandbox();
    try {
      expect((await own.get('/search?term=smith')).status).toBe(200);
      own.sandbox.revokeAll();
      expect((await own.get('/search?term=smith')).status).toBe(401);
    } finally {
      await own.close();
    }
  });

  it('records every API call in order with its query, practice and status', async () => {
    await sb.get('/search?term=Smith&extra=1');
    await sb.get('/10009/encounters/search?start=2020-01-01', { practiceId: '1002' });
    await sb.get('/encounters/categories', { token: null });
    const [first, second, third] = sb.sandbox.calls;
    // Which credential each call carried, as a short hash: the same token twice, then none.
    expect(first?.credential).toMatch(/^[0-9a-f]{12}$/);
    expect(second?.credential).toBe(first?.credential);
    expect(third?.credential).toBeNull();
    expect(sb.sandbox.calls.map(({ receivedAt: _at, credential: _c, ...call }) => call)).toEqual([
      { method: 'GET', path: '/ehr/api/search', query: { term: 'Smith', extra: '1' }, practiceId: '1001', status: 200 },
      { method: 'GET', path: '/ehr/api/10009/encounters/search', query: { start: '2020-01-01' }, practiceId: '1002', status: 404 },
      { method: 'GET', path: '/ehr/api/encounters/categories', query: {}, practiceId: '1001', status: 401 },
    ]);
  });

  it('does not record OAuth requests', async () => {
    await fetch(sb.tokenUrl, { method: 'POST' });
    expect(sb.sandbox.calls).toEqual([]);
  });

  it('clears the same calls array on resetCalls', async () => {
    const calls = sb.sandbox.calls;
    await sb.get('/encounters/categories');
    sb.sandbox.resetCalls();
    expect(calls).toHaveLength(0);
    await sb.get('/encounters/categories');
    expect(calls).toHaveLength(1);
  });
});
