/**
 * HTTP/1.1 written by hand on a TCP connection to 127.0.0.1: for what a client library would
 * not send (a Host exactly as written or none, an absolute-form target, headers that never
 * end, several requests on one kept-alive connection) and for what the service answers
 * before the app sees a request (Node's parser refusing it).
 */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  /** 0 when nothing came back. */
  status: number;
  type: string | undefined;
  body: string;
}

const NONE: RawResponse = { status: 0, type: undefined, body: '' };

/** One connection: requests written as they are, responses read one by one, in order. */
export interface RawConnection {
  /** Writes `text` exactly as given. */
  write(text: string): void;
  /** The next whole response (by its Content-Length, or up to the close); NONE if the connection closes first. */
  response(): Promise<RawResponse>;
  /** Resolves once the connection is closed (by either side). */
  closed: Promise<void>;
  destroy(): void;
}

export function openRaw(port: number): RawConnection {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  let received: Buffer = Buffer.alloc(0);
  let ended = false;
  let wake: () => void = () => undefined;
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    wake();
  });
  const closed = new Promise<void>((resolve) => {
    socket.on('close', () => {
      ended = true;
      wake();
      resolve();
    });
  });
  // A reset is a close as far as these tests go: what came before it is what was answered.
  socket.on('error', () => undefined);
  return {
    write: (text) => socket.write(text),
    async response() {
      for (;;) {
        const taken = takeResponse(received, ended);
        if (taken) {
          received = taken.rest;
          return taken.response;
        }
        if (ended) return NONE;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    closed,
    destroy: () => socket.destroy(),
  };
}

/** Writes `text` (nothing when it is empty) on a fresh connection and reads the first response, once the service has closed the connection. */
export async function rawExchange(port: number, text: string): Promise<RawResponse> {
  const conn = openRaw(port);
  if (text !== '') conn.write(text);
  await conn.closed;
  return conn.response();
}

/** The first response in `data`, and what follows it; undefined until it is whole. */
function takeResponse(data: Buffer, ended: boolean): { response: RawResponse; rest: Buffer } | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = data.subarray(0, end).toString('latin1');
  const declared = /^content-length: *(\d+)\s*$/im.exec(head)?.[1];
  const start = end + 4;
  const stop = declared === undefined ? data.length : start + Number(declared);
  if ((declared === undefined && !ended) || data.length < stop) return undefined;
  return {
    response: {
      status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0),
      type: /^content-type: *(.*)$/im.exec(head)?.[1]?.trim(),
      body: data.subarray(start, stop).toString('utf8'),
    },
    rest: data.subarray(stop),
  };
}
