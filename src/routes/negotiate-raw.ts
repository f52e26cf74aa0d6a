/**
 * Whether a read should answer a type's raw representation (Binary's document) rather than
 * FHIR JSON. R4 (https://hl7.org/fhir/R4/binary.html#rest): a Binary read that does not
 * explicitly ask for a FHIR content type gets the content in its own type. So: `_format`
 * naming it; no Accept: raw. Otherwise the raw type's quality is that of its most specific
 * match (`text/html`, else `text/*`, else `*\/*`, RFC 9110 §12.5.1 — so `text/html;q=0, *\/*`
 * refuses it); without a JSON type listed, raw when that quality is above 0 (an Accept naming
 * only other types is not raw: the FHIR JSON path answers 406); with one, raw only when its
 * quality is higher, or equal with `text/html` named itself before the JSON type — a wildcard
 * never outranks a FHIR type the client named.
 */
import type { RawRead } from '../resources/registry-types.ts';

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);

interface Ranked {
  q: number;
  at: number;
}

export function prefersRaw(raw: Pick<RawRead, 'contentType' | 'formats'>, accept: string | undefined, format: string | undefined): boolean {
  if (format) return raw.formats.some((f) => f.toLowerCase() === format.toLowerCase());
  if (accept === undefined || accept.trim() === '') return true;
  const [major = ''] = raw.contentType.split('/');
  const found = new Map<string, Ranked>();
  let json: Ranked | undefined;
  accept.split(',').forEach((part, at) => {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2)) || 0;
    if (!found.has(type)) found.set(type, { q, at });
    if (JSON_TYPES.has(type) && q > 0 && (json === undefined || q > json.q)) json = { q, at };
  });
  const exact = found.get(raw.contentType);
  const rawRank = exact ?? found.get(`${major}/*`) ?? found.get('*/*');
  if (!rawRank || rawRank.q === 0) return false;
  if (!json) return true;
  return rawRank.q > json.q || (rawRank.q === json.q && exact !== undefined && exact.at < json.at);
}
