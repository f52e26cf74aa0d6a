/**
 * Scale-out (issue 11): two service processes (the production entry, configured as an
 * operator would) on one sandbox, behind a real HAProxy (round-robin per request), sharing
 * state in a real redis-server — all on loopback, started here from Debian's packages.
 * What must hold across replicas: one Nextech rate budget, one refresh per token expiry,
 * single-use SMART codes and Backend Services assertions; and when Redis goes away, both
 * replicas keep answering (refusing, for now, only what must be decided once for both), say so
 * in readiness, and share again when it returns.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../src/dev/soak/service-process.ts';
import { SANDBOX_CLIENT_ID, startSandbox, type RunningSandbox } from '../src/sandbox/index.ts';
import { sandboxNextechEnv } from '../src/dev/sandbox-env.ts';
import { clientKeyPair, signAssertion, tokenForm, type ClientKeyPair } from './helpers/backend.ts';
import { freePort, startHaproxy, startRedis, type RealBalancer, type RealRedis } from './helpers/real-servers.ts';
import { APP, launch, SMART_ENV, tokenCall } from './helpers/smart.ts';
import type { TestService } from './helpers/service.ts';
import { busiestSecond } from './helpers/upstream-rate.ts';
import { burstFromChild } from './helpers/burst.ts';
import { edgeCases } from '../src/sandbox/index.ts';
import { patientFhirId, sandboxPatient } from './helpers/encounters.ts';
import { fhirFetch } from './helpers/service.ts';
import type { Bundle } from 'fhir/r4';
import { Redis } from 'ioredis';

/** Every key and value in Redis, as one string (to look for what must not be there). */
async function redisDump(url: string): Promise<string> {
  const r = new Redis(url);
  try {
    const keys = await r.keys('*');
    const read = async (k: string) => {
      const type = await r.type(k);
      if (type === 'hash') return JSON.stringify(await r.hgetall(k));
      // A client's ledger of live claims (codes, assertions): their keys.
      if (type === 'zset') return JSON.stringify(await r.zrange(k, '0', '-1'));
      return (await r.get(k)) ?? '';
    };
    const values = await Promise.all(keys.map(read));
    return keys.join('\n') + values.join('\n');
  } finally {
    r.disconnect();
  }
}

/** The names of the shared answers Redis holds now. */
async function answerKeys(url: string): Promise<Set<string>> {
  const r = new Redis(url);
  try {
    return new Set(await r.keys('*answer:*'));
  } finally {
    r.disconnect();
  }
}

const RATE = 10;

interface Deployment {
  upstream: RunningSandbox;
  redis: RealRedis;
  replicas: ServiceProcess[];
  lb: RealBalancer;
  /** Every line either replica wrote. */
  lines: string[];
  backend: ClientKeyPair;
  close(): Promise<void>;
}

/** Sandbox + Redis + two replicas + HAProxy, as compose.yaml runs them. */
async function deploy(sandboxOptions: { accessTokenTtlSeconds?: number } = {}): Promise<Deployment> {
  const upstream = await startSandbox({ port: 0, rateLimitPerSecond: RATE, ...sandboxOptions });
  const redis = await startRedis();
  const lbPort = await freePort();
  const lbOrigin = `http://127.0.0.1:${lbPort}`;
  upstream.sandbox.registerRedirectUri(SANDBOX_CLIENT_ID, `${lbOrigin}/auth/callback`);
  const backend = await clientKeyPair('ES384', 'hie-key');
  const env = {
    ...sandboxNextechEnv(upstream),
    NEXTECH_RATE_LIMIT_PER_SECOND: String(RATE),
    PUBLIC_BASE_URL: lbOrigin,
    RESOURCE_ID_KEY: randomBytes(32).toString('base64url'),
    SMART_KEY: randomBytes(32).toString('base64url'),
    ...SMART_ENV,
    BACKEND_CLIENTS: JSON.stringify([{ client_id: 'hie', jwks: { keys: [backend.publicJwk] }, practices: ['1001'], scope: 'system/Group.cruds system/*.rs' }]),
    // One volume for both, as the Kubernetes manifests and compose mount it: groups and export files.
    DATA_DIR: mkdtempSync(join(tmpdir(), 'facade-shared-data-')),
    ANONYMOUS_ACCESS: 'true',
    REDIS_URL: redis.url,
    SHARED_STATE_KEY: randomBytes(32).toString('base64url'),
    REPLICAS: '2',
    LOG_LEVEL: 'info',
  };
  const lines: string[] = [];
  // Each on a port of its own: their banners print the balancer's address (PUBLIC_BASE_URL).
  const ports = [await freePort(), await freePort()];
  const replicas = await Promise.all(ports.map((port) => startServiceProcess({ env, port, onLine: (l) => lines.push(l) })));
  const lb = await startHaproxy(
    lbPort,
    replicas.map((r) => r.origin),
  );
  return {
    upstream,
    redis,
    replicas,
    lb,
    lines,
    backend,
    close: async () => {
      await lb.close();
      await Promise.all(replicas.map((r) => r.stop()));
      await redis.close();
      await upstream.close();
    },
  };
}

