/**
 * A response body compressed as it is read: node:zlib's brotli or gzip fed a slice at a time
 * and read back as a web stream, pulled only as fast as the client takes it. The whole body is
 * never held compressed, nor read ahead: one slice of input and what it compressed to are in
 * flight at a time. The compressing runs on libuv's thread pool, off the event loop.
 * A body of at most one slice, whole in memory already, is compressed in one call instead
 * (compressSmall): a stream's set-up and thread-pool round trips cost more than the work.
 *
 * A body that fails partway fails the compressed stream too — never a clean end — so the
 * server breaks the transfer off unterminated, as it would the body itself.
 */
import { brotliCompressSync, constants, createBrotliCompress, createGzip, gzipSync, type BrotliCompress, type Gzip, type ZlibOptions, type BrotliOptions } from 'node:zlib';
import type { Coding } from './accept-encoding.ts';

/**
 * Fast levels: compression costs CPU on every response, and these get most of the bytes.
 * Measured on a 1.7 MB DocumentReference searchset with CCDs (and a 47 kB Patient one):
 * brotli quality 4 makes ~6 % of the size for about the CPU of gzip 6 (~6.5 %); quality 5
 * saves another ~1 % for up to twice the CPU; gzip 5 makes ~7 % for ~15 % less CPU than 6.
 * A 1 MiB window (2^20) bounds each stream's memory at a loss of ~0.1 %.
 */
const BROTLI_QUALITY = 4;
const BROTLI_WINDOW_BITS = 20;
const GZIP_LEVEL = 5;
/** Input handed to zlib at once: a body that arrives whole (a JSON string) still streams out. */
const SLICE_BYTES = 64 * 1024;
/** Bodies up to this size are compressed in one call, on the event loop (under a millisecond). */
export const SMALL_BYTES = SLICE_BYTES;

const GZIP: ZlibOptions = { level: GZIP_LEVEL };
const brotli = (sizeHint: number | undefined): BrotliOptions => ({
  params: {
    [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
    [constants.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
    ...(sizeHint === undefined ? {} : { [constants.BROTLI_PARAM_SIZE_HINT]: sizeHint }),
  },
});

function compressor(coding: Coding, sizeHint: number | undefined): BrotliCompress | Gzip {
  return coding === 'gzip' ? createGzip(GZIP) : createBrotliCompress(brotli(sizeHint));
}

/** A body of at most SMALL_BYTES, compressed in one call. */
export function compressSmall(body: Uint8Array, coding: Coding): Uint8Array<ArrayBuffer> {
  if (body.byteLength > SMALL_BYTES) throw new RangeError('compressSmall takes at most SMALL_BYTES');
  const out = coding === 'gzip' ? gzipSync(body, GZIP) : brotliCompressSync(body, brotli(body.byteLength));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Compressing streams open at once, at most. Each holds native memory outside the heap (a
 * brotli encoder about 0.9 MB, gzip about 0.25 MB, measured) for as long as its client takes
 * to read: without a bound, clients that ask for large answers and never read (256
 * connections from one source are allowed) could hold hundreds of MB. Past it a response goes
 * out uncompressed, which every client accepts.
 */
export const MAX_OPEN_STREAMS = 64;
let openStreams = 0;

/** Compressing streams open now (for tests and metrics). */
export const openCompressingStreams = (): number => openStreams;

/**
 * `body` compressed with `coding`; `sizeHint` is its length when known. Undefined when
 * MAX_OPEN_STREAMS are open already: send `body` as it is.
 */
export function compressedBody(body: ReadableStream<Uint8Array>, coding: Coding, sizeHint?: number): ReadableStream<Uint8Array> | undefined {
  if (openStreams >= MAX_OPEN_STREAMS) return undefined;
  openStreams++;
  let open = true;
  const close = () => {
    if (open) openStreams--;
    open = false;
  };
  const z = compressor(coding, sizeHint);
  z.once('close', close);
  const reader = body.getReader();
  let out: Buffer[] = [];
  let rest: Uint8Array = new Uint8Array(0);
  let ended = false;
  let cancelled = false;
  z.on('data', (chunk: Buffer) => out.push(chunk));
  // Errors reach the write and end callbacks below; this keeps an error event from being unhandled.
  z.on('error', () => undefined);
  const write = (bytes: Uint8Array) => new Promise<void>((resolve, reject) => z.write(bytes, (err) => (err ? reject(err) : resolve())));
  const end = () =>
    new Promise<void>((resolve, reject) => {
      z.once('end', resolve);
      z.once('error', reject);
      z.end();
    });
  /** Feeds zlib until it has output or all is in; true when all is in and out. */
  const produce = async (): Promise<boolean> => {
    while (out.length === 0) {
      if (cancelled) return true;
      if (rest.byteLength > 0) {
        const slice = rest.subarray(0, SLICE_BYTES);
        rest = rest.subarray(slice.byteLength);
        await write(slice);
      } else {
        const next = await reader.read();
        if (next.done) {
          await end();
          return true;
        }
        rest = next.value;
      }
    }
    return false;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (ended) return;
      try {
        const done = await produce();
        if (cancelled) return;
        for (const chunk of out) controller.enqueue(chunk);
        out = [];
        if (done) {
          ended = true;
          controller.close();
        }
      } catch (err) {
        // The body (or zlib) failed: so does this stream, and the transfer breaks off unterminated.
        ended = true;
        z.destroy();
        reader.cancel(err).catch(() => undefined);
        if (!cancelled) controller.error(err);
      }
    },
    async cancel(reason) {
      // The client went away: stop compressing, and tell the body's source (which may hold a file open).
      cancelled = true;
      z.destroy();
      await reader.cancel(reason);
    },
  });
}
