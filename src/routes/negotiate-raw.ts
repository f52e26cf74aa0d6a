/**
 * Whether a read should answer a type's raw representation (Binary's document,
 * https://hl7.org/fhir/R4/binary.html#rest) rather than FHIR JSON: `_format` naming it, or
 * Accept preferring its media type — a higher quality than any JSON type, or on a tie
 * whichever the client listed first. No Accept, or a wildcard, means FHIR JSON.
 */
import type { RawRead } from '../resources/registry-types.ts';

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);

export function prefersRaw(raw: Pick<RawRead, 'contentType' | 'formats'>, accept: string | undefined, format: string | undefined): boolean {
  if (format) return raw.formats.some((f) => f.toLowerCase() === format.toLowerCase());
  let wanted = { q: 0, at: Infinity };
  let json = { q: 0, at: Infinity };
  (accept ?? '').split(',').forEach((part, at) => {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2)) || 0;
    if (type === raw.contentType && q > wanted.q) wanted = { q, at };
    if (JSON_TYPES.has(type) && q > json.q) json = { q, at };
  });
  return wanted.q > 0 && (wanted.q > json.q || (wanted.q === json.q && wanted.at < json.at));
}
