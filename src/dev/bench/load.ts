/**
 * The two ways the bench drives a server: autocannon at a fixed number of connections for a
 * while (throughput), and one request at a time (latency at c=1, timed to the microsecond
 * here: autocannon's histogram keeps whole milliseconds). Each connection carries its own
 * `Authorization`, handed out in turn from the list given.
 */
import autocannon from 'autocannon';
import { Pool } from 'undici';

/** What one round measured. */
export interface RoundResult {
  seconds: number;
  /** Answers with a 2xx status, per second. */
  reqPerSec: number;
  /** Bytes received per second (headers and bodies, every answer). */
  bytesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers that were not 2xx, and requests with no answer (errors, timeouts). */
  non2xx: number;
  errors: number;
  completed: number;
  /** Requests sent, answered or not (a timed round cuts those in flight at its end). */
  sent: number;
  /** Answers by status other than 200 (e.g. 503 from the document memory budget). */
  otherStatuses: Record<string, number>;
}

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  /** Instead of `seconds`: this many requests in all, each connection its share, every one answered. */
  amount?: number;
  /** One per connection, reused in turn when there are fewer than connections. */
  authorizations: readonly string[];
  /** Sent with every request besides the Authorization (e.g. Accept-Encoding). */
  headers?: Readonly<Record<string, string>>;
  timeoutSeconds?: number;
}

/** The q-quantile (0..1) of sorted numbers, nearest rank; NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

export const median = (values: readonly number[]): number => quantile([...values].sort((a, b) => a - b), 0.5);

/** Drives `url` with autocannon for `seconds` at `connections`. */
export async function throughputRound(o: LoadOptions): Promise<RoundResult> {
  let next = 0;
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: o.url,
        connections: o.connections,
        ...(o.amount === undefined ? { duration: o.seconds } : { amount: o.amount }),
        timeout: o.timeoutSeconds ?? 30,
        setupClient: (client) => {
          const authorization = o.authorizations[next++ % o.authorizations.length];
          client.setHeaders({ ...o.headers, ...(authorization === undefined ? {} : { authorization }) });
        },
      },
      (err: unknown, r: autocannon.Result) => (err ? reject(err instanceof Error ? err : new Error('autocannon failed')) : resolve(r)),
    );
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
  latencies.sort((a, b) => a - b);
  const seconds = result.duration;
  return {
    seconds,
    reqPerSec: result['2xx'] / seconds,
    bytesPerSec: result.throughput.total / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    non2xx: result.non2xx,
    errors: result.errors,
    completed: result['2xx'] + result.non2xx,
    sent: result.requests.sent,
    otherStatuses: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).flatMap(([status, s]) => (status === '200' ? [] : [[status, s.count ?? 0]])),
    ),
  };
}

/** `count` requests one after another over one kept-alive connection. */
export async function sequentialRound(url: string, count: number, authorization: string): Promise<RoundResult> {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: 1, keepAliveTimeout: 30_000 });
  const latencies: number[] = [];
  let bytes = 0;
  let non2xx = 0;
  const otherStatuses: Record<string, number> = {};
  const t0 = performance.now();
  try {
    for (let i = 0; i < count; i++) {
      const start = performance.now();
      const res = await pool.request({ path: u.pathname + u.search, method: 'GET', headers: { authorization } });
      const body = await res.body.arrayBuffer();
      const ms = performance.now() - start;
      bytes += body.byteLength;
      if (res.statusCode >= 200 && res.statusCode < 300) latencies.push(ms);
      else non2xx++;
      if (res.statusCode !== 200) otherStatuses[String(res.statusCode)] = (otherStatuses[String(res.statusCode)] ?? 0) + 1;
    }
  } finally {
    await pool.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    seconds,
    reqPerSec: latencies.length / seconds,
    bytesPerSec: bytes / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    non2xx,
    errors: 0,
    completed: count,
    sent: count,
    otherStatuses,
  };
}
