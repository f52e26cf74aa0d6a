/**
 * Static files served from memory: each is read once, on its first request (no I/O at
 * import or app construction), and kept with a strong ETag, so a browser revalidates with a
 * 304 instead of downloading again, and a gzip copy for clients that accept one. Reading
 * and compressing never block the event loop.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Context } from 'hono';
import { chooseCoding } from './accept-encoding.ts';

/** A file's bytes as served, with its validator. */
export interface StaticAsset {
  body: Bytes;
  /** Quoted, as it goes in the ETag header. */
  etag: string;
  /** Made on first use: only clients that accept gzip pay for it. */
  gzip(): Promise<Bytes>;
}

/** What a Hono body takes; copied once from Node's Buffers, which may view a shared pool. */
type Bytes = Uint8Array<ArrayBuffer>;

const gzipAsync = promisify(gzip);

/** The asset `load` produces, loaded on first use and kept. A failed load is tried again next time. */
export function lazyAsset(load: () => Promise<string | Buffer>): () => Promise<StaticAsset> {
  let asset: Promise<StaticAsset> | undefined;
  return () => {
    asset ??= load().then(toAsset, (err: unknown) => {
      asset = undefined;
      throw err;
    });
    return asset;
  };
}

function toAsset(raw: string | Buffer): StaticAsset {
  const body: Bytes = new Uint8Array(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw);
  let zipped: Promise<Bytes> | undefined;
  return {
    body,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    gzip: () => (zipped ??= gzipAsync(body).then((z) => new Uint8Array(z))),
  };
}

/** Whether If-None-Match names this ETag (weak comparison, RFC 9110 §13.1.2). */
function notModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}

/** Answers with the asset: 304 when the client holds it already, gzip when it accepts that. */
export async function sendAsset(c: Context, asset: StaticAsset, contentType: string, cacheControl: string): Promise<Response> {
  const headers: Record<string, string> = {
    etag: asset.etag,
    'cache-control': cacheControl,
    vary: 'accept-encoding',
    'x-content-type-options': 'nosniff',
  };
  if (notModified(c.req.header('if-none-match'), asset.etag)) return c.body(null, 304, headers);
  headers['content-type'] = contentType;
  if (chooseCoding(c.req.header('accept-encoding'), ['gzip']) === 'gzip') return c.body(await asset.gzip(), 200, { ...headers, 'content-encoding': 'gzip' });
  return c.body(asset.body, 200, headers);
}
