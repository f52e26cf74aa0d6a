/**
 * Writing FHIR JSON responses: the FHIR media type, `_pretty`, and headers every response
 * carrying patient data needs (no caching anywhere, no MIME sniffing). The length is declared
 * here, where the text is at hand, so compression (compress.ts) can leave small ones alone.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { FhirResource } from 'fhir/r4';
import type { DeferredBase64 } from '../fhir/deferred-base64.ts';
import { FHIR_JSON } from '../fhir/negotiate.ts';

/**
 * A FHIR JSON response. With `deferred` values in `body` (a search's documents), the body is
 * a stream: its JSON around them, and each one's base64 encoded as the client reads.
 */
export function fhirJson(
  c: Context,
  body: FhirResource,
  status = 200,
  headers: Readonly<Record<string, string>> = {},
  deferred?: DeferredBase64,
): Response {
  const pretty = new URL(c.req.url).searchParams.get('_pretty') === 'true';
  const json = JSON.stringify(body, null, pretty ? 2 : undefined);
  // Streamed when it carries documents (its length is then unknown); else whole, with its length.
  const streamed = deferred?.used === true;
  return c.body(streamed ? deferred.stream(json) : json, status as ContentfulStatusCode, {
    'content-type': FHIR_JSON,
    ...(streamed ? {} : { 'content-length': String(Buffer.byteLength(json)) }),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
}
