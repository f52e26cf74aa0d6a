/**
 * Managed credentials: the service holds a Nextech refresh token and keeps an access token
 * for every caller. Over HTTP against a separately started sandbox (a real OAuth server
 * that rotates refresh tokens and expires access tokens on its own clock), and at unit
 * level against a scripted token endpoint with a controllable clock.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, OperationOutcome } from 'fhir/r4';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManagedToken } from '../src/auth/managed-token.ts';
import { UpstreamError } from '../src/source/errors.ts';
import {
  SANDBOX_CLIENT_ID,
  SANDBOX_CLIENT_SECRET,
  SANDBOX_RESOURCE,
  startSandbox,
  type RunningSandbox,
} from '../src/sandbox/index.ts';
import { fhirFetch, startTestService, type TestService } from './helpers/service.ts';

/** A tiny HTTP server on a free loopback port. */
async function listen(
  handler: (req: IncomingMessage, body: string, res: ServerResponse) => void | Promise<void>,
): Promise<{ origin: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void handler(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const statuses = (s: RunningSandbox) => s.sandbox.calls.map((c) => c.status);

interface TokenAnswer {
  access_token?: string;
  refresh_token?: string;
}

/**
 * The sandbox plus an observing door in front of its token endpoint, so tests count the
 * token requests the service makes (the sandbox only records API calls) and see what they
 * carried and what they got.
 */
interface Upstream {
  sandbox: RunningSandbox;
  tokenUrl: string;
  tokenForms: URLSearchParams[];
  tokenAnswers: TokenAnswer[];
  /** Moves the sandbox's clock (token expiry) ahead of real time. */
  advance(ms: number): void;
  close(): Promise<void>;
}

async function startUpstream(accessTokenTtlSeconds: number): Promise<Upstream> {
  let skewMs = 0;
  const sandbox = await startSandbox({ port: 0, accessTokenTtlSeconds, now: () => new Date(Date.now() + skewMs) });
  const tokenForms: URLSearchParams[] = [];
  const tokenAnswers: TokenAnswer[] = [];
  const door = await listen(async (req, body, res) => {
    tokenForms.push(new URLSearchParams(body));
    const answer = await sandbox.sandbox.app.request('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': req.headers['content-type'] ?? '' },
      body,
    });
    const text = await answer.text();
    tokenAnswers.push(JSON.parse(text) as TokenAnswer);
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(text);
  });
  return {
    sandbox,
    tokenUrl: `${door.origin}/oauth2/token`,
    tokenForms,
    tokenAnswers,
    advance: (ms) => void (skewMs += ms),
    close: async () => {
      await door.close();
      await sandbox.close();
    },
  };
}

function managedEnv(up: Upstream, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NEXTECH_BASE_URL: up.sandbox.apiBaseUrl,
    NEXTECH_AUTH: 'managed',
    NEXTECH_PRACTICE_ID: '1001',
    // Each search here must reach Nextech (with the token under test): no reuse of earlier answers.
    PATIENT_CACHE_SECONDS: '0',
    NEXTECH_TOKEN_URL: up.tokenUrl,
    NEXTECH_CLIENT_ID: SANDBOX_CLIENT_ID,
    NEXTECH_CLIENT_SECRET: SANDBOX_CLIENT_SECRET,
    NEXTECH_RESOURCE: SANDBOX_RESOURCE,
    NEXTECH_REFRESH_TOKEN: up.sandbox.sandbox.issueTokens().refreshToken,
    // These tests call without a token: the operator opts in to anonymous access.
    ANONYMOUS_ACCESS: 'true',
    ...overrides,
  };
}

const CREDENTIALS_OUTCOME: OperationOutcome = {
  resourceType: 'OperationOutcome',
  issue: [
    {
      severity: 'error',
      code: 'security',
      diagnostics: 'The service cannot obtain a Nextech access token; its credentials need renewing',
    },
  ],
};

