/**
 * The baseline the facade is measured against: a bare pass-through proxy (Hono + undici)
 * that forwards a request to Nextech with the caller's own `Authorization` header and answers
 * with Nextech's status, content type and body bytes untouched — small bodies whole, large
 * ones streamed through as they arrive. No parsing, no mapping, no policy beyond undici's own
 * timeouts.
 *
 * - `GET /practices/{practiceId}/nextech/{path}?{query}` forwards one call to
 *   `{upstream}/{path}?{query}` with `x-nextech-practice-id: {practiceId}`.
 * - `GET /practices/{practiceId}/chain?call={path?query}&call=…` makes the listed calls at
 *   once (as the facade makes a patient check and an encounter search together) and answers
 *   with the largest of their bodies (the encounter listing, not the patient check): the
 *   proxy equivalent of a FHIR request that needs several calls.
 */
import { Hono } from 'hono';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

interface Forwarded {
  status: number;
  contentType: string;
  /** The body's length as Nextech declared it (-1 when it did not). */
  length: number;
  body: Dispatcher.ResponseData['body'];
}

async function forward(dispatcher: Dispatcher, url: string, practiceId: string, authorization: string | undefined): Promise<Forwarded> {
  const u = new URL(url);
  const res = await dispatcher.request({
    origin: u.origin,
    path: u.pathname + u.search,
    method: 'GET',
    headers: { 'x-nextech-practice-id': practiceId, ...(authorization === undefined ? {} : { authorization }) },
  });
  const contentType = res.headers['content-type'];
  const length = Number(res.headers['content-length'] ?? -1);
  return {
    status: res.statusCode,
    contentType: typeof contentType === 'string' ? contentType : 'application/json',
    length: Number.isFinite(length) ? length : -1,
    body: res.body,
  };
}

/** Small bodies are sent whole; large ones streamed through as they arrive. */
const STREAM_FROM_BYTES = 64 * 1024;

async function answer(f: Forwarded): Promise<Response> {
  const headers = { 'content-type': f.contentType, ...(f.length >= 0 ? { 'content-length': String(f.length) } : {}) };
  if (f.length >= 0 && f.length < STREAM_FROM_BYTES) return new Response(await f.body.arrayBuffer(), { status: f.status, headers });
  return new Response(Readable.toWeb(f.body), { status: f.status, headers });
}

/** A relative upstream path and query (no scheme, host or `..`), or undefined. */
function upstreamPath(raw: string): string | undefined {
  return /^\/[A-Za-z0-9/_-]*(\?[^#\s]*)?$/.test(raw) && !raw.includes('..') ? raw : undefined;
}

/** The proxy app over the Nextech API at `apiBaseUrl` (e.g. http://127.0.0.1:41234/ehr/api). */
export function createProxyApp(apiBaseUrl: string, dispatcher: Dispatcher): Hono {
  const base = apiBaseUrl.replace(/\/+$/, '');
  const app = new Hono();
  app.get('/practices/:practiceId/nextech/*', async (c) => {
    const url = new URL(c.req.url);
    const prefix = `/practices/${c.req.param('practiceId')}/nextech`;
    const rest = upstreamPath(url.pathname.slice(prefix.length) + url.search);
    if (rest === undefined) return c.json({ message: 'bad path' }, 400);
    return answer(await forward(dispatcher, base + rest, c.req.param('practiceId'), c.req.header('authorization')));
  });
  app.get('/practices/:practiceId/chain', async (c) => {
    const calls = (c.req.queries('call') ?? []).map(upstreamPath);
    if (calls.length === 0 || calls.length > 10 || calls.some((p) => p === undefined)) return c.json({ message: 'bad calls' }, 400);
    const authorization = c.req.header('authorization');
    const results = await Promise.all(calls.map((p) => forward(dispatcher, base + (p ?? ''), c.req.param('practiceId'), authorization)));
    const chosen = results.find((r) => r.status !== 200) ?? results.reduce((a, b) => (b.length > a.length ? b : a));
    // The other bodies are read and dropped, as a proxy that does not answer with them would.
    await Promise.all(results.filter((r) => r !== chosen).map((r) => r.body.dump()));
    return answer(chosen);
  });
  app.onError((_err, c) => c.json({ message: 'upstream call failed' }, 502));
  return app;
}
