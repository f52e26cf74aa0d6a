/**
 * What compression costs and saves, for a scenario that asks (`compression` in
 * scenarios.ts): the facade alone, driven as the scenario drives it, in alternating rounds
 * of a client that accepts nothing and one that sends `Accept-Encoding: gzip` (as Node's
 * fetch, curl --compressed and browsers do). Per client: the body bytes of one answer as
 * sent on the wire, and the facade's CPU per request and req/s over the rounds. autocannon
 * never decodes, so what it counts is what travelled.
 */
import { request } from 'undici';
import { median, throughputRound } from './load.ts';
import type { OverheadDeps, RunSettings } from './overhead.ts';
import { cpuSpan } from './proc.ts';
import type { OverheadScenario } from './scenarios.ts';

type Client = 'identity' | 'gzip';

export interface ClientFigures {
  /** Body bytes of one answer, as sent. */
  bodyBytes: number;
  /** The facade's CPU ms per answered request (user + system, its zlib threads included). */
  cpuMsPerRequest?: number;
  reqPerSec: number;
  p50Ms: number;
}

export interface CompressionResult {
  /** The rounds in words, e.g. "5 rounds of 4 s per client". */
  roundPlan: string;
  identity: ClientFigures;
  gzip: ClientFigures;
}

const ACCEPT: Record<Client, Record<string, string>> = { identity: {}, gzip: { 'accept-encoding': 'gzip' } };

/** The body of one answer as it travels (undici's `request` does not decode). */
async function wireBytes(url: string, authorization: string, client: Client): Promise<number> {
  const res = await request(url, { headers: { authorization, ...ACCEPT[client] } });
  const body = await res.body.arrayBuffer();
  const coding = res.headers['content-encoding'];
  if (res.statusCode !== 200) throw new Error(`${new URL(url).pathname.split('/').slice(0, 5).join('/')}… answered ${res.statusCode}`);
  if (client === 'gzip' && coding !== 'gzip') throw new Error(`asked for gzip, the facade answered ${String(coding ?? 'identity')}`);
  return body.byteLength;
}

export async function measureCompression(s: OverheadScenario, d: OverheadDeps, o: RunSettings): Promise<CompressionResult> {
  const url = `${d.facade.origin}/practices/${d.practiceId}/fhir/${s.fhirPath(d.input)}`;
  const first = d.authorizations[0] ?? '';
  const amount = s.perConnection === undefined ? undefined : s.connections * Math.max(1, Math.round(s.perConnection * o.countScale));
  const round = (client: Client, seconds: number, count: number | undefined) =>
    throughputRound({ url, connections: s.connections, seconds, authorizations: d.authorizations, headers: ACCEPT[client], ...(count === undefined ? {} : { amount: count }) });
  await d.upstream.setLatency(s.upstreamLatencyMs);
  try {
    const bytes = { identity: await wireBytes(url, first, 'identity'), gzip: await wireBytes(url, first, 'gzip') };
    // A count-based scenario warms up with one request per connection, as overhead.ts does.
    for (const client of ['identity', 'gzip'] as const) await round(client, o.warmupSeconds, amount === undefined ? undefined : s.connections);
    const rounds: Record<Client, { cpuMs?: number; completed: number; reqPerSec: number; p50Ms: number }[]> = { identity: [], gzip: [] };
    for (let r = 0; r < o.rounds; r++) {
      for (const client of ['identity', 'gzip'] as const) {
        const span = await cpuSpan({ facade: d.facade.pid });
        const result = await round(client, o.seconds, amount);
        const { used } = await span.end();
        rounds[client].push({ cpuMs: used.facade, completed: result.completed, reqPerSec: result.reqPerSec, p50Ms: result.p50Ms });
        d.log(`${s.name} compression round ${r + 1}/${o.rounds} ${client} client: ${result.reqPerSec.toFixed(0)} req/s, ${(result.bytesPerSec / 1048576).toFixed(1)} MB/s received`);
      }
    }
    const figures = (client: Client): ClientFigures => {
      const all = rounds[client];
      const completed = all.reduce((n, x) => n + x.completed, 0);
      const cpu = all.some((x) => x.cpuMs === undefined) || completed === 0 ? undefined : all.reduce((n, x) => n + (x.cpuMs ?? 0), 0) / completed;
      return {
        bodyBytes: bytes[client],
        ...(cpu === undefined ? {} : { cpuMsPerRequest: cpu }),
        reqPerSec: median(all.map((x) => x.reqPerSec)),
        p50Ms: median(all.map((x) => x.p50Ms)),
      };
    };
    const each = amount === undefined ? `${o.seconds} s` : `${amount} requests`;
    return { roundPlan: `${o.rounds} rounds of ${each} per client`, identity: figures('identity'), gzip: figures('gzip') };
  } finally {
    await d.upstream.setLatency(0);
  }
}

/** The report's lines for a scenario's compression figures. */
export function compressionLines(c: CompressionResult | undefined): string[] {
  if (!c) return [];
  const fixed = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits));
  const int = (n: number) => Math.round(n).toLocaleString('en-US');
  const change = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || a === 0 ? 'n/a' : `${b >= a ? '+' : '−'}${Math.abs(((b - a) / a) * 100).toFixed(0)}%`);
  const { identity: i, gzip: g } = c;
  return [
    '',
    `Compression: the facade driven as above by a client that accepts nothing and by one that sends \`Accept-Encoding: gzip\`, alternating (${c.roundPlan}).`,
    '',
    '| | no Accept-Encoding | gzip | change |',
    '|---|---:|---:|---:|',
    `| body bytes of one answer, as sent | ${int(i.bodyBytes)} | ${int(g.bodyBytes)} | ${change(i.bodyBytes, g.bodyBytes)} |`,
    `| facade CPU ms per request | ${fixed(i.cpuMsPerRequest, 3)} | ${fixed(g.cpuMsPerRequest, 3)} | ${change(i.cpuMsPerRequest, g.cpuMsPerRequest)} |`,
    `| req/s (2xx) | ${fixed(i.reqPerSec, 1)} | ${fixed(g.reqPerSec, 1)} | ${change(i.reqPerSec, g.reqPerSec)} |`,
    `| p50 ms | ${fixed(i.p50Ms)} | ${fixed(g.p50Ms)} | ${change(i.p50Ms, g.p50Ms)} |`,
  ];
}
