/**
 * Fairness between callers who share one Nextech credential: anonymous callers and every
 * Backend Services client all spend the service's managed budget. One caller flooding gets
 * its fair share and quick 429s for its excess; another caller's single reads reach Nextech
 * within a few upstream calls of being sent. Judged by the order of arrivals in the
 * sandbox's call log, never by wall-clock times.
 */
import type { Bundle } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedCall } from '../src/sandbox/index.ts';
import { clientKeyPair, signAssertion, tokenForm, type ClientKeyPair } from './helpers/backend.ts';
import { delta, metricsText } from './helpers/metrics.ts';
import { fhirFetch, startTestService, type FhirResponse, type TestService } from './helpers/service.ts';
import { arrivalsAhead, busiestSecond } from './helpers/upstream-rate.ts';

/** The default per-caller queue: three windows' worth of Nextech's 20 per second. */
const QUEUE_BOUND = 60;

let svc: TestService;
const tokens: Record<string, string> = {};

async function systemToken(clientId: string, keys: ClientKeyPair): Promise<string> {
  const assertion = await signAssertion({ clientId, tokenEndpoint: `${svc.origin}/auth/token`, privateKey: keys.privateKey, kid: keys.kid, alg: keys.alg });
  const res = await fetch(`${svc.origin}/auth/token`, { method: 'POST', body: tokenForm(assertion, 'system/Patient.rs') });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

beforeAll(async () => {
  const keys = { hie: await clientKeyPair('ES384'), lab: await clientKeyPair('ES384') };
  svc = await startTestService({
    BACKEND_CLIENTS: JSON.stringify(Object.entries(keys).map(([id, k]) => ({ client_id: id, jwks: k.jwks, practices: ['1001'] }))),
  });
  for (const [id, k] of Object.entries(keys)) tokens[id] = await systemToken(id, k);
});
afterAll(() => svc.close());

/** Headers for a caller: a Backend Services client, or anonymous (no Authorization). */
const as = (caller: string): RequestInit => (caller === 'anonymous' ? {} : { headers: { authorization: `Bearer ${tokens[caller]}` } });

interface Flood {
  responses: Promise<FhirResponse<Bundle>[]>;
  /** Requests of the flood not answered yet. */
  pending(): number;
  /** For each 429: upstream calls the sandbox had seen when it came. */
  refusedAt: number[];
}

/** `count` concurrent searches with distinct terms (`{prefix}{i}`), so coalescing merges none. */
function flood(caller: string, prefix: string, count: number): Flood {
  let answered = 0;
  const refusedAt: number[] = [];
  const responses = Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const res = await fhirFetch<Bundle>(`${svc.fhir}/Patient?family=${prefix}${i}`, as(caller));
      answered++;
      if (res.status === 429) refusedAt.push(svc.sandbox.calls.length);
      return res;
    }),
  );
  return { responses, pending: () => count - answered, refusedAt };
}

/**
 * Reads patients one after another as `caller`, each while the floods still wait; returns,
 * per read, how many upstream calls arrived after it was sent and before its own call.
 */
async function readsDuring(caller: string, ids: string[], floods: Flood[]): Promise<number[]> {
  const ahead: number[] = [];
  for (const id of ids) {
    const sent = Date.now();
    const res = await fhirFetch(`${svc.fhir}/Patient/${id}`, as(caller));
    expect(res.status).toBe(200);
    // The floods were still queued when the read came back: it did not wait for them.
    for (const f of floods) expect(f.pending()).toBeGreaterThan(5);
    const mine = svc.sandbox.calls.filter((c) => c.receivedAt >= sent && !isFloodTerm(c));
    expect(mine).toHaveLength(1);
    ahead.push(arrivalsAhead(svc.sandbox.calls, mine[0] as RecordedCall, sent));
  }
  return ahead;
}

const isFloodTerm = (c: RecordedCall) => /^(zz|yy)\d+$/.test(c.query.term ?? '');

