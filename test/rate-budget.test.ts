import type { Bundle } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
