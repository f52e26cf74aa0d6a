/**
 * Runs one overhead scenario: the FHIR request against the facade and its equivalent
 * against the pass-through proxy — the very Nextech calls the facade made for it, recorded by
 * the upstream on a probe request — and the same FHIR request against the hand-written facade
 * (handwritten.ts), which must make the same calls, in alternating rounds (facade, proxy,
 * hand-written, facade, proxy…)
 * after a warm-up of each, and sums each side up by the medians of its rounds. Per round it
 * also reads the CPU time each process used and the upstream calls made.
 */
import { loadavg } from 'node:os';
import { throughputRound, sequentialRound, median, type RoundResult } from './load.ts';
import { cpuSpan, peakResident, resetPeak } from './proc.ts';
import type { OverheadScenario, ScenarioInput } from './scenarios.ts';
import type { Upstream } from './upstream.ts';
import { endpointOf, type CallTally } from './upstream-ipc.ts';

export interface Side {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  pid: number;
}

export interface RunSettings {
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  /** Requests per round of a latency scenario. */
  sequentialCount: number;
  /** Scales a count-based scenario's requests per connection (1 in a full run). */
  countScale: number;
}

export interface SideSummary {
  rounds: RoundResult[];
  reqPerSec: number;
  bytesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  /** Upstream calls per request sent, over all rounds. */
  upstreamCallsPerRequest: number;
  /** CPU ms per completed request of: the server (facade or proxy), the upstream, the load generator. */
  cpuMsPerRequest: { server?: number; upstream?: number; driver?: number };
  /** Share of one core each used during the rounds (1 = a whole core). */
  coreShare: { server?: number; upstream?: number; driver?: number };
  /** Body bytes of one answer (the probe's). */
  responseBytes: number;
  /** Median 1-minute load average at the end of the rounds: above the core count, other work competed for the CPU. */
  loadAverage: number;
}

export interface OverheadResult {
  name: string;
  /** The rounds in words, e.g. "5 rounds of 4 s each side". */
  roundPlan: string;
  /** The Nextech calls (by endpoint) the facade made for one request, which the proxy makes too. */
  upstreamCalls: string[];
  facade: SideSummary;
  proxy: SideSummary;
  /** The hand-written facade, when the run had one. */
  handwritten?: SideSummary;
  /** The facade's resident memory high-water mark over its rounds (bytes), when asked for. */
  peakRssBytes?: number;
}

interface Probe {
  proxyPath: string;
  calls: string[];
  facadeBytes: number;
  proxyBytes: number;
  handwrittenBytes?: number;
}

type SideName = 'facade' | 'proxy' | 'handwritten';

const practiceBase = (side: Side, practiceId: string) => `${side.origin}/practices/${practiceId}`;