describe('managed credentials over HTTP', () => {
  let up: Upstream | undefined;
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    await up?.close();
    svc = undefined;
    up = undefined;
  });

  async function start(ttlSeconds = 3600, overrides: Record<string, string> = {}) {
    const u = await startUpstream(ttlSeconds);
    up = u;
    const env = managedEnv(u, overrides);
    const s = await startTestService(env);
    svc = s;
    const token = s.running.managedToken;
    if (!token) throw new Error('expected a managed token');
    return { up: u, svc: s, token, initialRefreshToken: env.NEXTECH_REFRESH_TOKEN };
  }
  const search = (s: TestService, headers: Record<string, string> = {}) =>
    fhirFetch<Bundle>(`${s.fhir}/Patient?name=smith`, { headers });

  it('refreshes once, on the first request, with the configured client and refresh token', async () => {
    const { up, svc, token, initialRefreshToken } = await start();
    expect(up.tokenForms).toHaveLength(0);
    const first = await search(svc);
    expect(first.status).toBe(200);
    expect(first.body.total).toBeGreaterThan(0);
    expect(Object.fromEntries(up.tokenForms[0] ?? [])).toEqual({
      grant_type: 'refresh_token',
      refresh_token: initialRefreshToken,
      client_id: SANDBOX_CLIENT_ID,
      client_secret: SANDBOX_CLIENT_SECRET,
      resource: SANDBOX_RESOURCE,
    });
    const second = await search(svc);
    expect(second.status).toBe(200);
    expect(up.tokenForms).toHaveLength(1);
    expect(token.refreshCount).toBe(1);
    expect(up.sandbox.sandbox.calls.map((c) => [c.status, c.practiceId])).toEqual([
      [200, '1001'],
      [200, '1001'],
    ]);
  });

  it('refuses a bearer token it cannot verify instead of serving it with its own token', async () => {
    const { up, svc } = await start();
    up.sandbox.sandbox.resetCalls();
    const res = await search(svc, { authorization: 'Bearer caller-token' });
    expect(res.status).toBe(401);
    expect(up.sandbox.sandbox.calls).toHaveLength(0);
  });

  it('serves /fhir/metadata without a token request', async () => {
    const { up, svc } = await start();
    const res = await fhirFetch(`${svc.fhir}/metadata`);
    expect(res.status).toBe(200);
    expect(up.tokenForms).toHaveLength(0);
  });

  it('makes exactly one refresh for 20 concurrent requests that find no token', async () => {
    const { up, svc, token } = await start();
    const results = await Promise.all(Array.from({ length: 20 }, () => search(svc)));
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 200));
    // The sandbox refuses a reused refresh token, so a second refresh would also fail a request.
    expect(up.tokenForms).toHaveLength(1);
    expect(token.refreshCount).toBe(1);
    // Identical calls in flight are shared, so fewer than 20 reach Nextech.
    expect(up.sandbox.sandbox.calls.length).toBeGreaterThan(0);
    expect(up.sandbox.sandbox.calls.length).toBeLessThan(20);
  });

  it('retries once with a fresh token when Nextech refuses a token the service thought valid', async () => {
    const { up, svc, token } = await start();
    expect((await search(svc)).status).toBe(200);
    up.sandbox.sandbox.resetCalls();
    // Nextech's clock passes the token's expiry; the service's does not.
    up.advance(3_601_000);
    const res = await search(svc);
    expect(res.status).toBe(200);
    expect(statuses(up.sandbox)).toEqual([401, 200]);
    expect(up.tokenForms).toHaveLength(2);
    expect(token.refreshCount).toBe(2);
  });

  it('uses the rotated refresh token for the next refresh', async () => {
    const { up, svc, initialRefreshToken } = await start();
    expect((await search(svc)).status).toBe(200);
    up.advance(3_601_000);
    expect((await search(svc)).status).toBe(200);
    const rotated = up.tokenAnswers[0]?.refresh_token;
    expect(rotated).toEqual(expect.any(String));
    expect(rotated).not.toBe(initialRefreshToken);
    expect(up.tokenForms.map((f) => f.get('refresh_token'))).toEqual([initialRefreshToken, rotated]);
  });

  it('refreshes ahead of expiry, so requests never meet an expired token', async () => {
    // A 31 s token is refreshed once 30 s remain: one second after it was issued.
    const { up, svc, token } = await start(31);
    expect((await search(svc)).status).toBe(200);
    await sleep(1_100);
    expect((await search(svc)).status).toBe(200);
    expect(token.refreshCount).toBe(2);
    expect(up.tokenForms).toHaveLength(2);
    // No 401 upstream: the old token was still good (for 29 s more) when it was replaced.
    expect(statuses(up.sandbox)).toEqual([200, 200]);
  });

  it('answers 503 security when the configured refresh token is refused, without calling the API', async () => {
    const { up, svc, token } = await start(3600, { NEXTECH_REFRESH_TOKEN: 'not-a-refresh-token' });
    const res = await search(svc);
    expect(res.status).toBe(503);
    expect(res.body).toEqual(CREDENTIALS_OUTCOME);
    expect(res.headers.get('retry-after')).toBe('60');
    expect(JSON.stringify(res.body)).not.toContain('not-a-refresh-token');
    expect(token.state).toBe('failed');
    expect(up.tokenForms).toHaveLength(1);
    expect(up.sandbox.sandbox.calls).toHaveLength(0);
  });

  it('answers 503 security once Nextech revokes the credentials', async () => {
    const { up, svc } = await start();
    expect((await search(svc)).status).toBe(200);
    up.sandbox.sandbox.revokeAll();
    const res = await search(svc);
    // Not a 401: the caller never sent the token Nextech refused.
    expect(res.status).toBe(503);
    expect(res.body).toEqual(CREDENTIALS_OUTCOME);
    expect(res.headers.get('www-authenticate')).toBeNull();
  });

  it('does not call the token endpoint again during the cool-off after a failed refresh', async () => {
    const { up, svc, token } = await start();
    expect((await search(svc)).status).toBe(200);
    up.sandbox.sandbox.revokeAll();
    await search(svc); // meets the revocation: one refused refresh
    expect(up.tokenForms).toHaveLength(2);
    up.sandbox.sandbox.resetCalls();
    const later = await Promise.all(Array.from({ length: 5 }, () => search(svc)));
    for (const res of later) {
      expect(res.status).toBe(503);
      expect(res.body).toEqual(CREDENTIALS_OUTCOME);
    }
    expect(up.tokenForms).toHaveLength(2);
    expect(up.sandbox.sandbox.calls).toHaveLength(0);
    expect(token.state).toBe('failed');
  });

  it('re-authenticates only once when Nextech also refuses the fresh token', async () => {
    const u = await startUpstream(3600);
    up = u;
    let apiCalls = 0;
    const api = await listen((_req, _body, res) => {
      apiCalls++;
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
      res.end('{"message":"Authorization has been denied for this request."}');
    });
    try {
      svc = await startTestService(managedEnv(u, { NEXTECH_BASE_URL: `${api.origin}/ehr/api` }));
      const res = await search(svc);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(apiCalls).toBe(2);
      expect(u.tokenForms).toHaveLength(2);
    } finally {
      await api.close();
    }
  });
});

