/**
 * Whether a read should answer a type's raw representation (Binary's document) rather than
 * FHIR JSON. R4 (https://hl7.org/fhir/R4/binary.html#rest): a Binary read that does not
 * explicitly ask for a FHIR content type gets the content in its own type. So: `_format`
 * naming it; else, when Accept lists a JSON type, whichever the client prefers (a higher
 * quality, or on a tie whichever it listed first); else — no Accept, a wildcard, or the raw
 * type itself — the raw content. An Accept naming only other types is not raw (the FHIR
 * JSON path then answers 406).
 */
import type { RawRead } from '../resources/registry-types.ts';

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);

export function prefersRaw(raw: Pick<RawRead, 'contentType' | 'formats'>, accept: string | undefined, format: string | undefined): boolean {
  if (format) return raw.formats.some((f) => f.toLowerCase() === format.toLowerCase());
  if (accept === undefined || accept.trim() === '') return true;
  const [major = ''] = raw.contentType.split('/');
  let wanted = { q: 0, at: Infinity };
  let json = { q: 0, at: Infinity };
  accept.split(',').forEach((part, at) => {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2)) || 0;
    const matchesRaw = type === raw.contentType || type === '*/*' || type === `${major}/*`;
    if (matchesRaw && q > wanted.q) wanted = { q, at };
    if (JSON_TYPES.has(type) && q > json.q) json = { q, at };
  });
  if (json.q === 0) return wanted.q > 0;
  return wanted.q > json.q || (wanted.q === json.q && wanted.at < json.at);
}
