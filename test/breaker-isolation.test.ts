/**
 * Issue 9, item 1: the circuit breaker trips on Nextech's health, not on one record's. Over
 * real HTTP (the real app and sandbox): patients failing in every way the sandbox can fail
 * leave every other patient's searches at 200; a real outage (503 everywhere, or nothing
 * listening) still opens the circuit within a few requests and closes after the probe; a
 * broken record is not asked for twice within the negative cache's TTL. Then the rule itself,
 * on a clock the test moves. Nothing here asserts on wall-clock time: calls and statuses.
 */
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import type { Bundle } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logging.ts';
import { Breakers, type CallOutcome } from '../src/source/nextech/breaker.ts';
import { startService } from '../src/server.ts';
import {
  createSandbox,
  SANDBOX_CLIENT_ID,
  SANDBOX_CLIENT_SECRET,
  SANDBOX_RESOURCE,
  type Fault,
  type Sandbox,
  type SandboxPatient,
} from '../src/sandbox/index.ts';
import { patientFhirId } from './helpers/encounters.ts';
import { expectOutcome, fhirFetch, startTestService, TEST_RESOURCE_ID_KEY, type TestService } from './helpers/service.ts';

const encounterPath = (p: SandboxPatient) => `/ehr/api/${p.patientId}/encounters/search`;
const callsTo = (sandbox: Sandbox, path: string) => sandbox.calls.filter((c) => c.path === path).length;
const searches = (fhir: string, id: string) => [`${fhir}/Encounter?patient=${id}`, `${fhir}/DocumentReference?patient=${id}`];
const statusOf = async (url: string) => (await fhirFetch(url)).status;
const metricsOf = async (origin: string) => (await fetch(`${origin}/metrics`)).text();
const OPENED = /nextech_circuit_state\{endpoint="[a-z-]+"\} [12]/;

/** Every way one patient's record can fail, and what the facade answers for it. */
const FAILING: { name: string; fault: Fault; status: number }[] = [
  { name: 'HTTP 500', fault: { kind: 'status', status: 500 }, status: 502 },
  { name: 'HTTP 503', fault: { kind: 'status', status: 503 }, status: 502 },
  { name: '429 for the token', fault: { kind: 'rate-limit', retryAfter: '120' }, status: 429 },
  { name: 'malformed JSON', fault: { kind: 'malformed-json' }, status: 502 },
  { name: 'a schema-breaking body', fault: { kind: 'schema-break' }, status: 502 },
  { name: 'a connection reset', fault: { kind: 'reset' }, status: 502 },
  { name: 'a truncated body', fault: { kind: 'truncate' }, status: 502 },
  { name: 'a slow drip past the deadline', fault: { kind: 'slow-drip', chunkBytes: 16, intervalMs: 500 }, status: 504 },
];

/**
 * Ids of several patients from one upstream call (a family search), so the window holds a
 * single success before the outage: each later patient read is a failure of its own subject.
 */
async function idsFromOneSearch(fhir: string): Promise<string[]> {
  const { body } = await fhirFetch<Bundle>(`${fhir}/Patient?family=smith&_count=10`);
  const ids = (body.entry ?? []).flatMap((e) => (e.resource?.id === undefined ? [] : [e.resource.id]));
  expect(ids).toHaveLength(10);
  return ids;
}

/** Patients of the default practice with encounters, so every fault has a real body to break. */
const patientsWithEncounters = (sandbox: Sandbox) => (sandbox.data.practices[0]?.patients ?? []).filter((p) => p.encounters.length > 0);