/** A scripted token endpoint: each POST takes the next answer (the last one repeats). */
interface FakeTokenEndpoint {
  url: string;
  forms: URLSearchParams[];
  answer(...answers: FakeAnswer[]): void;
  close(): Promise<void>;
}

interface FakeAnswer {
  status?: number;
  json?: Record<string, unknown>;
  /** Raw body instead of `json`. */
  text?: string;
  /** Answer only once this settles. */
  gate?: Promise<void>;
}

async function startFakeTokenEndpoint(): Promise<FakeTokenEndpoint> {
  let queue: FakeAnswer[] = [];
  const forms: URLSearchParams[] = [];
  const server = await listen(async (_req, body, res) => {
    forms.push(new URLSearchParams(body));
    const a = (queue.length > 1 ? queue.shift() : queue[0]) ?? { status: 500 };
    await a.gate;
    res.writeHead(a.status ?? 200, { 'content-type': 'application/json' });
    res.end(a.text ?? JSON.stringify(a.json ?? {}));
  });
  return {
    url: `${server.origin}/token`,
    forms,
    answer: (...answers) => void (queue = answers),
    close: () => server.close(),
  };
}

const grant = (access: string, expiresIn = 3600, refresh?: string): FakeAnswer => ({
  json: { access_token: access, token_type: 'Bearer', expires_in: expiresIn, ...(refresh ? { refresh_token: refresh } : {}) },
});
const refused: FakeAnswer = { status: 400, json: { error: 'invalid_grant' } };

