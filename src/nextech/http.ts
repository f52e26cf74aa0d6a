/**
 * One GET to Nextech over undici, with an overall deadline, and the classification of
 * every way it can fail into an UpstreamFailure. Knows nothing of particular endpoints.
 */
import { errors, request, type Dispatcher } from 'undici';
import { UpstreamError, type UpstreamFailure } from './errors.ts';

/** Bodies larger than this are refused rather than buffered (20 CCDs of several MB fit). */
const MAX_BODY_BYTES = 256 * 1024 * 1024;

export interface GetOptions {
  url: URL;
  headers: Record<string, string>;
  dispatcher: Dispatcher;
  /** Aborts when the caller goes away or the deadline passes. */
  signal: AbortSignal;
  /** Set when `signal` fired because the deadline passed (not because the caller left). */
  timedOut: () => boolean;
  endpoint: string;
}

export interface RawResponse {
  status: number;
  body: unknown;
}

/** Parses Retry-After given as delta-seconds or an HTTP-date; undefined if absent or bad. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Math.min(Number(v.trim()), 86_400);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function failureForStatus(status: number, headers: Record<string, string | string[] | undefined>): UpstreamFailure {
  switch (status) {
    case 400:
      return { kind: 'rejected', status };
    case 401:
      return { kind: 'unauthorized', status };
    case 403:
      return { kind: 'forbidden', status };
    case 404:
      return { kind: 'not-found', status };
    case 429: {
      const retryAfterSeconds = parseRetryAfter(headers['retry-after']);
      return retryAfterSeconds === undefined ? { kind: 'rate-limited', status } : { kind: 'rate-limited', status, retryAfterSeconds };
    }
    default:
      return status >= 500 ? { kind: 'server-error', status } : { kind: 'bad-response', detail: `unexpected HTTP ${status}` };
  }
}

function isTimeout(err: unknown): boolean {
  return (
    err instanceof errors.HeadersTimeoutError ||
    err instanceof errors.BodyTimeoutError ||
    err instanceof errors.ConnectTimeoutError
  );
}

/** Performs the GET and returns the parsed JSON body of a 2xx, or throws UpstreamError. */
export async function getJson(opts: GetOptions): Promise<RawResponse> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(opts.url, {
      method: 'GET',
      headers: { accept: 'application/json', ...opts.headers },
      dispatcher: opts.dispatcher,
      signal: opts.signal,
    });
  } catch (err) {
    throw classify(err, opts);
  }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    // Discard the body unread (it may carry patient data); a failure to drain is irrelevant.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    throw new UpstreamError(failureForStatus(res.statusCode, res.headers), opts.endpoint);
  }
  let text: string;
  try {
    text = await readLimited(res.body, MAX_BODY_BYTES);
  } catch (err) {
    throw classify(err, opts);
  }
  try {
    return { status: res.statusCode, body: JSON.parse(text) as unknown };
  } catch {
    throw new UpstreamError({ kind: 'bad-response', detail: 'body is not JSON' }, opts.endpoint);
  }
}

async function readLimited(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) {
      body.on('error', () => undefined);
      body.destroy();
      throw new UpstreamError({ kind: 'bad-response', detail: 'body too large' }, 'body');
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function classify(err: unknown, opts: GetOptions): Error {
  if (err instanceof UpstreamError) return new UpstreamError(err.failure, opts.endpoint);
  if (opts.signal.aborted) {
    // Our deadline → timeout. The caller leaving → rethrow the abort as is.
    return opts.timedOut() ? new UpstreamError({ kind: 'timeout' }, opts.endpoint) : toError(opts.signal.reason);
  }
  if (isTimeout(err)) return new UpstreamError({ kind: 'timeout' }, opts.endpoint);
  return new UpstreamError({ kind: 'connection' }, opts.endpoint);
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error('aborted');
}
