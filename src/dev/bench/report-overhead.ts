/**
 * The report's section for one overhead scenario: the two sides side by side, per-round
 * values, and "what limits this figure" — from the CPU each process used during the rounds
 * and the facade's CPU profile under the same load.
 */
import { compressionLines } from './compression.ts';
import type { SideSummary } from './overhead.ts';
import type { ProfileSummary } from './profile.ts';
import type { OverheadEntry } from './run.ts';
import { stageMicros, STAGES, type StageShare } from './stages.ts';

/** What the numbers alone do not say about a scenario. */
const NOTES: Readonly<Record<string, string>> = {
  'patient-search': 'Both sides make one patient search upstream (6 rows). The proxy forwards the bytes; the facade parses them, maps six Patients, filters them exactly and writes a searchset.',
  'encounter-search':
    'Both sides make the same two calls at once (the patient check and the 45-encounter listing, CCDs included). The proxy forwards the listing; the facade parses all of it, maps 10 Encounters and writes a small page — so bytes/s are not comparable here, req/s are.',
  'docref-3x3mb':
    'The facade sends the CCDs base64-encoded in the attachments (4/3 of their size) inside JSON; the proxy sends Nextech\'s JSON with the HTML escaped: bytes/s compare different bytes, the req/s ratio is the like-for-like one. The facade\'s document memory budget (half its heap) bounds how many such responses it builds at once; requests beyond it wait, or get 503 with Retry-After.',
  'added-p50': 'One request at a time over one kept-alive connection; every upstream answer waits 20 ms first. The figure is the facade\'s median of round p50s minus the proxy\'s.',
  'patient-read': 'Both sides make one patient search upstream (by the chart number the id carries); the facade keeps the row whose patientId matches.',
  'docref-10x1mb':
    'As for 3 × 3 MB: different bytes on each side (base64 in FHIR JSON vs escaped HTML in Nextech JSON), so the req/s ratio is shown too. Peak RSS is the kernel\'s high-water mark of a facade process started for this scenario, reset after the warm-up.',
};

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fixed = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits));
const mb = (bytes: number) => fixed(bytes / 1048576, 1);
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : 'n/a');
const pct = (share: number) => `${Math.round(share * 100)}%`;
const rate = (n: number) => (n < 20 ? fixed(n, 1) : int(n));

/** Statuses other than 200 over all rounds, e.g. "2 × 503", or 0. */
function others(s: SideSummary): string {
  const counts: Record<string, number> = {};
  for (const r of s.rounds) for (const [k, v] of Object.entries(r.otherStatuses)) counts[k] = (counts[k] ?? 0) + v;
  return Object.entries(counts).map(([k, v]) => `${v} × ${k}`).join(', ') || '0';
}

function sideRows(f: SideSummary, p: SideSummary, h: SideSummary | undefined): string[] {
  const row = (label: string, a: string, b: string, r = '', c = '', rh = '') =>
    h ? `| ${label} | ${a} | ${b} | ${r} | ${c} | ${rh} |` : `| ${label} | ${a} | ${b} | ${r} |`;
  const cpu = (s: SideSummary | undefined, k: 'server' | 'upstream' | 'driver') => (s ? fixed(s.cpuMsPerRequest[k], 3) : '');
  const cores = (s: SideSummary | undefined) => (s ? `${fixed(s.coreShare.server)} / ${fixed(s.coreShare.upstream)} / ${fixed(s.coreShare.driver)}` : '');
  const serverCpu = (s: SideSummary | undefined) => s?.cpuMsPerRequest.server ?? NaN;
  const figure = (label: string, pick: (s: SideSummary) => number, show: (n: number) => string) =>
    row(label, show(pick(f)), show(pick(p)), ratio(pick(f), pick(p)), h ? show(pick(h)) : '', h ? ratio(pick(f), pick(h)) : '');
  return [
    h ? '| | facade | proxy | facade ÷ proxy | hand-written | facade ÷ hand-written |' : '| | facade | proxy | facade ÷ proxy |',
    h ? '|---|---:|---:|---:|---:|---:|' : '|---|---:|---:|---:|',
    figure('req/s (2xx)', (s) => s.reqPerSec, rate),
    figure('MB/s received', (s) => s.bytesPerSec, (n) => mb(n)),
    figure('p50 ms', (s) => s.p50Ms, (n) => fixed(n)),
    figure('p99 ms', (s) => s.p99Ms, (n) => fixed(n)),
    figure('body bytes of one answer', (s) => s.responseBytes, int),
    row('answers not 200 / no answer (all rounds)', `${others(f)} / ${f.errors}`, `${others(p)} / ${p.errors}`, '', h ? `${others(h)} / ${h.errors}` : ''),
    row('upstream calls per request', fixed(f.upstreamCallsPerRequest), fixed(p.upstreamCallsPerRequest), '', h ? fixed(h.upstreamCallsPerRequest) : ''),
    row('CPU ms per request: server', cpu(f, 'server'), cpu(p, 'server'), ratio(serverCpu(f), serverCpu(p)), cpu(h, 'server'), h ? ratio(serverCpu(f), serverCpu(h)) : ''),
    row('CPU ms per request: upstream', cpu(f, 'upstream'), cpu(p, 'upstream'), '', cpu(h, 'upstream')),
    row('CPU ms per request: load generator', cpu(f, 'driver'), cpu(p, 'driver'), '', cpu(h, 'driver')),
    row('cores used: server / upstream / load generator', cores(f), cores(p), '', cores(h)),
  ];
}

