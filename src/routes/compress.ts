/**
 * Response compression for the FHIR API and the API reference page: FHIR JSON, bulk export
 * NDJSON and HTML go out brotli- or gzip-compressed when the client accepts it
 * (accept-encoding.ts), compressed as they stream (compressed-body.ts). Left as they are:
 * bodies known to be under MIN_BYTES (framing would cost more than it saves), responses
 * that carry a Content-Encoding already (static assets compress their own) or say
 * `Cache-Control: no-transform`, HEAD, 204 and 304, and types that do not compress (images,
 * archives). A compressible response always says `Vary: Accept-Encoding`, compressed or not,
 * so a cache never serves one client's coding to another. A compressed body of unknown or
 * large size streams (no Content-Length); a small one known whole is sent with its length.
 *
 * Mounted on the routes that need it (app.ts), not on all: the OAuth and SMART endpoints
 * under /auth are never compressed. Their answers put secrets (access, refresh and ID tokens,
 * codes, CSRF values) next to what a request sends (scopes, state, redirect URIs, a login
 * name); compressed, the length of the answer would tell an attacker who can make a browser
 * send chosen requests and watch their sizes how much of a guess matched a secret (BREACH,
 * https://breachattack.com). The FHIR API carries no such secret in its answers, and is
 * called with a bearer token a cross-site page cannot attach.
 */
import type { MiddlewareHandler } from 'hono';
import { chooseCoding, type Coding } from './accept-encoding.ts';
import { compressedBody, compressSmall, SMALL_BYTES } from './compressed-body.ts';
import type { AppEnv } from './env.ts';

/** Smaller known bodies go out as they are. */
export const MIN_BYTES = 1024;

/** br first: at equal weight it is the one we send. */
const OFFERED: readonly Coding[] = ['br', 'gzip'];

/** JSON (FHIR's and others), NDJSON, XML, YAML, JavaScript, and text of any kind. */
const COMPRESSIBLE = /^(?:text\/[a-z0-9.+-]+|application\/(?:[a-z0-9.-]+\+)?(?:json|ndjson|x-ndjson|xml|yaml|javascript))$/;
const NO_TRANSFORM = /(?:^|,)\s*no-transform\s*(?:,|$)/i;
/** Statuses with no body to compress (and 206, whose ranges are of the uncompressed body). */
const BODILESS = new Set([204, 205, 206, 304]);

/** Whether a Content-Type names a type worth compressing. */
export function compressibleType(contentType: string | null): boolean {
  const type = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  return type !== undefined && COMPRESSIBLE.test(type);
}

export function compressResponses(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    const headers = c.res.headers;
    if (!compressibleType(headers.get('content-type'))) return;
    if (headers.has('content-encoding') || NO_TRANSFORM.test(headers.get('cache-control') ?? '')) return;
    addVary(headers);
    if (c.req.method === 'HEAD' || c.res.status < 200 || BODILESS.has(c.res.status)) return;
    const coding = chooseCoding(c.req.header('accept-encoding'), OFFERED);
    if (coding === undefined) return;
    const declared = headers.get('content-length');
    const length = declared === null ? undefined : Number(declared);
    if (length !== undefined && length < MIN_BYTES) return;
    const res = c.res;
    if (res.body === null) return;
    const small = length !== undefined && length <= SMALL_BYTES;
    // Past the bound on compressing streams open at once, the body goes as it is.
    const streamed = small ? undefined : compressedBody(res.body, coding, length);
    if (!small && streamed === undefined) return;
    const out = new Headers(headers);
    out.set('content-encoding', coding);
    // A strong validator names these exact bytes; the compressed ones are only equivalent (RFC 9110 §8.8.1).
    const etag = out.get('etag');
    if (etag?.startsWith('"')) out.set('etag', `W/${etag}`);
    let body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>;
    if (streamed === undefined) {
      body = compressSmall(new Uint8Array(await res.arrayBuffer()), coding);
      out.set('content-length', String(body.byteLength));
    } else {
      body = streamed;
      out.delete('content-length');
    }
    // Cleared first: Hono's setter would otherwise rebuild the new response and carry the old one's headers over.
    c.res = undefined;
    c.res = new Response(body, { status: res.status, headers: out });
  };
}

function addVary(headers: Headers): void {
  const vary = headers.get('vary');
  if (vary === null) headers.set('vary', 'Accept-Encoding');
  else if (vary.trim() !== '*' && !vary.split(',').some((v) => v.trim().toLowerCase() === 'accept-encoding')) headers.set('vary', `${vary}, Accept-Encoding`);
}