describe('ManagedToken', () => {
  const T0 = Date.parse('2025-06-01T08:00:00Z');
  let now = T0;
  let endpoint: FakeTokenEndpoint;
  let rotated: string[];
  beforeEach(async () => {
    now = T0;
    rotated = [];
    endpoint = await startFakeTokenEndpoint();
  });
  afterEach(() => endpoint.close());

  const managed = (coolOffMs = 5_000) =>
    new ManagedToken({
      credentials: { tokenUrl: endpoint.url, clientId: 'client-1', clientSecret: 's3cret', resource: 'urn:ehr', refreshToken: 'R0' },
      timeoutMs: 500,
      now: () => now,
      coolOffMs,
      onRotate: (r) => rotated.push(r),
    });
  const sentRefreshTokens = () => endpoint.forms.map((f) => f.get('refresh_token'));
  const failureKind = (err: unknown) => (err instanceof UpstreamError ? err.failure.kind : err);

  it('posts the refresh_token grant with the client id, secret and resource', async () => {
    endpoint.answer(grant('A1'));
    expect(await managed().token()).toBe('A1');
    expect(Object.fromEntries(endpoint.forms[0] ?? [])).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'R0',
      client_id: 'client-1',
      client_secret: 's3cret',
      resource: 'urn:ehr',
    });
  });

  it('shares one refresh among concurrent callers', async () => {
    let release = () => undefined as void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    endpoint.answer({ ...grant('A1'), gate });
    const t = managed();
    const waiting = Promise.all(Array.from({ length: 10 }, () => t.token()));
    await vi.waitFor(() => expect(endpoint.forms).toHaveLength(1));
    await sleep(20);
    expect(endpoint.forms).toHaveLength(1);
    release();
    expect(await waiting).toEqual(Array.from({ length: 10 }, () => 'A1'));
    expect(t.refreshCount).toBe(1);
    expect(endpoint.forms).toHaveLength(1);
  });

  it.each([
    // lifetime s, refreshed when this many seconds remain
    [3600, 300],
    [600, 60],
    [100, 30],
  ])('keeps a %i s token until %i s remain, then refreshes it', async (lifetime, remaining) => {
    endpoint.answer(grant('A1', lifetime), grant('A2', lifetime));
    const t = managed();
    expect(await t.token()).toBe('A1');
    now = T0 + (lifetime - remaining) * 1000 - 1;
    expect(await t.token()).toBe('A1');
    expect(endpoint.forms).toHaveLength(1);
    now += 1;
    expect(await t.token()).toBe('A2');
    expect(endpoint.forms).toHaveLength(2);
  });

  it('takes an expires_in sent as a string and assumes an hour when it is absent', async () => {
    endpoint.answer({ json: { access_token: 'A1', expires_in: '600' } }, { json: { access_token: 'A2' } }, grant('A3'));
    const t = managed();
    expect(await t.token()).toBe('A1');
    now = T0 + 540_000;
    expect(await t.token()).toBe('A2');
    now += 3_300_000 - 1;
    expect(await t.token()).toBe('A2');
    now += 1;
    expect(await t.token()).toBe('A3');
  });

  it('reports each rotated refresh token once and presents it on the next refresh', async () => {
    endpoint.answer(grant('A1', 3600, 'R1'), grant('A2', 3600, 'R1'), grant('A3', 3600), grant('A4', 3600, 'R2'));
    const t = managed();
    for (const want of ['A1', 'A2', 'A3', 'A4']) {
      expect(await t.token()).toBe(want);
      now += 3_300_000;
    }
    expect(sentRefreshTokens()).toEqual(['R0', 'R1', 'R1', 'R1']);
    expect(rotated).toEqual(['R1', 'R2']);
  });

  it('serves the current token when an early refresh fails, until it expires', async () => {
    endpoint.answer(grant('A1', 3600), { status: 503 });
    const t = managed(5_000);
    expect(await t.token()).toBe('A1');
    now = T0 + 3_300_000;
    expect(await t.token()).toBe('A1');
    expect(t.state).toBe('failed');
    now = T0 + 3_600_000;
    await expect(t.token()).rejects.toSatisfy((e) => failureKind(e) === 'credentials');
    expect(endpoint.forms).toHaveLength(3);
  });

  it('waits the cool-off after a failed refresh before asking again', async () => {
    endpoint.answer(refused, grant('A1'));
    const t = managed(5_000);
    await expect(t.token()).rejects.toSatisfy((e) => failureKind(e) === 'credentials');
    expect(t.state).toBe('failed');
    now = T0 + 4_999;
    await expect(t.token()).rejects.toSatisfy((e) => failureKind(e) === 'credentials');
    expect(endpoint.forms).toHaveLength(1);
    now = T0 + 5_000;
    expect(await t.token()).toBe('A1');
    expect(t.state).toBe('valid');
    expect(endpoint.forms).toHaveLength(2);
  });

  it.each<[string, FakeAnswer]>([
    ['a 400 invalid_grant', refused],
    ['a 200 that is not JSON', { text: '<html>oops</html>' }],
    ['a 200 without access_token', { json: { token_type: 'Bearer', expires_in: 3600 } }],
    ['a 200 with an empty access_token', { json: { access_token: '', expires_in: 3600 } }],
    ['a 200 with a negative expires_in', { json: { access_token: 'A1', expires_in: -5 } }],
    ['a 201 with a good token', { status: 201, json: { access_token: 'A1', expires_in: 3600 } }],
  ])('treats %s as a credentials failure', async (_label, answer) => {
    endpoint.answer(answer);
    const t = managed();
    await expect(t.token()).rejects.toSatisfy((e) => failureKind(e) === 'credentials');
    expect(t.state).toBe('failed');
    expect(t.refreshCount).toBe(0);
  });

  it('treats a token endpoint slower than the timeout as a credentials failure', async () => {
    let release = () => undefined as void;
    endpoint.answer({ ...grant('A1'), gate: new Promise<void>((resolve) => (release = resolve)) });
    const t = managed();
    try {
      await expect(t.token()).rejects.toSatisfy((e) => failureKind(e) === 'credentials');
      expect(t.state).toBe('failed');
    } finally {
      release();
    }
  });

  it('treats an unreachable token endpoint as a credentials failure', async () => {
    await endpoint.close();
    const t = managed();
    await expect(t.token()).rejects.toSatisfy((e) => failureKind(e) === 'credentials');
    expect(t.state).toBe('failed');
  });

  it('drops a refused token and fetches a new one for the retry', async () => {
    endpoint.answer(grant('A1'), grant('A2'));
    const t = managed();
    expect(await t.token()).toBe('A1');
    expect(await t.rejected('A1')).toBe(true);
    expect(await t.token()).toBe('A2');
    expect(endpoint.forms).toHaveLength(2);
  });

  it('answers a refusal whose refresh fails with the credentials error, not a retry', async () => {
    endpoint.answer(grant('A1'), refused);
    const t = managed();
    expect(await t.token()).toBe('A1');
    await expect(t.rejected('A1')).rejects.toMatchObject({ failure: { kind: 'credentials' } });
    expect(t.state).toBe('failed');
  });

  it('shares one refresh among concurrent refusals of the same token', async () => {
    let release = () => undefined as void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    endpoint.answer(grant('A1'), { ...grant('A2'), gate });
    const t = managed();
    expect(await t.token()).toBe('A1');
    const retries = Promise.all(Array.from({ length: 5 }, () => t.rejected('A1')));
    await vi.waitFor(() => expect(endpoint.forms).toHaveLength(2));
    release();
    expect(await retries).toEqual([true, true, true, true, true]);
    expect(await t.token()).toBe('A2');
    expect(endpoint.forms).toHaveLength(2);
  });

  it('does not refresh again for a late refusal of a token it already replaced', async () => {
    endpoint.answer(grant('A1'), grant('A2'), grant('A3'));
    const t = managed();
    expect(await t.token()).toBe('A1');
    expect(await t.rejected('A1')).toBe(true);
    // A second request that was sent with A1 before the refresh comes back 401 now.
    expect(await t.rejected('A1')).toBe(true);
    // A2 is current and was never refused: no third token request.
    expect(endpoint.forms).toHaveLength(2);
    expect(await t.token()).toBe('A2');
  });
});