/** Waits until the sandbox has seen `n` calls: the flood is being served. */
async function upstreamCalls(n: number): Promise<void> {
  while (svc.sandbox.calls.length < n) await new Promise((r) => setTimeout(r, 5));
}

/** Patient ids of practice 1001 to read, found before the flood. */
async function patientIds(n: number): Promise<string[]> {
  const { body } = await fhirFetch<Bundle>(`${svc.fhir}/Patient?family=smith&_count=${n}`, as('hie'));
  const ids = (body.entry ?? []).map((e) => e.resource?.id ?? '');
  expect(ids.length).toBe(n);
  return ids;
}

/** Every flood answer is a 200 or our own 429 with Retry-After; returns how many were 429. */
function refusals(responses: FhirResponse<Bundle>[]): number {
  for (const r of responses) expect([200, 429]).toContain(r.status);
  const refused = responses.filter((r) => r.status === 429);
  for (const r of refused) {
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'throttled' }] });
  }
  return refused.length;
}

describe('fairness between callers of one Nextech credential', () => {
  it('sends a Backend Services client’s reads upstream within a round of turns while an anonymous caller floods, and refuses the flood’s excess at once', async () => {
    const ids = await patientIds(5);
    const before = await metricsText(svc.origin);
    svc.sandbox.resetCalls();
    const a = flood('anonymous', 'zz', 100);
    await upstreamCalls(3);
    const ahead = await readsDuring('hie', ids, [a]);
    // Two callers take turns: at most the flood's call already on its way and its next turn.
    for (const n of ahead) expect(n).toBeLessThanOrEqual(2 * 2);
    const responses = await a.responses;
    // The flood's excess was refused on arrival, while its queue still waited — not after queueing.
    const refused = refusals(responses);
    expect(refused).toBeGreaterThanOrEqual(100 - QUEUE_BOUND - 10);
    expect(100 - refused).toBeGreaterThanOrEqual(QUEUE_BOUND - 10);
    expect(a.refusedAt).toHaveLength(refused);
    for (const seen of a.refusedAt) expect(seen).toBeLessThan(QUEUE_BOUND / 2);
    // Nextech saw every admitted call, none refused, never over its limit.
    const calls = svc.sandbox.calls;
    expect(calls.filter(isFloodTerm)).toHaveLength(100 - refused);
    expect(calls.filter((c) => c.status === 429)).toHaveLength(0);
    expect(busiestSecond(calls.map((c) => c.receivedAt))).toBeLessThanOrEqual(20);
    expect(delta(before, await metricsText(svc.origin), 'nextech_rate_budget_refusals_total{endpoint="patient-search"}')).toBe(refused);
  });

  it('sends anonymous reads upstream within a round of three callers while two Backend Services clients flood', async () => {
    const ids = await patientIds(5);
    svc.sandbox.resetCalls();
    const floods = [flood('hie', 'zz', 60), flood('lab', 'yy', 60)];
    await upstreamCalls(3);
    const ahead = await readsDuring('anonymous', ids, floods);
    for (const n of ahead) expect(n).toBeLessThanOrEqual(2 * 3);
    const [hie, lab] = await Promise.all(floods.map((f) => f.responses));
    // Each flooding client got a fair share of the admissions and quick 429s for the rest.
    const admitted = [hie, lab].map((rs) => (rs ?? []).length - refusals(rs ?? []));
    for (const n of admitted) expect(n).toBeGreaterThanOrEqual(30);
    for (const f of floods) for (const seen of f.refusedAt) expect(seen).toBeLessThan(QUEUE_BOUND / 2);
    const calls = svc.sandbox.calls;
    expect(calls.filter((c) => c.status === 429)).toHaveLength(0);
    expect(busiestSecond(calls.map((c) => c.receivedAt))).toBeLessThanOrEqual(20);
  });
});