async function fetchOk(url: string, authorization: string): Promise<number> {
  const res = await fetch(url, { headers: { authorization } });
  const body = await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${new URL(url).pathname.split('/').slice(0, 5).join('/')}… answered ${res.status}`);
  return body.byteLength;
}

/**
 * Waits until the upstream has had no call for a while: requests of the rounds just run
 * (cut off at the end of a timed round) may still be reaching it, and would be counted as
 * the probe's own calls.
 */
async function quiet(upstream: OverheadDeps['upstream']): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 250));
    if ((await upstream.takeCalls()).total === 0) return;
  }
  throw new Error('the upstream kept receiving calls after the rounds ended');
}

/** One facade request, the calls it made upstream, and the proxy request making the same calls. */
async function probe(s: OverheadScenario, d: OverheadDeps, authorization: string): Promise<Probe> {
  const { input, practiceId, facade, proxy, upstream, handwritten } = d;
  await quiet(upstream);
  const facadeBytes = await fetchOk(`${practiceBase(facade, practiceId)}/fhir/${s.fhirPath(input)}`, authorization);
  const tally = await upstream.takeCalls(true);
  const proxyPath = proxyPathFor(tally);
  if (proxyPath === undefined) throw new Error(`${s.name}: the facade made no upstream call`);
  const proxyBytes = await fetchOk(`${practiceBase(proxy, practiceId)}/${proxyPath}`, authorization);
  await upstream.takeCalls();
  let handwrittenBytes: number | undefined;
  if (handwritten) {
    handwrittenBytes = await fetchOk(`${practiceBase(handwritten, practiceId)}/fhir/${s.fhirPath(input)}`, authorization);
    const own = await upstream.takeCalls(true);
    // The same calls, queries included (in any order): else the baseline does other work.
    const key = (t: CallTally) => (t.detail ?? []).map((c) => `${c.path}?${new URLSearchParams(c.query).toString()}`).sort().join(' ');
    // Endpoints only in the message: the queries hold chart numbers.
    const endpoints = (t: CallTally) => (t.detail ?? []).map((c) => endpointOf(c.path)).join(' + ') || 'none';
    if (key(own) !== key(tally)) throw new Error(`${s.name}: the hand-written facade's upstream calls (${endpoints(own)}) differ from the facade's (${endpoints(tally)}) in path or query`);
  }
  return { proxyPath, calls: (tally.detail ?? []).map((c) => endpointOf(c.path)), facadeBytes, proxyBytes, ...(handwrittenBytes === undefined ? {} : { handwrittenBytes }) };
}

/**
 * The proxy request (relative to its practice base) making the recorded calls: a plain
 * forward for one call, a chain for several; undefined when there were none.
 */
export function proxyPathFor(tally: CallTally): string | undefined {
  const calls = (tally.detail ?? []).map((c) => `${c.path.replace(/^\/ehr\/api/, '')}${Object.keys(c.query).length ? `?${new URLSearchParams(c.query).toString()}` : ''}`);
  const [only] = calls;
  if (only === undefined) return undefined;
  return calls.length === 1 ? `nextech${only}` : `chain?${new URLSearchParams(calls.map((c): [string, string] => ['call', c])).toString()}`;
}

interface Measured {
  round: RoundResult;
  cpu: { server?: number; upstream?: number; driver?: number };
  wallMs: number;
  calls: CallTally;
  loadAverage: number;
}

async function measuredRound(run: () => Promise<RoundResult>, serverPid: number, upstream: Upstream): Promise<Measured> {
  await upstream.takeCalls();
  const span = await cpuSpan({ server: serverPid, upstream: upstream.pid, driver: process.pid });
  const round = await run();
  const { used, wallMs } = await span.end();
  return { round, cpu: used, wallMs, calls: await upstream.takeCalls(), loadAverage: loadavg()[0] ?? 0 };
}

function summarize(measured: Measured[], responseBytes: number): SideSummary {
  const rounds = measured.map((m) => m.round);
  const completed = rounds.reduce((n, r) => n + r.completed, 0);
  const sent = rounds.reduce((n, r) => n + r.sent, 0);
  const wall = measured.reduce((n, m) => n + m.wallMs, 0);
  const total = (k: 'server' | 'upstream' | 'driver') =>
    measured.some((m) => m.cpu[k] === undefined) ? undefined : measured.reduce((n, m) => n + (m.cpu[k] ?? 0), 0);
  const per = (k: 'server' | 'upstream' | 'driver') => {
    const t = total(k);
    return t === undefined || completed === 0 ? undefined : t / completed;
  };
  const share = (k: 'server' | 'upstream' | 'driver') => {
    const t = total(k);
    return t === undefined || wall === 0 ? undefined : t / wall;
  };
  return {
    rounds,
    reqPerSec: median(rounds.map((r) => r.reqPerSec)),
    bytesPerSec: median(rounds.map((r) => r.bytesPerSec)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    non2xx: rounds.reduce((n, r) => n + r.non2xx, 0),
    errors: rounds.reduce((n, r) => n + r.errors, 0),
    upstreamCallsPerRequest: sent === 0 ? 0 : measured.reduce((n, m) => n + m.calls.total, 0) / sent,
    cpuMsPerRequest: { server: per('server'), upstream: per('upstream'), driver: per('driver') },
    coreShare: { server: share('server'), upstream: share('upstream'), driver: share('driver') },
    responseBytes,
    loadAverage: median(measured.map((m) => m.loadAverage)),
  };
}

export interface OverheadDeps {
  upstream: Upstream;
  facade: Side;
  proxy: Side;
  /** The hand-written facade, a third side when given. */
  handwritten?: Side;
  practiceId: string;
  input: ScenarioInput;
  /** One Nextech token per connection, as `Bearer …` headers. */
  authorizations: readonly string[];
  log: (line: string) => void;
}

export async function runOverhead(s: OverheadScenario, d: OverheadDeps, o: RunSettings): Promise<OverheadResult> {
  const first = d.authorizations[0] ?? '';
  await d.upstream.setLatency(s.upstreamLatencyMs);
  try {
    const p = await probe(s, d, first);
    const urls: Record<SideName, string> = {
      facade: `${practiceBase(d.facade, d.practiceId)}/fhir/${s.fhirPath(d.input)}`,
      proxy: `${practiceBase(d.proxy, d.practiceId)}/${p.proxyPath}`,
      handwritten: d.handwritten ? `${practiceBase(d.handwritten, d.practiceId)}/fhir/${s.fhirPath(d.input)}` : '',
    };
    const sides: SideName[] = d.handwritten ? ['facade', 'proxy', 'handwritten'] : ['facade', 'proxy'];
    const amount = s.perConnection === undefined ? undefined : s.connections * Math.max(1, Math.round(s.perConnection * o.countScale));
    const round = (side: SideName, seconds: number, count: number) => () =>
      s.kind === 'latency'
        ? sequentialRound(urls[side], count, first)
        : throughputRound({ url: urls[side], connections: s.connections, seconds, authorizations: d.authorizations, ...(amount === undefined ? {} : { amount }) });
    const pid: Record<SideName, number> = { facade: d.facade.pid, proxy: d.proxy.pid, handwritten: d.handwritten?.pid ?? 0 };
    const warmCount = Math.max(10, Math.round(o.sequentialCount / 4));
    // A count-based scenario warms up with one request per connection.
    const warm = (side: SideName) =>
      amount === undefined ? round(side, o.warmupSeconds, warmCount)() : throughputRound({ url: urls[side], connections: s.connections, seconds: 0, amount: s.connections, authorizations: d.authorizations });
    for (const side of sides) await warm(side);
    if (s.peakRss) await resetPeak(d.facade.pid);
    const measured: Record<SideName, Measured[]> = { facade: [], proxy: [], handwritten: [] };
    const rounds = o.rounds;
    for (let r = 0; r < rounds; r++) {
      for (const side of sides) {
        const m = await measuredRound(round(side, o.seconds, o.sequentialCount), pid[side], d.upstream);
        measured[side].push(m);
        d.log(`${s.name} round ${r + 1}/${rounds} ${side}: ${m.round.reqPerSec.toFixed(0)} req/s, ${(m.round.bytesPerSec / 1048576).toFixed(1)} MB/s, p50 ${m.round.p50Ms.toFixed(2)} ms, non-2xx ${m.round.non2xx}`);
      }
    }
    const peak = s.peakRss ? await peakResident(d.facade.pid) : undefined;
    const each = s.kind === 'latency' ? `${o.sequentialCount} requests` : amount === undefined ? `${o.seconds} s` : `${amount} requests`;
    return {
      name: s.name,
      roundPlan: `${rounds} rounds of ${each} each side`,
      upstreamCalls: p.calls,
      facade: summarize(measured.facade, p.facadeBytes),
      proxy: summarize(measured.proxy, p.proxyBytes),
      ...(p.handwrittenBytes === undefined ? {} : { handwritten: summarize(measured.handwritten, p.handwrittenBytes) }),
      ...(peak === undefined ? {} : { peakRssBytes: peak }),
    };
  } finally {
    await d.upstream.setLatency(0);
  }
}
