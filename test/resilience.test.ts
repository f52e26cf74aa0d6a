import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FaultRule } from '../src/sandbox/index.ts';
import { delta, metricsText, sample } from './helpers/metrics.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  // A short deadline for the timeout cases; a breaker that never trips in this file; every
  // search reaches the client (no reuse of earlier answers): its attempts, retries and sharing are counted.
  svc = await startTestService({ NEXTECH_TIMEOUT_SECONDS: '2', NEXTECH_BREAKER_THRESHOLD: '100', PATIENT_CACHE_SECONDS: '0' });
});
afterAll(() => svc.close());
// A test that fails half way must not leave its faults to the next one.
afterEach(() => svc.sandbox.faults.clear());

const SEARCH = '/ehr/api/search';
/** Upstream search attempts that arrived since `since` (a slow one is logged when it ends). */
const attempts = (since = 0) => svc.sandbox.calls.filter((c) => c.path === SEARCH && c.receivedAt >= since).length;

interface Case {
  name: string;
  rule: FaultRule;
  status: number;
  code?: string;
  attempts: number;
  retryAfter?: string;
}

const cases: Case[] = [
  { name: '500', rule: { fault: { kind: 'status', status: 500 } }, status: 502, code: 'transient', attempts: 1 },
  { name: '502 every time', rule: { fault: { kind: 'status', status: 502 } }, status: 502, code: 'transient', attempts: 3 },
  { name: '503 every time', rule: { fault: { kind: 'status', status: 503 } }, status: 502, code: 'transient', attempts: 3 },
  { name: '504 every time', rule: { fault: { kind: 'status', status: 504 } }, status: 502, code: 'transient', attempts: 3 },
  { name: 'one 503', rule: { fault: { kind: 'status', status: 503 }, times: 1 }, status: 200, attempts: 2 },
  { name: 'one 429 with Retry-After: 1', rule: { fault: { kind: 'rate-limit', retryAfter: '1' }, times: 1 }, status: 200, attempts: 2 },
  {
    name: '429 with a Retry-After longer than the deadline',
    rule: { fault: { kind: 'rate-limit', retryAfter: '120' } },
    status: 429,
    code: 'throttled',
    attempts: 1,
    retryAfter: '120',
  },
  { name: 'connection reset every time', rule: { fault: { kind: 'reset' } }, status: 502, code: 'transient', attempts: 3 },
  { name: 'one connection reset', rule: { fault: { kind: 'reset' }, times: 1 }, status: 200, attempts: 2 },
  { name: 'a body that stops half way', rule: { fault: { kind: 'truncate' } }, status: 502, code: 'transient', attempts: 3 },
  { name: 'malformed JSON', rule: { fault: { kind: 'malformed-json' } }, status: 502, code: 'exception', attempts: 1 },
  { name: 'a body that breaks the schema', rule: { fault: { kind: 'schema-break' } }, status: 502, code: 'exception', attempts: 1 },
  { name: 'latency within the deadline', rule: { fault: { kind: 'latency', ms: 150 } }, status: 200, attempts: 1 },
  { name: 'latency past the deadline', rule: { fault: { kind: 'latency', ms: 3000 } }, status: 504, code: 'timeout', attempts: 1 },
  {
    name: 'a slow drip past the deadline',
    rule: { fault: { kind: 'slow-drip', chunkBytes: 64, intervalMs: 200 } },
    status: 504,
    code: 'timeout',
    attempts: 1,
  },
];

describe('upstream faults', () => {
  it.each(cases)('answers $name with $status after $attempts attempt(s), then serves the next request normally', async (c) => {
    svc.sandbox.faults.clear();
    svc.sandbox.faults.add({ ...c.rule, path: SEARCH });
    const since = Date.now();
    const res = await fhirFetch<{ resourceType: string; issue?: { code: string; diagnostics?: string }[] }>(`${svc.fhir}/Patient?family=smith`);
    expect(res.status).toBe(c.status);
    if (c.code) {
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue?.[0]?.code).toBe(c.code);
      expect(res.body.issue?.[0]?.diagnostics).toMatch(/Nextech/);
    }
    expect(res.headers.get('retry-after') ?? undefined).toBe(c.retryAfter);
    // A request the service gave up on is logged by the sandbox only when it finishes.
    await vi.waitFor(() => expect(attempts(since)).toBe(c.attempts), { timeout: 4000, interval: 100 });
    svc.sandbox.faults.clear();
    expect((await fhirFetch(`${svc.fhir}/Patient?family=smith`)).status).toBe(200);
  });
});

