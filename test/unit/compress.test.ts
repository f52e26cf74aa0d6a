// The compression middleware (src/routes/compress.ts) on a small Hono app, for what no route
// of the service produces on demand: responses that carry a Content-Encoding already, say
// no-transform, are 204/304, are images, carry a strong ETag or a Vary of their own, or whose
// body fails partway. What the service's own routes send is test/compression.test.ts.
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { compressResponses, MIN_BYTES } from '../../src/routes/compress.ts';
import { MAX_OPEN_STREAMS, openCompressingStreams, SMALL_BYTES } from '../../src/routes/compressed-body.ts';
import type { AppEnv } from '../../src/routes/env.ts';

const BIG = JSON.stringify({ resourceType: 'Bundle', entry: Array.from({ length: 200 }, (_, i) => ({ resource: { resourceType: 'Patient', id: `p${i}` } })) });
const JSON_TYPE = 'application/fhir+json; charset=utf-8';
/** Larger than what is compressed in one call. */
const LARGE = BIG.repeat(Math.ceil((SMALL_BYTES * 2) / BIG.length));

function app(): Hono<AppEnv> {
  const a = new Hono<AppEnv>();
  a.use(compressResponses());
  a.get('/json', (c) => c.body(BIG, 200, { 'content-type': JSON_TYPE }));
  a.get('/sized', (c) => c.body(BIG, 200, { 'content-type': JSON_TYPE, 'content-length': String(BIG.length) }));
  a.get('/sized-large', (c) => c.body(LARGE, 200, { 'content-type': JSON_TYPE, 'content-length': String(LARGE.length) }));
  a.get('/small', (c) => c.body('{"resourceType":"Patient"}', 200, { 'content-type': JSON_TYPE, 'content-length': '26' }));
  a.get('/etag', (c) => c.body(BIG, 200, { 'content-type': JSON_TYPE, etag: '"abc"' }));
  a.get('/weak-etag', (c) => c.body(BIG, 200, { 'content-type': JSON_TYPE, etag: 'W/"1"' }));
  a.get('/vary', (c) => c.body(BIG, 200, { 'content-type': JSON_TYPE, vary: 'Origin' }));
  a.get('/encoded', (c) => c.body(BIG, 200, { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' }));
  a.get('/no-transform', (c) => c.body(BIG, 200, { 'content-type': JSON_TYPE, 'cache-control': 'no-store, no-transform' }));
  a.get('/png', (c) => c.body(BIG, 200, { 'content-type': 'image/png' }));
  a.get('/zip', (c) => c.body(BIG, 200, { 'content-type': 'application/zip' }));
  a.get('/ndjson', (c) => c.body(BIG, 200, { 'content-type': 'application/fhir+ndjson' }));
  a.get('/html', (c) => c.body(BIG, 200, { 'content-type': 'text/html; charset=utf-8' }));
  a.get('/304', (c) => c.body(null, 304, { 'content-type': JSON_TYPE }));
  a.get('/204', (c) => c.body(null, 204, { 'content-type': JSON_TYPE }));
  a.get('/broken', () => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Two good slices, then the source fails.
        if (sent++ < 2) controller.enqueue(new TextEncoder().encode(BIG));
        else controller.error(new Error('frame refused'));
      },
    });
    return new Response(body, { headers: { 'content-type': 'application/fhir+ndjson', 'transfer-encoding': 'chunked' } });
  });
  return a;
}

const get = (path: string, acceptEncoding?: string) => app().request(path, { headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } });

