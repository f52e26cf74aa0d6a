/**
 * The faults that misbehave below HTTP: a reset connection, a body cut short, a body
 * dribbled out. Served by `@hono/node-server` they act on the raw Node response and
 * socket, so a real client (undici) sees a real socket error or a slow stream. Called
 * in-process (`app.request`, no Node bindings) they fall back to web streams that fail
 * or stall the same way, as far as a Response can.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** The Node response behind a request, when it was served by `@hono/node-server`. */
export function nodeResponse(env: unknown): ServerResponse | undefined {
  if (typeof env !== 'object' || env === null || !('outgoing' in env)) return undefined;
  return env.outgoing instanceof ServerResponse ? env.outgoing : undefined;
}

/** The response's headers for Node, with `content-length` the full body's length. */
function nodeHeaders(res: Response, length: number): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  res.headers.forEach((value, key) => {
    headers[key] = value;
  });
  headers['content-length'] = length;
  return headers;
}

/** Drops the connection with a TCP RST before any byte of a response. */
export function resetNow(out: ServerResponse): void {
  if (out.socket) out.socket.resetAndDestroy();
  else out.destroy();
}

/** Sends the status, headers (full content-length) and half the body, then closes the socket. */
export function sendTruncated(out: ServerResponse, res: Response, body: Uint8Array): void {
  out.writeHead(res.status, nodeHeaders(res, body.length));
  out.write(body.subarray(0, Math.floor(body.length / 2)), () => out.destroy());
}

/** Sends the whole response, `chunkBytes` at a time with `intervalMs` between chunks. */
export async function sendDripping(
  out: ServerResponse,
  res: Response,
  body: Uint8Array,
  chunkBytes: number,
  intervalMs: number,
): Promise<void> {
  out.writeHead(res.status, nodeHeaders(res, body.length));
  out.flushHeaders();
  for (let at = 0; at < body.length; at += chunkBytes) {
    if (at > 0) await sleep(intervalMs);
    // The client may give up (or the sandbox close) mid-drip.
    if (out.destroyed) return;
    const chunk = body.subarray(at, at + chunkBytes);
    await new Promise<void>((resolve) => out.write(chunk, () => resolve()));
  }
  if (!out.destroyed) out.end();
}

/**
 * The in-process stand-in for the three faults: a body stream that fails at once
 * (`cutAt` 0), fails after `cutAt` bytes, or delivers everything `chunkBytes` at a time.
 */
export function webStreamFault(
  res: Response,
  body: Uint8Array,
  plan: { cutAt: number } | { chunkBytes: number; intervalMs: number },
): Response {
  const headers = new Headers(res.headers);
  headers.set('content-length', String(body.length));
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if ('cutAt' in plan) {
        if (at < plan.cutAt) controller.enqueue(body.slice(0, plan.cutAt));
        else controller.error(new Error('The sandbox dropped the connection (injected fault).'));
        at = plan.cutAt;
        return;
      }
      if (at > 0) await sleep(plan.intervalMs);
      controller.enqueue(body.slice(at, at + plan.chunkBytes));
      at += plan.chunkBytes;
      if (at >= body.length) controller.close();
    },
  });
  return new Response(stream, { status: res.status, headers });
}