/**
 * µs of CPU per request by stage, the facade beside the hand-written facade: each stage's
 * share of the busy samples of its CPU profile times the CPU per request its rounds used.
 */
export function stageRows(facade: readonly StageShare[], facadeCpuMs: number, handwritten?: readonly StageShare[], handwrittenCpuMs?: number): string[] {
  const f = stageMicros(facade, facadeCpuMs);
  const h = handwritten && handwrittenCpuMs !== undefined ? stageMicros(handwritten, handwrittenCpuMs) : undefined;
  const us = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? 'n/a' : Math.round(n).toLocaleString('en-US'));
  const rows = STAGES.map((stage, i) => {
    const a = f[i]?.us;
    const b = h?.[i]?.us;
    const share = facade[i]?.share ?? 0;
    const where = (xs: readonly StageShare[] | undefined) => (xs?.[i]?.top ?? []).map((t) => `${t.place} ${pct(t.share)}`).join(', ');
    return `| ${stage} | ${us(a)} | ${pct(share)} | ${us(b)} | ${a === undefined || b === undefined ? 'n/a' : us(a - b)} | ${where(facade)} | ${where(handwritten)} |`;
  });
  const total = (xs: { us: number }[] | undefined) => xs?.reduce((n, x) => n + x.us, 0);
  return [
    '| Stage | facade µs/request | facade share | hand-written µs/request | facade − hand-written | facade: mostly in | hand-written: mostly in |',
    '|---|---:|---:|---:|---:|---|---|',
    ...rows,
    `| **all** | **${us(total(f))}** | 100% | **${us(total(h))}** | **${us((total(f) ?? NaN) - (total(h) ?? NaN))}** | | |`,
  ];
}

function stageSection(e: OverheadEntry): string[] {
  const fc = e.result.facade.cpuMsPerRequest.server;
  if (!e.stages || fc === undefined) return [];
  const hc = e.result.handwritten?.cpuMsPerRequest.server;
  return [
    '',
    `**CPU per request by stage** (the CPU profiles' samples classified by stage of the request path, \`src/dev/bench/stages.ts\`, times each side's CPU per request over its rounds; at c=1 these include idle-time work):`,
    '',
    ...stageRows(e.stages.facade, fc, e.stages.handwritten, hc),
  ];
}

/** Which process bounded a side's figure, judged from the cores each used and the machine's load. */
function bound(label: string, s: SideSummary, cores: number): string {
  const server = s.coreShare.server ?? 0;
  const driver = s.coreShare.driver ?? 0;
  const all = server + (s.coreShare.upstream ?? 0) + driver;
  const shares = `${label} ${fixed(server)}, upstream ${fixed(s.coreShare.upstream)}, load generator ${fixed(driver)} core`;
  // A load generator busier than the server it drives is part of what that server's figure measures.
  const generator = driver > server ? ` The load generator was busier than ${label}, so this side's figure is partly the load generator's limit.` : '';
  if (server >= 0.85) return `${label}'s own event loop was saturated (${shares}).${generator}`;
  if (all >= cores * 0.85) return `the machine's ${cores} cores were saturated by the bench's processes (${shares}).${generator}`;
  if (s.loadAverage >= cores) {
    return `the machine was shared with other work (load average ${fixed(s.loadAverage, 1)} on ${cores} cores): the bench's processes got ${fixed(all)} cores in all (${shares}).${generator}`;
  }
  return `no process was saturated (${shares}; ${fixed(all)} cores in all): waiting bounded it (upstream latency, connections, memory budget).${generator}`;
}