describe('compressResponses', () => {
  it('compresses JSON, NDJSON and HTML with the coding chosen: streamed with no length, or in one piece with its length when small and known', async () => {
    expect(BIG.length).toBeGreaterThan(MIN_BYTES);
    expect(BIG.length).toBeLessThanOrEqual(SMALL_BYTES);
    for (const path of ['/json', '/sized', '/sized-large', '/ndjson', '/html']) {
      for (const coding of ['br', 'gzip']) {
        const res = await get(path, coding);
        expect(res.headers.get('content-encoding'), `${path} ${coding}`).toBe(coding);
        expect(res.headers.get('vary')).toBe('Accept-Encoding');
        const declared = res.headers.get('content-length');
        const bytes = Buffer.from(await res.arrayBuffer());
        if (path === '/sized') expect(declared).toBe(String(bytes.length));
        else expect(declared, path).toBeNull();
        const text = (coding === 'br' ? brotliDecompressSync(bytes) : gunzipSync(bytes)).toString('utf8');
        expect(text).toBe(path === '/sized-large' ? LARGE : BIG);
      }
    }
  });

  it('leaves a body known to be small, and any body of a client that accepts no coding, as it is (with Vary)', async () => {
    expect(MIN_BYTES).toBeGreaterThan(26);
    for (const [path, accept] of [['/small', 'br, gzip'], ['/json', undefined], ['/json', 'identity'], ['/json', 'gzip;q=0']] as const) {
      const res = await get(path, accept);
      expect(res.headers.get('content-encoding'), `${path} ${accept}`).toBeNull();
      expect(res.headers.get('vary')).toBe('Accept-Encoding');
    }
  });

  it('leaves as they are: an answer encoded already, one that says no-transform, images, archives, 204 and 304', async () => {
    for (const path of ['/encoded', '/no-transform', '/png', '/zip', '/204', '/304']) {
      const res = await get(path, 'br, gzip');
      expect(res.headers.get('content-encoding'), path).toBe(path === '/encoded' ? 'gzip' : null);
      // Vary is for what compression could have changed: 204 and 304 of a compressible type say it, the rest not.
      expect(res.headers.get('vary'), path).toBe(path === '/204' || path === '/304' ? 'Accept-Encoding' : null);
    }
  });

  it('weakens a strong ETag of what it compresses, keeps a weak one, and adds to a Vary already there', async () => {
    expect((await get('/etag', 'gzip')).headers.get('etag')).toBe('W/"abc"');
    expect((await get('/etag', 'identity')).headers.get('etag')).toBe('"abc"');
    expect((await get('/weak-etag', 'gzip')).headers.get('etag')).toBe('W/"1"');
    expect((await get('/vary', 'gzip')).headers.get('vary')).toBe('Origin, Accept-Encoding');
  });

  it('fails its compressed body when the body fails partway, never ending it cleanly', async () => {
    for (const coding of ['br', 'gzip']) {
      const res = await get('/broken', coding);
      expect(res.headers.get('content-encoding')).toBe(coding);
      await expect(res.arrayBuffer()).rejects.toThrow('frame refused');
    }
  });

  it('sends a large answer uncompressed while MAX_OPEN_STREAMS compressing streams are held by clients that do not read, and compresses again once one is let go', async () => {
    const a = app();
    const ask = async () => a.request('/sized-large', { headers: { 'accept-encoding': 'br' } });
    // Answers of the tests above whose bodies were not read hold streams too.
    const before = openCompressingStreams();
    const held = await Promise.all(Array.from({ length: MAX_OPEN_STREAMS - before }, ask));
    expect(held.every((r) => r.headers.get('content-encoding') === 'br')).toBe(true);
    expect(openCompressingStreams()).toBe(MAX_OPEN_STREAMS);
    const past = await ask();
    expect(past.headers.get('content-encoding')).toBeNull();
    expect(past.headers.get('vary')).toBe('Accept-Encoding');
    expect(await past.text()).toBe(LARGE);
    await held[0]!.body!.cancel();
    await new Promise((r) => setTimeout(r, 50));
    const again = await ask();
    expect(again.headers.get('content-encoding')).toBe('br');
    expect(brotliDecompressSync(Buffer.from(await again.arrayBuffer())).toString()).toBe(LARGE);
    await Promise.all(held.slice(1).map((r) => r.body!.cancel()));
    await new Promise((r) => setTimeout(r, 50));
    expect(openCompressingStreams()).toBeLessThanOrEqual(before);
  });
});
