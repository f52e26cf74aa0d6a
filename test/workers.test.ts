/**
 * WORKERS=2 (issue 11): the production entry as a cluster of two worker processes behind one
 * port, without Redis — the primary holds the state they share. It answers as one worker
 * does, prints one banner, its metrics add up, its workers share one rate budget and one
 * memory of spent assertions, and SIGTERM drains both before the process exits.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Bundle } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../src/dev/soak/service-process.ts';
import { startSandbox, type RunningSandbox } from '../src/sandbox/index.ts';
import { sandboxNextechEnv } from '../src/dev/sandbox-env.ts';
import { clientKeyPair, signAssertion, tokenForm, type ClientKeyPair } from './helpers/backend.ts';
import { freePort } from './helpers/real-servers.ts';
import { busiestSecond } from './helpers/upstream-rate.ts';

const RATE = 10;
let upstream: RunningSandbox;
let one: ServiceProcess;
let two: ServiceProcess;
let twoLines: string[];
let backend: ClientKeyPair;
let twoPort: number;

function env(workers: number, port: number): Record<string, string> {
  return {
    ...sandboxNextechEnv(upstream),
    NEXTECH_RATE_LIMIT_PER_SECOND: String(RATE),
    RESOURCE_ID_KEY: 'workers test resource id key, 32+ characters',
    SMART_KEY: 'workers test token key, at least 32 characters',
    BACKEND_CLIENTS: JSON.stringify([{ client_id: 'hie', jwks: { keys: [backend.publicJwk] }, practices: ['1001'], scope: 'system/*.rs' }]),
    ANONYMOUS_ACCESS: 'true',
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    WORKERS: String(workers),
    SHUTDOWN_GRACE_SECONDS: '10',
    LOG_LEVEL: 'info',
  };
}

/** The pids of a process's children (Linux). */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(/\s+/).map(Number);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function json<T>(url: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init);
  return { status: res.status, body: (await res.json()) as T };
}

beforeAll(async () => {
  upstream = await startSandbox({ port: 0, rateLimitPerSecond: RATE });
  backend = await clientKeyPair('ES384', 'hie-key');
  const onePort = await freePort();
  twoPort = await freePort();
  twoLines = [];
  [one, two] = await Promise.all([
    startServiceProcess({ env: env(1, onePort), port: onePort }),
    startServiceProcess({ env: env(2, twoPort), port: twoPort, onLine: (l) => twoLines.push(l) }),
  ]);
}, 60_000);
afterAll(async () => {
  await Promise.all([one?.stop(), two?.stop()]);
  await upstream?.close();
});

describe('WORKERS=2 without Redis', () => {
  it('runs two worker processes behind one port and prints one banner', () => {
    expect(childrenOf(two.pid)).toHaveLength(2);
    expect(twoLines.filter((l) => l.startsWith('FHIR base: '))).toHaveLength(1);
    expect(twoLines).toContain('Workers: 2 processes (WORKERS), one port');
  });

  it('gives the same answers as one worker', async () => {
    for (const path of ['/fhir/Patient?name=smith&_count=5', '/fhir/Patient?family=nunez', '/fhir/metadata']) {
      const [a, b] = await Promise.all([json<Bundle>(`${one.origin}${path}`), json<Bundle>(`${two.origin}${path}`)]);
      expect(b.status).toBe(a.status);
      // Bundles differ in their own id, timestamp and base; their resources are the same.
      const strip = (x: Bundle) => JSON.stringify((x.entry ?? []).map((e) => e.resource)).replaceAll(one.origin, two.origin);
      expect(strip(b.body)).toBe(strip(a.body));
    }
  });

  it('adds up the metrics of both workers', async () => {
    const count = async () => {
      const res = await fetch(`${two.origin}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      return [...text.matchAll(/^fhir_http_request_duration_seconds_count\{[^}]*route="\/fhir\/Patient"[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const before = await count();
    // New connections each time, so both workers serve some of them.
    await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${two.origin}/fhir/Patient?name=m${i}`, { headers: { connection: 'close' } }).then((r) => r.arrayBuffer())));
    expect((await count()) - before).toBe(20);
  });

  it('shares one rate budget and one memory of spent assertions between the workers', async () => {
    await new Promise((r) => setTimeout(r, 1_200));
    const since = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: 60 }, (_, i) => fetch(`${two.origin}/fhir/Patient?name=w${i}x${randomUUID().slice(0, 6)}`, { headers: { connection: 'close' } }).then((r) => r.status)),
    );
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    const calls = upstream.sandbox.calls.filter((c) => c.receivedAt >= since);
    expect(busiestSecond(calls.map((c) => c.receivedAt))).toBeLessThanOrEqual(RATE);
    expect(calls.filter((c) => c.status === 429)).toEqual([]);

    const assertion = await signAssertion({ clientId: 'hie', tokenEndpoint: `${two.origin}/auth/token`, privateKey: backend.privateKey, kid: 'hie-key', alg: 'ES384' });
    const form = tokenForm(assertion, 'system/Patient.rs').toString();
    const post = () =>
      fetch(`${two.origin}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' }, body: form }).then((r) => r.status);
    // Connections go to the workers in turn: the replays reach both.
    const replies = [await post(), await post(), await post(), await post()];
    expect(replies).toEqual([200, 401, 401, 401]);
  }, 30_000);

  it('drains both workers on SIGTERM: a request in flight is answered, then every process exits', async () => {
    const workers = childrenOf(two.pid);
    upstream.sandbox.faults.add({ fault: { kind: 'latency', ms: 1_500 }, path: '/ehr/api/search', times: 1 });
    const since = Date.now();
    const slow = fetch(`${two.origin}/fhir/Patient?name=slow${randomBytes(3).toString('hex')}`).then((r) => r.status);
    while (!upstream.sandbox.calls.some((c) => c.receivedAt >= since)) await new Promise((r) => setTimeout(r, 20));
    const stopped = two.stop(15_000);
    expect(await slow).toBe(200);
    await stopped;
    expect(alive(two.pid)).toBe(false);
    for (const pid of workers) expect(alive(pid)).toBe(false);
  }, 30_000);
});
