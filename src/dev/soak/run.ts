/**
 * `runSoak`: the service in its own process over the sandbox (started here, with Nextech's
 * rate limit enforced and a multi-MB CCD), driven at a fixed request rate for a fixed time
 * by several callers with a realistic mix (mix.ts); a few patients' encounter searches fail
 * on purpose. The rate is open-loop: request i leaves at start + i/rate whatever the
 * answers so far, so a slow service meets the same load a real one would.
 */
import { randomBytes } from 'node:crypto';
import { edgeCases, startSandbox, type RunningSandbox } from '../../sandbox/index.ts';
import { anonymousCaller, backendCaller, backendClientKeys, backendClientsEnv, type Caller } from './callers.ts';
import { choosePool, PATIENT_FAULTS, planner, seededRandom, type Pool, type PoolPatient } from './mix.ts';
import { summarize, type BurstReport, type Outcome, type SoakReport } from './report.ts';
import { startServiceProcess, type ServiceProcess } from './service-process.ts';
import { sandboxNextechEnv } from '../sandbox-env.ts';

export interface SoakOptions {
  /** Requests per second. */
  rate: number;
  seconds: number;
  /** Results rows of the large-ccd patient's big CCD (25,000 is about 3 MB). */
  largeCcdResultRows?: number;
  seed?: number;
  /** More environment for the service, e.g. DOCUMENT_MEMORY_MB. */
  serviceEnv?: Record<string, string>;
  /** Each line the service writes. */
  onServiceLine?: (line: string) => void;
  /** Progress lines, about every ten seconds. */
  progress?: (line: string) => void;
  /** The longest the soak waits for one answer (default 60 s). */
  requestTimeoutMs?: number;
  /**
   * After the steady load, this many DocumentReference searches for the large-CCD patient at
   * once, each over its own date range (so none shares another's upstream call); 0: none.
   */
  burst?: number;
}

const PRACTICES = ['1001', '1002'];

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const upstream = await startSandbox({ port: 0, rateLimitPerSecond: 20, largeCcdResultRows: o.largeCcdResultRows ?? 25_000 });
  try {
    const largeId = edgeCases('large-ccd', '1001')[0]?.patientId ?? 0;
    const pool = choosePool(upstream.sandbox.data, largeId);
    pool.faulty.forEach((p, i) => {
      const fault = PATIENT_FAULTS[i % PATIENT_FAULTS.length];
      if (fault) upstream.sandbox.faults.add({ fault, path: `/ehr/api/${p.patientId}/encounters/search` });
    });
    const keys = await Promise.all(['hie-east', 'hie-west'].map((id) => backendClientKeys(id)));
    const service = await startServiceProcess({
      env: { ...serviceEnv(upstream, backendClientsEnv(keys, PRACTICES)), ...o.serviceEnv },
      ...(o.onServiceLine ? { onLine: o.onServiceLine } : {}),
    });
    try {
      const tokenEndpoint = await discoverTokenEndpoint(service.origin);
      const callers: Caller[] = [anonymousCaller, ...keys.map((k) => backendCaller(k, tokenEndpoint))];
      const base = (practiceId: string) => `${service.origin}/practices/${practiceId}/fhir`;
      await resolveIds(pool, base, callers[1] ?? anonymousCaller);
      const memory = documentMemorySampler(service.origin);
      const loadStart = Date.now();
      const outcomes = await drive(o, pool, callers, base, service);
      const loadEnd = Date.now();
      const steadyPeak = await service.peakResident();
      const burst = o.burst ? await fireBurst(o.burst, pool.large, callers[1] ?? anonymousCaller, base, service, o.requestTimeoutMs ?? 60_000) : undefined;
      memory.stop();
      // The RSS series of the steady load itself: not start-up and id look-ups, nor the burst.
      const rss = service.rss.filter((s) => s.at >= loadStart && s.at <= loadEnd);
      return { ...summarize(outcomes, rss, o.seconds, memory.peak(), steadyPeak), ...(burst ? { burst } : {}) };
    } finally {
      await service.stop();
    }
  } finally {
    await upstream.close();
  }
}

/** The service's environment, as an operator would write it for this Nextech (the sandbox). */
function serviceEnv(upstream: RunningSandbox, backendClients: string): Record<string, string> {
  return {
    ...sandboxNextechEnv(upstream),
    RESOURCE_ID_KEY: randomBytes(32).toString('base64url'),
    SMART_KEY: randomBytes(32).toString('base64url'),
    ANONYMOUS_ACCESS: 'true',
    BACKEND_CLIENTS: backendClients,
    LOG_LEVEL: 'warn',
  };
}

async function discoverTokenEndpoint(origin: string): Promise<string> {
  const res = await fetch(`${origin}/fhir/.well-known/smart-configuration`);
  const body = (await res.json()) as { token_endpoint?: unknown };
  if (typeof body.token_endpoint !== 'string') throw new Error('the service offers no token endpoint');
  return body.token_endpoint;
}