describe('one patient’s failures never degrade the others', () => {
  let svc: TestService;
  beforeAll(async () => {
    // Default breaker settings; a short deadline so the slow patient times out quickly.
    svc = await startTestService({ NEXTECH_TIMEOUT_SECONDS: '3' });
  });
  afterAll(() => svc.close());

  it('answers every healthy Encounter and DocumentReference search 200 while eight patients fail in eight ways, repeatedly and concurrently', async () => {
    const pool = patientsWithEncounters(svc.sandbox);
    const failing = pool.slice(0, FAILING.length);
    const healthy = pool.slice(FAILING.length, FAILING.length + 12);
    const ids = new Map<SandboxPatient, string>();
    for (const p of [...failing, ...healthy]) ids.set(p, await patientFhirId(svc.fhir, p));
    const id = (p: SandboxPatient) => ids.get(p) ?? '';
    failing.forEach((p, i) => svc.sandbox.faults.add({ fault: FAILING[i]?.fault ?? { kind: 'reset' }, path: encounterPath(p) }));
    svc.sandbox.resetCalls();

    const healthyStatuses: number[] = [];
    const failingStatuses = new Map<string, number[]>(FAILING.map((f) => [f.name, []]));
    for (let round = 0; round < 3; round++) {
      // New healthy patients each round (so their calls reach Nextech), and the earlier ones again.
      const healthyNow = healthy.slice(0, 4 * (round + 1));
      const work = [
        ...failing.flatMap((p, i) =>
          [...searches(svc.fhir, id(p)), ...searches(svc.fhir, id(p))].map(async (url) => {
            failingStatuses.get(FAILING[i]?.name ?? '')?.push(await statusOf(url));
          }),
        ),
        ...healthyNow.flatMap((p) => searches(svc.fhir, id(p)).map(async (url) => healthyStatuses.push(await statusOf(url)))),
      ];
      await Promise.all(work);
    }

    expect(healthyStatuses).toHaveLength(2 * (4 + 8 + 12));
    expect(healthyStatuses.every((s) => s === 200)).toBe(true);
    for (const f of FAILING) {
      const got = failingStatuses.get(f.name) ?? [];
      expect(got, f.name).toHaveLength(12);
      expect(new Set(got), f.name).toEqual(new Set([f.status]));
    }
    // Every healthy patient's encounters came from Nextech, and no circuit ever left closed.
    for (const p of healthy) expect(svc.sandbox.calls.some((c) => c.path === encounterPath(p) && c.status === 200)).toBe(true);
    expect(await metricsOf(svc.origin)).not.toMatch(OPENED);
    svc.sandbox.faults.clear();
  });

  it('asks Nextech once for a broken record that is requested again within the negative cache TTL', async () => {
    const [broken, schemaBroken] = patientsWithEncounters(svc.sandbox).slice(30, 32);
    if (!broken || !schemaBroken) throw new Error('not enough patients');
    const brokenId = await patientFhirId(svc.fhir, broken);
    const schemaId = await patientFhirId(svc.fhir, schemaBroken);
    svc.sandbox.faults.add({ fault: { kind: 'status', status: 500 }, path: encounterPath(broken) });
    svc.sandbox.faults.add({ fault: { kind: 'schema-break' }, path: encounterPath(schemaBroken) });
    svc.sandbox.resetCalls();
    for (let i = 0; i < 4; i++) {
      expect((await expectOutcome(`${svc.fhir}/Encounter?patient=${brokenId}`, 502)).issue.code).toBe('transient');
      expect((await expectOutcome(`${svc.fhir}/Encounter?patient=${schemaId}`, 502)).issue.code).toBe('exception');
    }
    expect(callsTo(svc.sandbox, encounterPath(broken))).toBe(1);
    expect(callsTo(svc.sandbox, encounterPath(schemaBroken))).toBe(1);
    // A 429 is the caller's answer to see and retry, never remembered.
    const [limited] = patientsWithEncounters(svc.sandbox).slice(32, 33);
    if (!limited) throw new Error('not enough patients');
    const limitedId = await patientFhirId(svc.fhir, limited);
    svc.sandbox.faults.add({ fault: { kind: 'rate-limit', retryAfter: '120' }, path: encounterPath(limited) });
    for (let i = 0; i < 2; i++) await expectOutcome(`${svc.fhir}/Encounter?patient=${limitedId}`, 429);
    expect(callsTo(svc.sandbox, encounterPath(limited))).toBe(2);
    svc.sandbox.faults.clear();
  });
});