describe('sharing and cancelling upstream calls', () => {
  it('answers 200 concurrent identical searches with one upstream call', async () => {
    svc.sandbox.faults.clear();
    svc.sandbox.faults.add({ fault: { kind: 'latency', ms: 300 }, path: SEARCH });
    const since = Date.now();
    const results = await Promise.all(Array.from({ length: 200 }, () => fetch(`${svc.fhir}/Patient?family=garcia`)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(attempts(since)).toBe(1);
    svc.sandbox.faults.clear();
  });

  it('keeps a shared call going when one of its callers disconnects', async () => {
    svc.sandbox.faults.clear();
    svc.sandbox.faults.add({ fault: { kind: 'latency', ms: 400 }, path: SEARCH });
    const since = Date.now();
    const leaving = new AbortController();
    const first = fetch(`${svc.fhir}/Patient?family=nguyen`, { signal: leaving.signal }).catch(() => 'aborted');
    const second = fetch(`${svc.fhir}/Patient?family=nguyen`);
    setTimeout(() => leaving.abort(), 100);
    expect(await first).toBe('aborted');
    expect((await second).status).toBe(200);
    expect(attempts(since)).toBe(1);
    svc.sandbox.faults.clear();
  });

  it('cancels the upstream call when its only caller disconnects', async () => {
    svc.sandbox.faults.clear();
    svc.sandbox.faults.add({ fault: { kind: 'latency', ms: 600 }, path: SEARCH });
    const aborted = 'nextech_upstream_request_duration_seconds_count{endpoint="patient-search",outcome="aborted"}';
    const before = sample(await metricsText(svc.origin), aborted);
    const since = Date.now();
    const leaving = new AbortController();
    const gone = fetch(`${svc.fhir}/Patient?family=okafor`, { signal: leaving.signal }).catch(() => 'aborted');
    setTimeout(() => leaving.abort(), 100);
    expect(await gone).toBe('aborted');
    await vi.waitFor(async () => expect(sample(await metricsText(svc.origin), aborted)).toBe(before + 1), { timeout: 2000, interval: 50 });
    // The sandbox logs the cancelled call when its latency ends: wait for it, one attempt and
    // no retry, so it never lands in the call log of the test that runs next.
    await vi.waitFor(() => expect(attempts(since)).toBe(1), { timeout: 2000, interval: 50 });
    svc.sandbox.faults.clear();
  });
});

describe('circuit breaker', () => {
  it('fails fast with 503 and Retry-After once open, then probes after the cool-off', async () => {
    const own = await startTestService({ NEXTECH_BREAKER_THRESHOLD: '3', NEXTECH_BREAKER_COOLOFF_SECONDS: '1', NEXTECH_RETRIES: '0' });
    try {
      own.sandbox.faults.add({ fault: { kind: 'status', status: 503 }, path: SEARCH });
      // Nextech's health, not one search's: three different searches (the threshold) fail.
      for (const family of ['smith', 'jones', 'brown']) await expectOutcome(`${own.fhir}/Patient?family=${family}`, 502);
      own.sandbox.resetCalls();
      const open = await expectOutcome(`${own.fhir}/Patient?family=smith`, 503);
      expect(open.issue.code).toBe('transient');
      expect(Number(open.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(own.sandbox.calls).toHaveLength(0);
      // Other endpoints of the practice are separate circuits.
      expect((await fhirFetch(`${own.fhir}/metadata`)).status).toBe(200);
      own.sandbox.faults.clear();
      await new Promise((r) => setTimeout(r, 1100));
      expect((await fhirFetch(`${own.fhir}/Patient?family=smith`)).status).toBe(200);
      expect((await fhirFetch(`${own.fhir}/Patient?family=smith`)).status).toBe(200);
      const metrics = await (await fetch(`${own.origin}/metrics`)).text();
      expect(metrics).toContain('nextech_circuit_state{endpoint="patient-search"} 0');
    } finally {
      await own.close();
    }
  });
});

describe('metrics', () => {
  // Counts what this test itself causes (deltas), so it holds whichever tests ran before it.
  it('exposes request and upstream metrics with no patient data in labels', async () => {
    const series = {
      requests: 'fhir_http_request_duration_seconds_count{route="/fhir/Patient",method="GET",status="200"}',
      upstreamOk: 'nextech_upstream_request_duration_seconds_count{endpoint="patient-search",outcome="ok"}',
      retries: 'nextech_upstream_retries_total{endpoint="patient-search",reason="server-error"}',
      coalesced: 'nextech_coalesced_calls_total{endpoint="patient-search"}',
    };
    const before = await metricsText(svc.origin);
    svc.sandbox.faults.clear();
    // One 503, retried: one retry, one request answered 200.
    svc.sandbox.faults.add({ fault: { kind: 'status', status: 503 }, times: 1, path: SEARCH });
    expect((await fhirFetch(`${svc.fhir}/Patient?family=smith`)).status).toBe(200);
    // Two identical searches while the first is in flight: the second joins it.
    svc.sandbox.faults.add({ fault: { kind: 'latency', ms: 300 }, path: SEARCH });
    const both = await Promise.all([fhirFetch(`${svc.fhir}/Patient?family=smith`), fhirFetch(`${svc.fhir}/Patient?family=smith`)]);
    svc.sandbox.faults.clear();
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    const text = await metricsText(svc.origin);
    expect(delta(before, text, series.requests)).toBe(3);
    expect(delta(before, text, series.upstreamOk)).toBe(2);
    expect(delta(before, text, series.retries)).toBe(1);
    expect(delta(before, text, series.coalesced)).toBe(1);
    // The managed token this service has used since it started.
    expect(sample(text, 'nextech_token_refreshes_total{result="ok"}')).toBeGreaterThanOrEqual(1);
    expect(text.toLowerCase()).not.toContain('smith');
  });
});
