/**
 * The HTTP server under the app, and what one connection may cost before any route sees it
 * (HTTP_* variables): headers no larger than the longest URL the app accepts plus room for a
 * bearer token, a first byte and whole headers within seconds, a whole request within its
 * timeout, and a bounded number of open connections — in all, and from one source (an IPv4
 * address or an IPv6 /64).
 * A connection over a bound is closed as it arrives, so slow or half-open connections cannot
 * grow memory without bound: each holds at most `maxHeaderBytes` of headers for at most
 * `headersTimeoutMs`, and there are at most `maxConnections` of them.
 *
 * The requests of one connection run one at a time, in order: Node hands every request it
 * parses to the listener at once, so a client pipelining thousands of requests down one
 * connection (or sending them and leaving) would run them all together, and no connection
 * limit would bound what they cost. A few may wait their turn; a connection pipelining more
 * is closed, and what waited for a connection that is gone never runs.
 *
 * Whatever the parser refuses is answered as the app would (an OperationOutcome), never with
 * Node's bare status line.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { RequestError } from '@hono/node-server';
import type { Logger } from 'pino';
import type { HttpLimits } from './config.ts';
import { outcome, type IssueCode } from './fhir/outcome.ts';
import { sourceOf } from './net/addresses.ts';

/** Why the server closed a connection itself (a metric label). */
export type ClosedBecause = 'source-limit' | 'server-limit' | 'silent' | 'header-too-large' | 'timeout' | 'malformed' | 'pipelining';

/** The app's listener (it answers its own errors: a promise it returns never rejects). */
type Listener = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** How often Node looks for requests past their timeouts (its default, 30 s, would let them live that long). */
const CHECK_EVERY_MS = 1000;
/** Pipelined requests that may wait behind the one running on a connection; one more closes it. */
export const PIPELINE_WAITING = 8;

/** An HTTP server serving `listener` within `limits`; `closed` hears of each connection it cut. */
export function createHttpServer(limits: HttpLimits, listener: Listener, closed: (why: ClosedBecause) => void = () => undefined): Server {
  const answering = new Answering();
  const pipelines = new Pipelines();
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: CHECK_EVERY_MS,
      // Checked below, to answer an OperationOutcome rather than Node's bare 400.
      requireHostHeader: false,
    },
    (req, res) => {
      const socket = req.socket;
      // Parsed from data that arrived before the client left, or pipelined past the bound: not run.
      if (socket.destroyed) return;
      answering.begin(socket, res);
      const turn = pipelines.take(socket, res, () => {
        lowerCaseHost(req);
        if (!answeredHostless(req, res) && !answeredAbsoluteForm(req, res)) void listener(req, res);
      });
      if (!turn) {
        socket.destroy();
        closed('pipelining');
      }
    },
  );
  // Beyond it, Node closes new connections before reading anything from them.
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => closed('server-limit'));
  server.on('connection', admitConnections(limits, closed));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket, { limits, closed, answering }));
  return server;
}

/**
 * Host names are case-insensitive (RFC 9110 §4.2.3): lower-cased here, once, for everything
 * after — the adapter builds the URL from `headers.host` (and refuses a Host whose case
 * differs from the URL's), the app reads the header from `rawHeaders` (host-guard.ts
 * compares it with the hosts served).
 */
function lowerCaseHost(req: IncomingMessage): void {
  const host = req.headers.host;
  if (host === undefined || host === host.toLowerCase()) return;
  req.headers.host = host.toLowerCase();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]?.toLowerCase() === 'host') raw[i + 1] = raw[i + 1]?.toLowerCase() ?? '';
}

/**
 * One request at a time per connection: a request arriving while an earlier one of its
 * connection runs waits for that one's response to be written out (or cut short), in order,
 * at most PIPELINE_WAITING of them. A connection that goes away takes its waiting requests
 * with it, unrun.
 */
class Pipelines {
  readonly #lines = new WeakMap<Socket, { running: boolean; waiting: (() => void)[] }>();

  /** Runs `run` in the connection's turn; false (nothing runs) when too many wait already. */
  take(socket: Socket, res: ServerResponse, run: () => void): boolean {
    let line = this.#lines.get(socket);
    if (!line) {
      const fresh = { running: false, waiting: [] as (() => void)[] };
      this.#lines.set(socket, fresh);
      socket.once('close', () => (fresh.waiting.length = 0));
      line = fresh;
    }
    const own = line;
    const start = () => {
      own.running = true;
      let over = false;
      const next = () => {
        if (over) return;
        over = true;
        own.running = false;
        own.waiting.shift()?.();
      };
      res.once('finish', next);
      res.once('close', next);
      run();
    };
    if (!own.running) start();
    else if (own.waiting.length < PIPELINE_WAITING) own.waiting.push(start);
    else return false;
    return true;
  }
}

/** HTTP/1.1 requires a Host (RFC 9112 §3.2): a request without one is a 400 OperationOutcome. True when answered. */
function answeredHostless(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.headers.host !== undefined || req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return false;
  refuseRequest(res, 400, 'structure', 'An HTTP/1.1 request must name its Host');
  return true;
}

/** Answers a request the app never sees: an OperationOutcome, and the connection closed after it. */
function refuseRequest(res: ServerResponse, status: number, code: IssueCode, diagnostics: string): void {
  const body = JSON.stringify(outcome('error', code, diagnostics));
  res.writeHead(status, { 'content-type': 'application/fhir+json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', connection: 'close' });
  res.end(body);
}