/** The CPU bullets: per request and, under load, which process bounded each side. */
function cpuLines(e: OverheadEntry, cores: number): string[] {
  const { facade: f, proxy: p } = e.result;
  const cpuRatio = ratio(f.cpuMsPerRequest.server ?? NaN, p.cpuMsPerRequest.server ?? NaN);
  const perRequest = `- The facade used ${fixed(f.cpuMsPerRequest.server, 3)} ms of CPU per request, the proxy ${fixed(p.cpuMsPerRequest.server, 3)} ms (${cpuRatio})`;
  if (e.connections === 1) {
    return [
      `${perRequest}; at one request at a time these include each process's idle work (timers, GC), so they overstate both.`,
      `- One request at a time saturates nothing (the facade used ${fixed(f.coreShare.server)} of a core): the added p50 is the facade's own time on each request — its CPU work plus its waits between the two hops — on top of the same upstream call the proxy makes. With the machine shared (load average ${fixed(f.loadAverage, 1)} on ${cores} cores), that CPU work also waited for a core.`,
    ];
  }
  return [`${perRequest}.`, `- During the facade's rounds ${bound('the facade', f, cores)} During the proxy's, ${bound('the proxy', p, cores)}`];
}

function profileLines(p: ProfileSummary | undefined): string[] {
  if (!p) return ['- No CPU profile was taken in this run.'];
  return [
    `- CPU profile of the facade under this load (${fixed(p.windowMs / 1000, 1)} s, main thread busy ${pct(p.busy)} of the time). Self time by where the code lives: ${p.groups.map((g) => `${g.name} ${pct(g.share)}`).join(', ')}.`,
    `- Top functions by self time: ${p.functions.slice(0, 6).map((f) => `\`${f.name}\` ${pct(f.share)}`).join(', ')}.`,
  ];
}

export function overheadSection(e: OverheadEntry, cores: number): string[] {
  const { facade: f, proxy: p } = e.result;
  const latency = e.upstreamLatencyMs > 0 ? `, every upstream answer delayed ${e.upstreamLatencyMs} ms` : '';
  const rounds = (s: SideSummary) => s.rounds.map((r) => (e.name === 'added-p50' ? fixed(r.p50Ms) : r.reqPerSec < 20 ? fixed(r.reqPerSec, 1) : int(r.reqPerSec))).join(', ');
  return [
    `### ${e.title}`,
    '',
    `\`GET ${e.request}\` at ${e.connections === 1 ? 'one request at a time' : `${e.connections} connections`}${latency}. Upstream calls of one request (both sides): ${e.result.upstreamCalls.join(' + ')}.`,
    '',
    ...sideRows(f, p, e.result.handwritten),
    ...(f.upstreamCallsPerRequest < p.upstreamCallsPerRequest * 0.95
      ? ['', `**Not like for like:** the facade made ${fixed(f.upstreamCallsPerRequest)} upstream calls per request against the proxy's ${fixed(p.upstreamCallsPerRequest)} — some reuse of upstream answers was still on — so its figures here flatter it.`]
      : []),
    ...(e.result.peakRssBytes === undefined ? [] : ['', `Facade peak RSS over its rounds: **${mb(e.result.peakRssBytes)} MB**.`]),
    ...compressionLines(e.compression),
    '',
    `${e.result.roundPlan}. Per round (${e.name === 'added-p50' ? 'p50 ms' : 'req/s'}): facade ${rounds(f)}; proxy ${rounds(p)}.`,
    '',
    `**What limits this figure.** ${NOTES[e.name] ?? ''}`,
    '',
    ...cpuLines(e, cores),
    ...profileLines(e.profile),
    ...stageSection(e),
    '',
  ];
}