describe('a real outage still opens the circuit', () => {
  it('opens within a few requests when Nextech answers 503 to everything, stops calling it, and closes after the probe', async () => {
    const own = await startTestService({ NEXTECH_BREAKER_COOLOFF_SECONDS: '1' });
    try {
      const ids = await idsFromOneSearch(own.fhir);
      own.sandbox.faults.add({ fault: { kind: 'status', status: 503 } });
      const statuses: number[] = [];
      for (const id of ids) {
        const res = await fhirFetch(`${own.fhir}/Encounter?patient=${id}`);
        statuses.push(res.status);
        if (res.status === 503) {
          expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
          break;
        }
      }
      // Five patients' failures (the default threshold, and over half the window), then open.
      expect(statuses).toEqual([502, 502, 502, 502, 502, 503]);
      own.sandbox.resetCalls();
      for (const id of ids.slice(6)) await expectOutcome(`${own.fhir}/Encounter?patient=${id}`, 503);
      expect(own.sandbox.calls).toHaveLength(0);
      expect(await metricsOf(own.origin)).toContain('nextech_circuit_state{endpoint="encounter-search"} 2');

      own.sandbox.faults.clear();
      await new Promise((r) => setTimeout(r, 1100));
      for (const id of ids) for (const url of searches(own.fhir, id)) expect(await statusOf(url)).toBe(200);
      expect(await metricsOf(own.origin)).toContain('nextech_circuit_state{endpoint="encounter-search"} 0');
    } finally {
      await own.close();
    }
  });

  it('opens within a few requests when Nextech refuses connections, and closes after the probe once it listens again', async () => {
    const sandbox = createSandbox();
    let server = await listen(sandbox, 0);
    const port = (server.address() as AddressInfo).port;
    const running = await startService(
      loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
        NEXTECH_BASE_URL: `http://127.0.0.1:${port}/ehr/api`,
        NEXTECH_PRACTICE_ID: '1001',
        NEXTECH_TOKEN_URL: `http://127.0.0.1:${port}/oauth2/token`,
        NEXTECH_CLIENT_ID: SANDBOX_CLIENT_ID,
        NEXTECH_CLIENT_SECRET: SANDBOX_CLIENT_SECRET,
        NEXTECH_RESOURCE: SANDBOX_RESOURCE,
        NEXTECH_REFRESH_TOKEN: sandbox.issueTokens().refreshToken,
        NEXTECH_BREAKER_COOLOFF_SECONDS: '1',
        ANONYMOUS_ACCESS: 'true',
        RESOURCE_ID_KEY: TEST_RESOURCE_ID_KEY,
      }),
      { logger: createLogger('silent'), port: 0 },
    );
    const fhir = `${running.origin}/fhir`;
    const connectionAttempts = async () =>
      Number(/nextech_upstream_request_duration_seconds_count\{endpoint="encounter-search",outcome="connection"\} (\d+)/.exec(await metricsOf(running.origin))?.[1] ?? 0);
    try {
      const ids = await idsFromOneSearch(fhir);
      await close(server);
      const statuses: number[] = [];
      for (const id of ids) {
        const status = await statusOf(`${fhir}/Encounter?patient=${id}`);
        statuses.push(status);
        if (status === 503) break;
      }
      expect(statuses).toEqual([502, 502, 502, 502, 502, 503]);
      const attempts = await connectionAttempts();
      expect(attempts).toBeGreaterThan(0);
      for (const id of ids.slice(6)) await expectOutcome(`${fhir}/Encounter?patient=${id}`, 503);
      expect(await connectionAttempts()).toBe(attempts);

      server = await listen(sandbox, port);
      await new Promise((r) => setTimeout(r, 1100));
      for (const id of ids) for (const url of searches(fhir, id)) expect(await statusOf(url)).toBe(200);
    } finally {
      await running.close();
      await close(server);
    }
  });
});