/**
 * A request whose target is in absolute form (`GET http://host/path`) with user information
 * (`http://user:pw@host/…`) cannot become a URL the app reads (WHATWG Request refuses
 * credentials): a 400 OperationOutcome here, instead of an error deep in the app. True when
 * answered.
 */
function answeredAbsoluteForm(req: IncomingMessage, res: ServerResponse): boolean {
  const target = req.url ?? '';
  if (target.startsWith('/') || !target.includes('@')) return false;
  // Unparsable targets are the adapter's to refuse (400); '@' elsewhere (a query) is no user information.
  const url = URL.canParse(target) ? new URL(target) : undefined;
  if (!url || (url.username === '' && url.password === '')) return false;
  refuseRequest(res, 400, 'structure', 'The request target must not carry user information');
  return true;
}

/**
 * The connections on which a response is being written. A refusal written there would land
 * in the middle of it; on a kept-alive connection whose earlier responses are all out, it is
 * the answer to the next request like any other.
 */
class Answering {
  readonly #open = new WeakMap<Socket, number>();

  begin(socket: Socket, res: ServerResponse): void {
    this.#open.set(socket, (this.#open.get(socket) ?? 0) + 1);
    let over = false;
    const end = () => {
      if (over) return;
      over = true;
      const left = (this.#open.get(socket) ?? 1) - 1;
      if (left > 0) this.#open.set(socket, left);
      else this.#open.delete(socket);
    };
    // Written out whole, or cut short: either way nothing more of it will be written.
    res.once('finish', end);
    res.once('close', end);
  }

  on(socket: Socket): boolean {
    return this.#open.has(socket);
  }
}

/**
 * Counts each source's open connections and closes one over the bound at once; a connection
 * that sends nothing within the headers timeout is closed too (Node times out only requests
 * that have begun). A source is what the queues of unproven callers count by too
 * (net/addresses.ts): an IPv4 address, or a whole IPv6 /64, which one host can hold. The map
 * holds sources with a connection open: at most `maxConnections` entries.
 */
export function admitConnections(limits: Pick<HttpLimits, 'maxConnectionsPerSource' | 'headersTimeoutMs'>, closed: (why: ClosedBecause) => void): (socket: Socket) => void {
  const open = new Map<string, number>();
  return (socket) => {
    const source = sourceOf(socket.remoteAddress);
    const count = (source === undefined ? 0 : (open.get(source) ?? 0)) + 1;
    if (source === undefined || count > limits.maxConnectionsPerSource) {
      socket.destroy();
      closed('source-limit');
      return;
    }
    open.set(source, count);
    const silent = setTimeout(() => {
      if (socket.bytesRead === 0) {
        socket.destroy();
        closed('silent');
      }
    }, limits.headersTimeoutMs);
    silent.unref();
    socket.once('close', () => {
      clearTimeout(silent);
      const left = (open.get(source) ?? 1) - 1;
      if (left > 0) open.set(source, left);
      else open.delete(source);
    });
  };
}

interface Refusal {
  status: number;
  reason: string;
  why: ClosedBecause;
  code: IssueCode;
  diagnostics: (limits: HttpLimits) => string;
}

const REFUSALS: Record<string, Refusal> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    why: 'header-too-large',
    code: 'too-long',
    diagnostics: (l) => `The request line and headers are larger than ${l.maxHeaderBytes / 1024} KiB`,
  },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', why: 'timeout', code: 'timeout', diagnostics: () => 'The request did not arrive in time' },
};
const MALFORMED: Refusal = { status: 400, reason: 'Bad Request', why: 'malformed', code: 'structure', diagnostics: () => 'The request is not valid HTTP/1.1' };

interface ClientErrorContext {
  limits: HttpLimits;
  closed: (why: ClosedBecause) => void;
  answering: Answering;
}

/** Node's parser refused the request: answer an OperationOutcome, as the app would, and close. */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket, { limits, closed, answering }: ClientErrorContext): void {
  // The client went away, or a response is being written (a pipelined request): nothing more to say on this connection.
  if (err.code === 'ECONNRESET' || !socket.writable || answering.on(socket)) {
    socket.destroy();
    return;
  }
  const r = REFUSALS[err.code ?? ''] ?? MALFORMED;
  const body = JSON.stringify(outcome('error', r.code, r.diagnostics(limits)));
  closed(r.why);
  socket.end(
    `HTTP/1.1 ${r.status} ${r.reason}\r\nContent-Type: application/fhir+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
  // Whatever else the client sends is not read: the connection goes once the answer is out.
  socket.destroySoon();
}

/**
 * For the adapter (getRequestListener's errorHandler): a request it cannot turn into a URL (a
 * malformed Host or target) is a 400 OperationOutcome, as the app answers what it cannot
 * read; anything else it could not hand to the app is a bug, logged (its name and stack,
 * nothing of the request) and answered with a 500 one.
 */
export function unreadableRequests(log: Pick<Logger, 'error'>): (err: unknown) => Response {
  return (err) => {
    const bad = err instanceof RequestError;
    if (!bad) {
      const { name, stack } = err instanceof Error ? err : { name: typeof err, stack: undefined };
      log.error({ err: { name, stack } }, 'a request could not be handed to the app');
    }
    const body = bad ? outcome('error', 'structure', 'The request line or Host header is not valid') : outcome('fatal', 'exception', 'Internal server error');
    return new Response(JSON.stringify(body), {
      status: bad ? 400 : 500,
      headers: { 'content-type': 'application/fhir+json; charset=utf-8', 'cache-control': 'no-store' },
    });
  };
}
