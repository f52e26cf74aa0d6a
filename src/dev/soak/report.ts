/**
 * The soak's findings from what it recorded: status counts per kind, failures among healthy
 * requests, 5xx outside the fault patients, latency percentiles, and whether the service's
 * resident memory stopped growing. Pure functions of the records, and the text `npm run
 * soak` prints.
 */
import { KINDS, type Kind } from './mix.ts';

export interface Outcome {
  kind: Kind;
  caller: string;
  /** HTTP status, or 0 when the request got no answer (connection error, our own timeout). */
  status: number;
  ms: number;
  retryAfter: boolean;
}

export interface RssSample {
  at: number;
  bytes: number;
}

export interface RssVerdict {
  /** Median and max of each third of the run, in bytes. */
  thirds: [Spread, Spread, Spread];
  peak: number;
  /** The last third's median is within 10% (+ slack) of the middle third's. */
  flat: boolean;
}

export interface Spread {
  median: number;
  max: number;
}

export interface SoakReport {
  seconds: number;
  sent: number;
  statuses: Record<Kind, Record<string, number>>;
  /** Healthy requests that did not answer 200. */
  healthyFailures: number;
  /** 5xx (or no answer) for anything but the fault patients. */
  unexpected5xx: number;
  /** 503s with Retry-After among healthy requests: the document memory budget or an open circuit. */
  healthy503WithRetryAfter: number;
  latency: { p50: number; p99: number; byKind: Record<Kind, { p50: number; p99: number }> };
  callers: Record<string, number>;
  rss: RssSample[];
  rssVerdict: RssVerdict;
  /** Highest document memory in use the service reported (bytes), when it reports it. */
  documentMemoryPeak?: number;
  /** The service's peak resident memory over the steady load (kernel high-water mark), bytes. */
  peakResident?: number;
  /** The burst of concurrent large-document searches after the steady load, when asked for. */
  burst?: BurstReport;
}

export interface BurstReport {
  requests: number;
  statuses: Record<string, number>;
  /** 503s that said when to retry (the document memory budget was full). */
  retryAfterOn503: number;
  seconds: number;
  /** The service's peak resident memory up to the burst's end (kernel high-water mark), bytes. */
  peakResident: number;
}

/** Slack on top of 10% growth: GC timing alone moves a few-hundred-MB process by tens of MB. */
export const RSS_SLACK_BYTES = 32 * 1024 * 1024;

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/**
 * Resident memory "stops growing" when the median sample of the last third of the run is at
 * most the middle third's median × 1.1 + RSS_SLACK_BYTES. Medians, not maxima: RSS is a
 * saw-tooth whose peaks depend on when V8 chooses to collect (measured: 440–740 MB within
 * seconds at a steady load), so one late peak says nothing, while a leak lifts the whole
 * distribution and with it the median. The first third is left out: it holds start-up, JIT
 * warm-up and the caches filling to their bounds (run several ENCOUNTER_CACHE_SECONDS long).
 */
export function rssVerdict(samples: RssSample[]): RssVerdict {
  const third = Math.floor(samples.length / 3);
  const spread = (part: RssSample[]): Spread => {
    const sorted = part.map((s) => s.bytes).sort((a, b) => a - b);
    return { median: percentile(sorted, 50), max: sorted.at(-1) ?? 0 };
  };
  const thirds: [Spread, Spread, Spread] = [
    spread(samples.slice(0, third)),
    spread(samples.slice(third, 2 * third)),
    spread(samples.slice(2 * third)),
  ];
  const peak = samples.reduce((m, s) => Math.max(m, s.bytes), 0);
  return { thirds, peak, flat: third > 0 && thirds[2].median <= thirds[1].median * 1.1 + RSS_SLACK_BYTES };
}