/** Finds each pool patient's FHIR id by chart number (POST _search: no identifier in a URL). */
async function resolveIds(pool: Pool, base: (practiceId: string) => string, caller: Caller): Promise<void> {
  const all: PoolPatient[] = [...pool.healthy, ...pool.faulty, pool.large];
  const authorization = await caller.authorization();
  for (const p of all) {
    const res = await fetch(`${base(p.practiceId)}/Patient/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) },
      body: new URLSearchParams({ identifier: p.chartNumber }),
    });
    const bundle = (await res.json()) as { entry?: { resource?: { id?: string } }[] };
    const id = bundle.entry?.[0]?.resource?.id;
    if (res.status !== 200 || id === undefined) throw new Error(`could not find pool patient ${p.patientId} (HTTP ${res.status})`);
    p.fhirId = id;
  }
}

/** Sends the planned requests at the fixed rate and waits for every answer. */
async function drive(o: SoakOptions, pool: Pool, callers: Caller[], base: (p: string) => string, service: ServiceProcess): Promise<Outcome[]> {
  const next = planner(pool, seededRandom(o.seed ?? 1));
  const outcomes: Outcome[] = [];
  const inflight = new Set<Promise<void>>();
  const total = Math.floor(o.seconds * o.rate);
  const start = performance.now();
  let reported = 0;
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / o.rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const caller = callers[i % callers.length] ?? anonymousCaller;
    const plan = next();
    const sent = send(`${base(plan.practiceId)}/${plan.path}`, caller, o.requestTimeoutMs ?? 60_000).then((r) => {
      outcomes.push({ kind: plan.kind, caller: caller.name, ...r });
    });
    const tracked = sent.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
    const elapsed = Math.floor((performance.now() - start) / 10_000);
    if (elapsed > reported) {
      reported = elapsed;
      const rss = service.rss.at(-1)?.bytes ?? 0;
      o.progress?.(`${elapsed * 10} s: ${i + 1} sent, ${inflight.size} in flight, RSS ${Math.round(rss / 1048576)} MB`);
    }
  }
  await Promise.all(inflight);
  return outcomes;
}

async function send(url: string, caller: Caller, timeoutMs: number): Promise<Omit<Outcome, 'kind' | 'caller'>> {
  const t0 = performance.now();
  try {
    const authorization = await caller.authorization();
    const res = await fetch(url, { headers: authorization ? { authorization } : {}, signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - t0, retryAfter: res.headers.has('retry-after') };
  } catch {
    return { status: 0, ms: performance.now() - t0, retryAfter: false };
  }
}

/**
 * `n` concurrent DocumentReference searches for the large-CCD patient, the i-th from i days
 * before its first encounter on: distinct ranges that all hold the big CCD, so each makes
 * its own upstream call and builds its own multi-MB response. The service's peak RSS is the
 * kernel's high-water mark, read after the last answer: no spike between samples is missed.
 */
async function fireBurst(n: number, large: PoolPatient, caller: Caller, base: (p: string) => string, service: ServiceProcess, timeoutMs: number): Promise<BurstReport> {
  if (large.fhirId === undefined) throw new Error('the large-CCD patient has no FHIR id');
  const DAY = 86_400_000;
  const urls = Array.from({ length: n }, (_, i) => {
    const from = new Date(large.firstEncounter - (i + 1) * DAY).toISOString().slice(0, 10);
    return `${base(large.practiceId)}/DocumentReference?patient=${large.fhirId}&date=ge${from}`;
  });
  const t0 = performance.now();
  const results = await Promise.all(urls.map((url) => send(url, caller, timeoutMs)));
  const statuses: Record<string, number> = {};
  for (const r of results) {
    const label = r.status === 0 ? 'no answer' : String(r.status);
    statuses[label] = (statuses[label] ?? 0) + 1;
  }
  return {
    requests: n,
    statuses,
    retryAfterOn503: results.filter((r) => r.status === 503 && r.retryAfter).length,
    seconds: (performance.now() - t0) / 1000,
    peakResident: await service.peakResident(),
  };
}

/** Reads the service's document memory gauge once a second (loopback may read /metrics). */
function documentMemorySampler(origin: string): { stop(): void; peak(): number | undefined } {
  let peak: number | undefined;
  const timer = setInterval(() => {
    fetch(`${origin}/metrics`)
      .then((r) => r.text())
      .then((text) => {
        const values = [...text.matchAll(/^facade_document_memory_bytes\{use="[^"]+"\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/gm)].map((m) => Number(m[1]));
        if (values.length > 0) peak = Math.max(peak ?? 0, values.reduce((a, b) => a + b, 0));
      })
      .catch(() => undefined);
  }, 1000);
  return { stop: () => clearInterval(timer), peak: () => peak };
}
