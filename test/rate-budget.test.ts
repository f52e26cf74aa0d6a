import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxNextechEnv } from '../src/dev/sandbox-env.ts';
import { startSandbox, type RunningSandbox } from '../src/sandbox/index.ts';
import { delta, metricsText } from './helpers/metrics.ts';
import { fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { busiestSecond } from './helpers/upstream-rate.ts';

let upstream: RunningSandbox;
let svc: TestService;
beforeAll(async () => {
  // The sandbox enforces Nextech's documented limit: 20 requests per second per user and endpoint.
  upstream = await startSandbox({ port: 0, rateLimitPerSecond: 20 });
  svc = await startTestService({ NEXTECH_BASE_URL: upstream.apiBaseUrl, NEXTECH_AUTH: 'passthrough', NEXTECH_PRACTICE_ID: '1001' });
});
afterAll(async () => {
  await svc.close();
  await upstream.close();
});

describe('the rate budget', () => {
  it('keeps 60 requests fired within a second under 20 per second upstream, with no 429 reaching the caller', async () => {
    const token = upstream.sandbox.issueTokens().accessToken;
    const before = await metricsText(svc.origin);
    upstream.sandbox.resetCalls();
    // Distinct terms, so coalescing does not hide the load: 60 real upstream calls.
    const terms = Array.from({ length: 60 }, (_, i) => `zz${i}`);
    const results = await Promise.all(
      terms.map((t) => fhirFetch<Bundle>(`${svc.fhir}/Patient?family=${t}`, { headers: { authorization: `Bearer ${token}` } })),
    );
    expect(results.map((r) => r.status)).toEqual(terms.map(() => 200));
    const calls = upstream.sandbox.calls.filter((c) => c.path === '/ehr/api/search');
    expect(calls).toHaveLength(60);
    expect(calls.filter((c) => c.status === 429)).toHaveLength(0);
    expect(busiestSecond(calls.map((c) => c.receivedAt))).toBeLessThanOrEqual(20);
    expect(delta(before, await metricsText(svc.origin), 'nextech_rate_budget_waits_total{endpoint="patient-search"}')).toBeGreaterThanOrEqual(1);
  });

  it('answers one caller’s requests beyond its queue bound at once with 429 and Retry-After, and serves the rest', async () => {
    const token = upstream.sandbox.issueTokens().accessToken;
    const before = await metricsText(svc.origin);
    upstream.sandbox.resetCalls();
    const refusedAt: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const r = await fhirFetch(`${svc.fhir}/Patient?family=deep${i}`, { headers: { authorization: `Bearer ${token}` } });
        if (r.status === 429) refusedAt.push(upstream.sandbox.calls.length);
        return r;
      }),
    );
    const refused = results.filter((r) => r.status === 429);
    // Three windows' worth (60) may wait; the excess is refused on arrival, before the queue drains.
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(60);
    expect(refused.length).toBeGreaterThanOrEqual(25);
    expect(refused.length + results.filter((r) => r.status === 200).length).toBe(100);
    for (const r of refused) expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    for (const seen of refusedAt) expect(seen).toBeLessThan(30);
    const calls = upstream.sandbox.calls.filter((c) => c.path === '/ehr/api/search');
    expect(calls.filter((c) => c.status === 429)).toHaveLength(0);
    expect(busiestSecond(calls.map((c) => c.receivedAt))).toBeLessThanOrEqual(20);
    expect(delta(before, await metricsText(svc.origin), 'nextech_rate_budget_refusals_total{endpoint="patient-search"}')).toBe(refused.length);
  });

  it('gives made-up passthrough tokens one shared share: 60 of them at once reach Nextech at most 20 per second', async () => {
    upstream.sandbox.resetCalls();
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        fhirFetch(`${svc.fhir}/Patient?family=made${i}`, { headers: { authorization: `Bearer invented-${i}-${Math.random()}` } }),
      ),
    );
    // Nextech refuses each invented token; none was a reason to widen the budget.
    for (const r of results) expect([401, 429]).toContain(r.status);
    const calls = upstream.sandbox.calls.filter((c) => c.path === '/ehr/api/search');
    expect(calls.length).toBeGreaterThan(0);
    expect(busiestSecond(calls.map((c) => c.receivedAt))).toBeLessThanOrEqual(20);
    // A real token, once Nextech has accepted it, has its own share again.
    const token = upstream.sandbox.issueTokens().accessToken;
    const mine = await fhirFetch<Bundle>(`${svc.fhir}/Patient?family=smith`, { headers: { authorization: `Bearer ${token}` } });
    expect(mine.status).toBe(200);
  });
});

describe('the rate budget in managed mode', () => {
  it('lets no made-up bearer reach Nextech at all: each is refused at the door', async () => {
    const managed = await startTestService();
    try {
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => fhirFetch(`${managed.fhir}/Patient?family=made${i}`, { headers: { authorization: `Bearer invented-${i}` } })),
      );
      expect(results.map((r) => r.status)).toEqual(results.map(() => 401));
      expect(managed.sandbox.calls).toHaveLength(0);
      // The one credential Nextech sees from the service keeps its whole share for real callers.
      expect((await fhirFetch(`${managed.fhir}/Patient?family=smith`)).status).toBe(200);
    } finally {
      await managed.close();
    }
  });
});

/**
 * Nextech's token endpoint in front of `tokenUrl`, answering each request `delayMs` late (a
 * slow OAuth server): what the service waits for at its managed token's first use and at each
 * refresh.
 */
async function slowTokenEndpoint(tokenUrl: string, delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      setTimeout(() => {
        void fetch(tokenUrl, { method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body: Buffer.concat(chunks) }).then(async (answer) => {
          res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
          res.end(Buffer.from(await answer.arrayBuffer()));
        });
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`, close: () => new Promise((r) => server.close(() => r())) };
}

describe('the rate budget while the managed token is fetched', () => {
  it('takes no slot before the token is there: 40 searches at a cold service, its token endpoint slow, reach Nextech spaced, none refused', async () => {
    const up = await startSandbox({ port: 0, rateLimitPerSecond: 20 });
    // 400 ms: about seven slots' worth (one per 55 ms). A slot taken before the token arrives
    // is spent only then, with every slot taken meanwhile: a bunch over Nextech's limit.
    const slow = await slowTokenEndpoint(up.tokenUrl, 400);
    const managed = await startTestService({ ...sandboxNextechEnv(up), NEXTECH_TOKEN_URL: slow.url, ANONYMOUS_ACCESS: 'true' });
    try {
      up.sandbox.resetCalls();
      const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => fhirFetch(`${managed.fhir}/Patient?family=cold${i}`).then((r) => r.status)));
      expect(statuses).toEqual(statuses.map(() => 200));
      const calls = up.sandbox.calls.filter((c) => c.path === '/ehr/api/search');
      // One call per search, and Nextech refused none (a refused one is waited out and made again).
      expect(calls.filter((c) => c.status === 429)).toHaveLength(0);
      expect(calls).toHaveLength(40);
    } finally {
      await managed.close();
      await slow.close();
      await up.close();
    }
  });
});