export function summarize(outcomes: Outcome[], rss: RssSample[], seconds: number, documentMemoryPeak?: number, peakResident?: number): SoakReport {
  const statuses = Object.fromEntries(KINDS.map((k): [Kind, Record<string, number>] => [k, {}])) as Record<Kind, Record<string, number>>;
  const callers: Record<string, number> = {};
  let healthyFailures = 0;
  let unexpected5xx = 0;
  let healthy503WithRetryAfter = 0;
  for (const o of outcomes) {
    const label = o.status === 0 ? 'no answer' : String(o.status);
    statuses[o.kind][label] = (statuses[o.kind][label] ?? 0) + 1;
    callers[o.caller] = (callers[o.caller] ?? 0) + 1;
    if (o.kind === 'fault') continue;
    if (o.status !== 200) healthyFailures++;
    if (o.status === 0 || o.status >= 500) unexpected5xx++;
    if (o.status === 503 && o.retryAfter) healthy503WithRetryAfter++;
  }
  const healthy = outcomes.filter((o) => o.kind !== 'fault');
  const sortedMs = (list: Outcome[]) => list.map((o) => o.ms).sort((a, b) => a - b);
  const all = sortedMs(healthy);
  const byKind = Object.fromEntries(
    KINDS.map((k) => {
      const ms = sortedMs(outcomes.filter((o) => o.kind === k));
      return [k, { p50: percentile(ms, 50), p99: percentile(ms, 99) }];
    }),
  ) as Record<Kind, { p50: number; p99: number }>;
  return {
    seconds,
    sent: outcomes.length,
    statuses,
    healthyFailures,
    unexpected5xx,
    healthy503WithRetryAfter,
    latency: { p50: percentile(all, 50), p99: percentile(all, 99), byKind },
    callers,
    rss,
    rssVerdict: rssVerdict(rss),
    ...(documentMemoryPeak === undefined ? {} : { documentMemoryPeak }),
    ...(peakResident === undefined ? {} : { peakResident }),
  };
}

const mb = (bytes: number): string => `${Math.round(bytes / (1024 * 1024))}`;

/** The report as `npm run soak` prints it. */
export function formatReport(r: SoakReport): string {
  const out: string[] = [`soak: ${r.sent} requests in ${r.seconds} s (${(r.sent / r.seconds).toFixed(1)}/s)`, '', 'kind               statuses                               p50 ms   p99 ms'];
  for (const k of KINDS) {
    const s = Object.entries(r.statuses[k])
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([status, n]) => `${status}×${n}`)
      .join(' ');
    const l = r.latency.byKind[k];
    out.push(`${k.padEnd(18)} ${s.padEnd(38)} ${String(Math.round(l.p50)).padStart(6)}   ${String(Math.round(l.p99)).padStart(6)}`);
  }
  out.push(
    '',
    `callers: ${Object.entries(r.callers).map(([c, n]) => `${c} ${n}`).join(', ')}`,
    `healthy requests: p50 ${Math.round(r.latency.p50)} ms, p99 ${Math.round(r.latency.p99)} ms; failures ${r.healthyFailures} (503 with Retry-After: ${r.healthy503WithRetryAfter}); 5xx outside the fault patients: ${r.unexpected5xx}`,
    `RSS MB, once a second: ${r.rss.map((s) => mb(s.bytes)).join(' ')}`,
    `RSS MB by third, median (max): ${r.rssVerdict.thirds.map((t) => `${mb(t.median)} (${mb(t.max)})`).join(' / ')}; peak ${mb(r.rssVerdict.peak)}`,
    `RSS ${r.rssVerdict.flat ? 'stopped growing' : 'STILL GROWING'}: median of the last third ${r.rssVerdict.flat ? '≤' : '>'} middle third's × 1.1 + ${mb(RSS_SLACK_BYTES)} MB`,
  );
  if (r.peakResident !== undefined) out.push(`RSS high-water mark over the steady load: ${mb(r.peakResident)} MB`);
  if (r.documentMemoryPeak !== undefined) out.push(`document memory in use, highest seen: ${mb(r.documentMemoryPeak)} MB`);
  if (r.burst) {
    const b = r.burst;
    const s = Object.entries(b.statuses).sort(([x], [y]) => x.localeCompare(y)).map(([status, n]) => `${status}×${n}`).join(' ');
    out.push(
      `burst: ${b.requests} concurrent large-document searches over distinct ranges in ${b.seconds.toFixed(1)} s: ${s} (503 with Retry-After: ${b.retryAfterOn503}); RSS high-water mark ${mb(b.peakResident)} MB`,
    );
  }
  return out.join('\n');
}
