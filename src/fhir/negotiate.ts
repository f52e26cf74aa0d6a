/**
 * Content negotiation (https://hl7.org/fhir/R4/http.html#mime-type): this server speaks
 * JSON only. `_format` wins over `Accept`; XML (or anything else that excludes JSON) asked
 * for explicitly gets 406. A missing or wildcard Accept means JSON.
 */
import { FhirError, outcome } from './outcome.ts';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);
const ACCEPTABLE_RANGES = new Set(['*/*', 'application/*', ...JSON_FORMATS]);

function mediaType(part: string): { type: string; q: number } {
  const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
  const q = params.find((p) => p.startsWith('q='));
  const qv = q === undefined ? 1 : Number(q.slice(2));
  return { type, q: Number.isNaN(qv) ? 1 : qv };
}

/** Throws 406 unless the request accepts FHIR JSON. */
export function assertJsonAcceptable(accept: string | undefined, format: string | undefined): void {
  if (format !== undefined && format !== '') {
    // `application/fhir+json` typed into a URL unencoded arrives with a space for the `+`.
    if (JSON_FORMATS.has(mediaType(format.replace(/ /g, '+')).type)) return;
    throw notAcceptable();
  }
  if (accept === undefined || accept.trim() === '') return;
  const ok = accept
    .split(',')
    .map(mediaType)
    .some((m) => m.q > 0 && ACCEPTABLE_RANGES.has(m.type));
  if (!ok) throw notAcceptable();
}

const notAcceptable = () =>
  new FhirError(406, outcome('error', 'not-supported', 'Only JSON is supported (application/fhir+json)'));