/** Serves a sandbox on a port (0 = any), so a test can stop it and bring it back on the same one. */
function listen(sandbox: Sandbox, port: number): Promise<ReturnType<typeof serve>> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: sandbox.app.fetch, port, hostname: '127.0.0.1' }, () => resolve(server));
    server.once('error', reject);
  });
}

function close(server: ReturnType<typeof serve>): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    if ('closeAllConnections' in server) server.closeAllConnections();
  });
}

describe('the breaker rule', () => {
  let clock = 0;
  const changes: string[] = [];
  const breakers = () => new Breakers({ threshold: 3, coolOffMs: 1000, now: () => clock, onChange: (_k, s) => changes.push(s) });
  const call = (b: Breakers, subject: string, outcome: CallOutcome, key = 'p\u0000e') => b.settle(b.admit(key, subject), outcome);

  it('never opens on one subject’s failures, however many', () => {
    const b = breakers();
    for (let i = 0; i < 100; i++) call(b, 'patient 1', 'health');
    expect(b.state('p\u0000e')).toBe('closed');
  });

  it('never opens on record or caller failures from many subjects', () => {
    const b = breakers();
    for (let i = 0; i < 50; i++) call(b, `patient ${i}`, i % 2 ? 'record' : 'neutral');
    expect(b.state('p\u0000e')).toBe('closed');
  });

  it('opens on health failures from `threshold` distinct subjects that are at least half the window', () => {
    const b = breakers();
    call(b, 'a', 'health');
    call(b, 'b', 'health');
    expect(b.state('p\u0000e')).toBe('closed');
    call(b, 'c', 'health');
    expect(b.state('p\u0000e')).toBe('open');
    expect(() => b.admit('p\u0000e', 'd')).toThrow('circuit open');
  });

  it('stays closed while successes keep health failures under half of the window', () => {
    const b = breakers();
    for (let i = 0; i < 10; i++) {
      call(b, `ok ${i}`, 'success');
      call(b, `ok ${i}b`, 'success');
      call(b, `bad ${i}`, 'health');
    }
    expect(b.state('p\u0000e')).toBe('closed');
  });

  it('forgets failures older than the window', () => {
    const b = breakers();
    clock = 0;
    call(b, 'a', 'health');
    call(b, 'b', 'health');
    clock = 31_000;
    call(b, 'c', 'health');
    expect(b.state('p\u0000e')).toBe('closed');
  });

  it('lets one probe through after the cool-off: success closes, a health failure reopens, anything else frees the slot', () => {
    const b = breakers();
    clock = 100_000;
    for (const s of ['a', 'b', 'c']) call(b, s, 'health');
    expect(() => b.admit('p\u0000e', 'x')).toThrow('circuit open');
    clock += 1000;
    const probe = b.admit('p\u0000e', 'x');
    expect(probe.probe).toBe(true);
    expect(() => b.admit('p\u0000e', 'y')).toThrow('circuit open');
    b.settle(probe, 'record');
    const second = b.admit('p\u0000e', 'y');
    expect(second.probe).toBe(true);
    b.settle(second, 'health');
    expect(b.state('p\u0000e')).toBe('open');
    clock += 1000;
    b.settle(b.admit('p\u0000e', 'z'), 'success');
    expect(b.state('p\u0000e')).toBe('closed');
    expect(changes.slice(-5)).toEqual(['half-open', 'half-open', 'open', 'half-open', 'closed']);
  });

  it('remembers a bounded number of circuits, and none for calls that only met refusals', () => {
    const b = breakers();
    for (const s of ['a', 'b', 'c']) call(b, s, 'health', 'first\u0000e');
    expect(b.allOpen()).toBe(true);
    for (let i = 0; i < 5000; i++) call(b, 'x', 'neutral', `random ${i}\u0000e`);
    expect(b.allOpen()).toBe(true);
    for (let i = 0; i < 1000; i++) call(b, 'x', 'success', `practice ${i}\u0000e`);
    expect(b.state('first\u0000e')).toBe('closed');
  });
});
