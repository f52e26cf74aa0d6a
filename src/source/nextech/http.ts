/**
 * One GET to Nextech over undici, with an overall deadline, and the classification of
 * every way it can fail into an UpstreamFailure. Knows nothing of particular endpoints.
 * A body counts against the document memory budget (memory-budget.ts) from its first byte:
 * until it is parsed, or — when it is read for a request that holds room (`room`) — until
 * that request's response is built, since the request keeps what the body held.
 */
import { errors, request, type Dispatcher } from 'undici';
import { UpstreamError, type UpstreamFailure } from '../errors.ts';
import type { RequestRoom } from '../call.ts';
import { MemoryBudgetFull, type MemoryBudget, type Reservation } from '../memory-budget.ts';

/** Bodies larger than this (or than the whole memory budget) are refused rather than buffered (20 CCDs of several MB fit). */
const MAX_BODY_BYTES = 256 * 1024 * 1024;
/** What a client refused for lack of document memory is told to wait: bodies in flight are parsed within seconds. */
const MEMORY_RETRY_AFTER_SECONDS = 2;

export interface GetOptions {
  url: URL;
  headers: Record<string, string>;
  dispatcher: Dispatcher;
  /** Aborts when the caller goes away or the deadline passes. */
  signal: AbortSignal;
  /** Set when `signal` fired because the deadline passed (not because the caller left). */
  timedOut: () => boolean;
  endpoint: string;
  /** The document memory budget the body counts against while it is read and parsed. */
  memory?: MemoryBudget;
  /**
   * The request the body is read for: its room grows by `perByte` bytes for each body byte,
   * kept after the parse when `keep` (what the request builds its response from), else given
   * back once parsed.
   */
  room?: RequestRoom & { keep: boolean };
}

/**
 * The most of the budget one request takes for what it will make of its bodies (`perByte`
 * past the body itself): the rest stays free for its other, small reads (the patient check)
 * and for others' requests, so a request never waits on room it holds itself.
 */
const REQUEST_SHARE = 0.75;

/** How a read takes room: how many bytes per body byte, and what happens to them after the parse. */
interface Room {
  reservation: Reservation;
  perByte: number;
  /** Whose reservation: the request's (given back after the parse unless kept) or the read's own (released). */
  owner: 'request' | 'read';
  /** Kept by the request after a successful read (released with its response). */
  keep: boolean;
  /** What this read has taken so far. */
  grown: number;
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
  const room = roomFor(opts);
  let ok = false;
  try {
    let text: string;
    try {
      text = await readLimited(res, opts, room);
    } catch (err) {
      throw classify(err, opts);
    }
    try {
      const body = JSON.parse(text) as unknown;
      ok = true;
      return { status: res.statusCode, body };
    } catch {
      throw new UpstreamError({ kind: 'bad-response', detail: 'body is not JSON' }, opts.endpoint);
    }
  } finally {
    // A request keeps what a body it asked for held until its response is built; otherwise,
    // parsed (or failed), the caller owns the value now and the listing cache counts what it keeps.
    if (room?.owner === 'read') room.reservation.release();
    else if (room && !(ok && room.keep)) room.reservation.shrink(room.grown);
  }
}

function roomFor(opts: GetOptions): Room | undefined {
  // A request whose response is already built (or failed) holds nothing more: the read then counts on its own.
  const r = opts.room;
  if (r?.reservation.open) return { reservation: r.reservation, perByte: Math.max(1, r.perByte), owner: 'request', keep: r.keep, grown: 0 };
  const own = opts.memory?.reserve();
  return own ? { reservation: own, perByte: 1, owner: 'read', keep: false, grown: 0 } : undefined;
}

/**
 * Reads the body as text, refusing one over the limit (announced or as it arrives) and, with
 * a memory budget, reserving room for it first: all of it when Nextech announces its length,
 * else chunk by chunk.
 */
async function readLimited(res: Dispatcher.ResponseData, opts: GetOptions, room: Room | undefined): Promise<string> {
  const body = res.body;
  const limit = opts.memory ? Math.min(MAX_BODY_BYTES, opts.memory.maxBytes) : MAX_BODY_BYTES;
  const maxRoom = opts.memory?.maxBytes ?? Infinity;
  /** Stops reading (the connection is dropped) and says why. */
  const refuse = (err: unknown): Error => {
    body.on('error', () => undefined);
    body.destroy();
    if (err instanceof MemoryBudgetFull) return new UpstreamError({ kind: 'memory', retryAfterSeconds: MEMORY_RETRY_AFTER_SECONDS }, 'body');
    if (err instanceof RangeError) return tooLarge();
    return err instanceof Error ? err : new Error('aborted');
  };
  let counted = 0;
  /**
   * Room for the body's first `size` bytes: `perByte` each, but past the body itself only up
   * to the request's share of the budget (counting what it held before this read).
   */
  const reserve = async (size: number): Promise<void> => {
    if (!room) return;
    // The request this body was read for is done (its client left, others still want the
    // body): the rest of the read counts on its own, until parsed.
    if (room.owner === 'request' && !room.reservation.open && opts.memory) {
      Object.assign(room, { reservation: opts.memory.reserve(), owner: 'read', perByte: 1, keep: false, grown: 0 });
      counted = 0;
    }
    const r = room.reservation;
    const cap = maxRoom * REQUEST_SHARE - (r.bytes - room.grown);
    const want = Math.max(size, Math.min(size * room.perByte, cap)) - room.grown;
    if (want > 0) {
      try {
        await r.grow(want, opts.signal);
        room.grown += want;
      } catch (err) {
        throw refuse(err);
      }
    }
    counted = size;
  };
  const announced = contentLength(res.headers['content-length']);
  if (announced !== undefined && announced > limit) throw refuse(tooLarge());
  if (announced !== undefined) await reserve(announced);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw refuse(tooLarge());
    if (size > counted) await reserve(size);
    chunks.push(buf);
  }
  const whole = Buffer.concat(chunks, size);
  chunks.length = 0;
  return whole.toString('utf8');
}

const tooLarge = (): UpstreamError => new UpstreamError({ kind: 'bad-response', detail: 'body too large' }, 'body');

function contentLength(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v !== undefined && /^\d{1,15}$/.test(v.trim()) ? Number(v.trim()) : undefined;
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
