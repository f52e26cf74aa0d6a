/**
 * Writing FHIR JSON responses: the FHIR media type, `_pretty`, and headers every response
 * carrying patient data needs (no caching anywhere, no MIME sniffing). The length is declared
 * here, where the text is at hand, so compression (compress.ts) can leave small ones alone.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { FhirResource } from 'fhir/r4';
import { FHIR_JSON } from '../fhir/negotiate.ts';

export function fhirJson(
  c: Context,
  body: FhirResource,
  status = 200,
  headers: Readonly<Record<string, string>> = {},
): Response {
  const pretty = new URL(c.req.url).searchParams.get('_pretty') === 'true';
  const text = JSON.stringify(body, null, pretty ? 2 : undefined);
  return c.body(text, status as ContentfulStatusCode, {
    'content-type': FHIR_JSON,
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
}