const apiCalls = (d: Deployment, since: number) => d.upstream.sandbox.calls.filter((c) => c.receivedAt >= since && c.path.startsWith('/ehr/api/'));
const refreshCalls = (d: Deployment, since: number) => d.upstream.sandbox.tokenRequests.filter((c) => c.receivedAt >= since && c.grantType === 'refresh_token');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A GET's status; a request unanswered after 30 s counts as 0 (the assertions then say so). */
async function get(url: string, init: RequestInit = {}): Promise<number> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** A client assertion for the registered Backend Services client, for the token endpoint behind the balancer. */
const assertionFor = (d: Deployment) =>
  signAssertion({ clientId: 'hie', tokenEndpoint: `${d.lb.origin}/auth/token`, privateKey: d.backend.privateKey, kid: d.backend.publicJwk.kid ?? null, alg: 'ES384' });

const postToken = (origin: string, form: URLSearchParams) =>
  fetch(`${origin}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });

describe('two replicas behind HAProxy, sharing Redis', () => {
  let d: Deployment;
  beforeAll(async () => {
    d = await deploy();
  }, 60_000);
  afterAll(() => d?.close());

  it('spends one Nextech rate budget between them: of a burst of 200 searches, Nextech accepts one call per search answered and refuses next to none', async () => {
    await sleep(1_200);
    const since = Date.now();
    const terms = Array.from({ length: 200 }, (_, i) => `zq${i}x${randomUUID().slice(0, 6)}`);
    const statuses = await burstFromChild(terms.map((t) => `${d.lb.origin}/fhir/Patient?name=${t}`));
    const calls = apiCalls(d, since);
    // Answered at once or served: 429 (Retry-After) or 200, none 5xx.
    expect(new Set(statuses)).toEqual(new Set([200, 429]));
    // Each search's upstream calls (by its term) add up with its answer: one call Nextech accepted
    // for a 200, none for a 429 — and at most one Nextech refused before (the client waits its
    // Retry-After once, then the retry is served or finds the budget full).
    const seen = new Map<string, number[]>();
    for (const c of calls) seen.set(c.query.term ?? '', [...(seen.get(c.query.term ?? '') ?? []), c.status]);
    expect([...seen.keys()].every((t) => terms.includes(t))).toBe(true);
    terms.forEach((term, i) => {
      const own = seen.get(term) ?? [];
      expect(own.filter((s) => s === 200)).toHaveLength(statuses[i] === 200 ? 1 : 0);
      expect(own.filter((s) => s === 429).length).toBeLessThanOrEqual(1);
      expect(own.every((s) => s === 200 || s === 429)).toBe(true);
    });
    const accepted = calls.filter((c) => c.status === 200);
    expect(accepted.length).toBeGreaterThanOrEqual(RATE);
    // The ledger spaces the replicas' slots together (one per 1.1 s / RATE); Nextech counts
    // arrivals, and only a call that left its replica more than the 100 ms margin late (a
    // stalled process) can make an 11th in a second. Two replicas each spending the whole budget
    // would have about half their calls refused.
    expect(calls.filter((c) => c.status === 429).length).toBeLessThanOrEqual(2);
  }, 60_000);

  it('answers a next link made by one replica at the other from the shared listing, with no upstream call, and keeps Redis free of readable patient data', async () => {
    const [edge] = edgeCases('many-encounters', '1001');
    const patient = sandboxPatient(d.upstream.sandbox, '1001', edge?.patientId ?? 0);
    const [a, b] = d.replicas;
    const id = await patientFhirId(`${a?.origin ?? ''}/fhir`, patient);
    const first = await fhirFetch<Bundle>(`${a?.origin ?? ''}/fhir/Encounter?patient=${id}&_count=5`);
    expect(first.status).toBe(200);
    const next = first.body.link?.find((l) => l.relation === 'next')?.url ?? '';
    // The link names the balancer (PUBLIC_BASE_URL); follow it at the other replica itself.
    expect(next.startsWith(`${d.lb.origin}/fhir/Encounter?`)).toBe(true);
    // A sealed cursor (keyed from RESOURCE_ID_KEY, which the replicas share), not the search's values.
    expect(new URL(next).search).toMatch(/^\?_cursor=[A-Za-z0-9_-]+$/);
    await sleep(300);
    const before = d.upstream.sandbox.calls.length;
    const second = await fhirFetch<Bundle>(next.replace(d.lb.origin, b?.origin ?? ''));
    expect(second.status).toBe(200);
    expect(d.upstream.sandbox.calls.length).toBe(before);
    const ids = (x: Bundle) => (x.entry ?? []).map((e) => e.resource?.id);
    expect(ids(second.body)).toHaveLength(5);
    expect(ids(second.body).some((x) => ids(first.body).includes(x))).toBe(false);
    // What Redis holds: hashed keys, sealed values — no chart number, name or CCD text.
    const dump = await redisDump(d.redis.url);
    expect(dump.length).toBeGreaterThan(0);
    for (const secret of [patient.json.chartNumber, patient.json.lastName, String(patient.patientId)]) expect(dump.includes(secret)).toBe(false);
  }, 30_000);

  it('refuses a SMART authorization code replayed at the other replica', async () => {
    const viaLb = { origin: d.lb.origin, fhir: `${d.lb.origin}/fhir` } as TestService;
    const { code, verifier } = await launch(viaLb, 'launch/patient patient/*.rs');
    const form = { grant_type: 'authorization_code', code, redirect_uri: APP.redirectUri, client_id: APP.clientId, code_verifier: verifier };
    // The launch redeemed it at one of them; at each replica directly it is now refused.
    for (const r of d.replicas) {
      const res = await tokenCall({ ...viaLb, origin: r.origin }, form);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_grant', error_description: 'the code was already used' });
    }
  }, 30_000);

  it('revokes a sign-in on every replica when its refresh token is replayed at another one', async () => {
    const viaLb = { origin: d.lb.origin, fhir: `${d.lb.origin}/fhir` } as TestService;
    const { token } = await launch(viaLb, 'launch/patient patient/*.rs offline_access');
    const [a, b] = d.replicas;
    const renewed = await tokenCall({ ...viaLb, origin: a?.origin ?? '' }, { grant_type: 'refresh_token', refresh_token: token.refresh_token ?? '' });
    expect(renewed.status).toBe(200);
    const next = (await renewed.json()) as { access_token: string };
    const read = (origin: string) => get(`${origin}/fhir/Patient/${token.patient ?? ''}`, { headers: { authorization: `Bearer ${next.access_token}` } });
    expect(await read(a?.origin ?? '')).toBe(200);
    // The old refresh token again, at the other replica: a thief or a replay.
    const replay = await tokenCall({ ...viaLb, origin: b?.origin ?? '' }, { grant_type: 'refresh_token', refresh_token: token.refresh_token ?? '' });
    expect(replay.status).toBe(400);
    // Both replicas now refuse the sign-in's access token.
    expect(await read(a?.origin ?? '')).toBe(401);
    expect(await read(b?.origin ?? '')).toBe(401);
  }, 30_000);

  it('keeps groups in Redis, sealed, for both replicas: written at one, changed at the other, one of two racing updates wins', async () => {
    const [a, b] = d.replicas;
    const token = async (origin: string) => ((await (await postToken(origin, tokenForm(await assertionFor(d), 'system/Group.cruds system/Patient.rs'))).json()) as { access_token: string }).access_token;
    const ta = await token(a?.origin ?? '');
    const tb = await token(b?.origin ?? '');
    const headers = (t: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/fhir+json', ...extra });
    const row = d.upstream.sandbox.data.practices[0]!.patients[7]!;
    const pid = await patientFhirId(`${a?.origin ?? ''}/fhir`, sandboxPatient(d.upstream.sandbox, '1001', row.patientId));
    const body = (name: string) => JSON.stringify({ resourceType: 'Group', type: 'person', actual: true, name, member: [{ entity: { identifier: { value: row.json.chartNumber } } }] });
    const created = await fhirFetch<{ id: string }>(`${a?.origin ?? ''}/fhir/Group`, { method: 'POST', headers: headers(ta), body: body('cohort-shared') });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const read = await fhirFetch<{ member: { entity: { reference: string } }[] }>(`${b?.origin ?? ''}/fhir/Group/${id}`, { headers: headers(tb) });
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe('W/"1"');
    expect(read.body.member).toEqual([{ entity: { reference: `Patient/${pid}` } }]);
    // Two updates of version 1 at once, one at each replica: exactly one becomes version 2.
    const put = (origin: string, t: string, name: string) =>
      fetch(`${origin}/fhir/Group/${id}`, { method: 'PUT', headers: headers(t, { 'if-match': 'W/"1"' }), body: JSON.stringify({ ...JSON.parse(body(name)), id }) });
    const raced = await Promise.all([put(a?.origin ?? '', ta, 'renamed-at-replica-a'), put(b?.origin ?? '', tb, 'renamed-at-replica-b')]);
    const statuses = raced.map((r) => r.status);
    expect(statuses.filter((x) => x === 200)).toHaveLength(1);
    // The loser's precondition (If-Match: version 1) failed.
    expect(statuses.find((x) => x !== 200)).toBe(412);
    const now = await fhirFetch<{ name: string; meta: { versionId: string } }>(`${a?.origin ?? ''}/fhir/Group/${id}`, { headers: headers(ta) });
    expect(now.body.meta.versionId).toBe('2');
    const winner = raced[0]?.status === 200 ? 'renamed-at-replica-a' : 'renamed-at-replica-b';
    expect(now.body.name).toBe(winner);
    // Nothing readable in Redis: not the name, the chart number, nor the Patient id.
    const dump = await redisDump(d.redis.url);
    expect(dump).toContain(`groups:1001`);
    // (Strings shorter than 6 characters turn up by chance in base64 and hashed key names.)
    const secrets = ['cohort-shared', winner, row.json.chartNumber, pid, row.json.lastName].filter((x) => x.length >= 6);
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    for (const secret of secrets) expect(dump.includes(secret), secret).toBe(false);
    // Deleted at b: gone at a.
    expect((await fetch(`${b?.origin ?? ''}/fhir/Group/${id}`, { method: 'DELETE', headers: headers(tb, { 'if-match': 'W/"2"' }) })).status).toBe(204);
    expect((await fetch(`${a?.origin ?? ''}/fhir/Group/${id}`, { headers: headers(ta) })).status).toBe(404);
  }, 60_000);

  it('answers a bulk export\'s status and files from either replica (shared DATA_DIR), the job run by one', async () => {
    const [a, b] = d.replicas;
    const systemToken = async (origin: string, scope: string) => {
      const res = await postToken(origin, tokenForm(await assertionFor(d), scope));
      return ((await res.json()) as { access_token: string }).access_token;
    };
    const t = await systemToken(a?.origin ?? '', 'system/Group.cruds system/*.rs');
    const rows = d.upstream.sandbox.data.practices[0]!.patients.slice(0, 4);
    const ids = await Promise.all(rows.map((p) => patientFhirId(`${a?.origin ?? ''}/fhir`, sandboxPatient(d.upstream.sandbox, '1001', p.patientId))));
    const group = await fhirFetch<{ id: string }>(`${a?.origin ?? ''}/fhir/Group`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Group', type: 'person', actual: true, member: ids.map((id) => ({ entity: { reference: `Patient/${id}` } })) }),
    });
    expect(group.status).toBe(201);
    const answersBefore = await answerKeys(d.redis.url);
    const kick = await fetch(`${a?.origin ?? ''}/fhir/Group/${group.body.id}/$export?_type=Patient,Encounter`, { headers: { authorization: `Bearer ${t}`, prefer: 'respond-async' } });
    expect(kick.status).toBe(202);
    // The status URL names the balancer; ask replica b itself.
    const status = (kick.headers.get('content-location') ?? '').replace(d.lb.origin, b?.origin ?? '');
    let manifest: { output: { type: string; url: string; count: number }[] } | undefined;
    for (let i = 0; i < 300 && !manifest; i++) {
      const res = await fetch(status, { headers: { authorization: `Bearer ${t}` } });
      if (res.status === 200) manifest = (await res.json()) as typeof manifest;
      else {
        expect(res.status).toBe(202);
        await sleep(200);
      }
    }
    const patientsFile = manifest?.output.find((o) => o.type === 'Patient');
    expect(patientsFile?.count).toBe(4);
    for (const origin of [a?.origin ?? '', b?.origin ?? '']) {
      const file = await fetch((patientsFile?.url ?? '').replace(d.lb.origin, origin), { headers: { authorization: `Bearer ${t}` } });
      expect(file.status).toBe(200);
      expect((await file.text()).trimEnd().split('\n')).toHaveLength(4);
    }
    // It ran once: one replica finished it.
    await sleep(300);
    expect(d.lines.filter((l) => l.includes('"msg":"bulk export job done"'))).toHaveLength(1);
    // Its answers were the job's alone: none was shared through Redis (nobody else could ask for them).
    expect([...(await answerKeys(d.redis.url))].filter((k) => !answersBefore.has(k))).toEqual([]);
  }, 60_000);

  it('refuses a Backend Services assertion replayed at the other replica', async () => {
    const form = tokenForm(await assertionFor(d), 'system/Patient.rs');
    const [a, b] = d.replicas;
    expect((await postToken(a?.origin ?? '', form)).status).toBe(200);
    const replay = await postToken(b?.origin ?? '', form);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('keeps answering when Redis stops, says so in readiness and metrics, and shares again when it is back', async () => {
    const [a, b] = d.replicas;
    const wt = ((await (await postToken(a?.origin ?? '', tokenForm(await assertionFor(d), 'system/Group.cruds'))).json()) as { access_token: string }).access_token;
    const kept = await fhirFetch<{ id: string }>(`${a?.origin ?? ''}/fhir/Group`, {
      method: 'POST',
      headers: { authorization: `Bearer ${wt}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Group', type: 'person', actual: true, name: 'outlives-redis-restart' }),
    });
    expect(kept.status).toBe(201);
    const keptGroup = kept.body.id;
    // Tokens for the outage, minted while Redis answers: an assertion's single use is decided only there.
    const gt = ((await (await postToken(a?.origin ?? '', tokenForm(await assertionFor(d), 'system/Group.rs'))).json()) as { access_token: string }).access_token;
    const et = ((await (await postToken(a?.origin ?? '', tokenForm(await assertionFor(d), 'system/Group.rs system/Patient.rs'))).json()) as { access_token: string }).access_token;
    await d.redis.stop();
    const statuses = await Promise.all(Array.from({ length: 12 }, (_, i) => get(`${d.lb.origin}/fhir/Patient?name=down${i}`)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    for (const r of d.replicas) {
      const ready = await fetch(`${r.origin}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', degraded: [expect.stringMatching(/^shared-state: Redis unavailable/)] });
      expect(await (await fetch(`${r.origin}/metrics`)).text()).toMatch(/^facade_shared_state_degraded 1$/m);
    }
    // Alone, each replica takes half the budget: together they still stay under Nextech's limit.
    await sleep(1_200);
    const since = Date.now();
    const burst = await burstFromChild(Array.from({ length: 60 }, (_, i) => `${d.lb.origin}/fhir/Patient?name=alone${i}x${randomUUID().slice(0, 6)}`));
    expect(burst.every((x) => x === 200 || x === 429)).toBe(true);
    const calls = apiCalls(d, since);
    expect(busiestSecond(calls.map((c) => c.receivedAt))).toBeLessThanOrEqual(RATE);
    expect(calls.filter((c) => c.status === 429)).toEqual([]);
    // Alone, no replica takes an assertion: the other would not know it was used (503, retry; see shared-outage.test.ts).
    const form = tokenForm(await assertionFor(d), 'system/Patient.rs');
    const refused = await postToken(a?.origin ?? '', form);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toMatchObject({ error: 'temporarily_unavailable' });

    // Groups are not kept per replica (the others would not see them): 503 until Redis is back.
    const down = await fetch(`${a?.origin ?? ''}/fhir/Group/${keptGroup}`, { headers: { authorization: `Bearer ${gt}` } });
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    expect(await down.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'transient' }] });
    // Nor do export kick-offs: a replica alone cannot count a caller's exports for the others.
    const kick = await fetch(`${a?.origin ?? ''}/fhir/Group/${keptGroup}/$export?_type=Patient`, { headers: { authorization: `Bearer ${et}`, prefer: 'respond-async' } });
    expect(kick.status).toBe(503);
    expect(kick.headers.get('retry-after')).toBe('5');

    await d.redis.start();
    // The clients reconnect on their own; the next operations use Redis again.
    const until = Date.now() + 15_000;
    for (;;) {
      await get(`${d.lb.origin}/fhir/Patient?name=back${randomUUID().slice(0, 6)}`);
      const bodies = await Promise.all(d.replicas.map(async (r) => (await fetch(`${r.origin}/readyz`)).json() as Promise<{ degraded?: string[] }>));
      if (bodies.every((x) => x.degraded === undefined)) break;
      if (Date.now() > until) throw new Error('shared state did not resume');
      await sleep(200);
    }
    const again = tokenForm(await assertionFor(d), 'system/Patient.rs');
    expect((await postToken(a?.origin ?? '', again)).status).toBe(200);
    expect((await postToken(b?.origin ?? '', again)).status).toBe(401);
    // Redis persisted the group through its restart.
    expect((await fetch(`${b?.origin ?? ''}/fhir/Group/${keptGroup}`, { headers: { authorization: `Bearer ${gt}` } })).status).toBe(200);
    // The outage and the recovery are logged as such, without Redis's own words.
    expect(d.lines.some((l) => l.includes('"sharedState":"degraded"'))).toBe(true);
    expect(d.lines.some((l) => l.includes('"sharedState":"shared"'))).toBe(true);
    expect(d.lines.some((l) => l.includes(d.redis.url))).toBe(false);
    // The banner says where shared state lives (host only) and what each replica takes without it.
    expect(d.lines).toContain(`Shared state: Redis at ${new URL(d.redis.url).host} (keys under nextech-fhir:); if it is unavailable, each replica takes 1/2 of the Nextech budget (REPLICAS)`);
  }, 60_000);
});

describe('two replicas with a short-lived Nextech token', () => {
  let d: Deployment;
  beforeAll(async () => {
    // 31 s tokens: refreshed when 30 s remain, so about once a second.
    d = await deploy({ accessTokenTtlSeconds: 31 });
  }, 60_000);
  afterAll(() => d?.close());

  it('refreshes once per expiry across both replicas, and no request fails on a rotated-away refresh token', async () => {
    const since = Date.now();
    const statuses: number[] = [];
    while (Date.now() - since < 5_000) {
      statuses.push(...(await Promise.all([0, 1, 2, 3].map((i) => get(`${d.lb.origin}/fhir/Patient?name=t${i}${randomUUID().slice(0, 6)}`)))));
      await sleep(100);
    }
    const elapsed = Date.now() - since;
    expect(statuses.every((s) => s === 200)).toBe(true);
    const refreshes = refreshCalls(d, since);
    // Every refresh succeeded (a rotated-away refresh token would be refused) ...
    expect(refreshes.every((c) => c.status === 200)).toBe(true);
    // ... and there was one per expiry (about one a second), not one per replica.
    expect(refreshes.length).toBeGreaterThanOrEqual(2);
    expect(refreshes.length).toBeLessThanOrEqual(Math.ceil(elapsed / 1000) + 1);
    expect(apiCalls(d, since).every((c) => c.status === 200)).toBe(true);
  }, 60_000);
});
