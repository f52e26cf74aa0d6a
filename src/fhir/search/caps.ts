/**
 * How much one request may ask of a search or an operation, whatever the door and wherever
 * its parameters come from (the URL's query, a form body, a Parameters resource, or the
 * paging link it follows): parameters, comma-separated (OR) values per parameter, and values
 * in all. Matching in memory costs records × values, so these caps bound the work one request
 * can cause; they are checked once, on the raw pairs the request stands for, before any value
 * is parsed or any record matched (routes/page-links.ts, searchInput).
 *
 * `_count` and `_offset` page the result and match nothing: the first of each is not counted,
 * so a search at the caps has paging links (which always add `_count`, and `_offset` past the
 * first page) within the caps too. `_typeFilter` (Bulk Data kick-off) carries whole queries as
 * its values: their parameters and values count too, as if they had been sent alongside.
 */
import { FhirError, outcome } from '../outcome.ts';

/** No honest client comes near them: a FHIR search rarely has more than a few dozen parameters. */
export const SEARCH_CAPS = Object.freeze({
  /** Name/value pairs in all (a repeated parameter counts each time), besides one `_count` and one `_offset`. */
  parameters: 100,
  /** Comma-separated values of one parameter. */
  valuesPerParameter: 50,
  /** Values of all parameters together. */
  values: 200,
});

/** Paging parameters: the first of each is free. */
const PAGING: ReadonlySet<string> = new Set(['_count', '_offset']);

interface Tally {
  parameters: number;
  values: number;
  paging: Set<string>;
}

/** Why the pairs ask more than SEARCH_CAPS allows (configuration text, never request data), or undefined when they do not. */
export function exceedsCaps(pairs: Iterable<readonly [string, string]>): string | undefined {
  const tally: Tally = { parameters: 0, values: 0, paging: new Set() };
  for (const [key, value] of pairs) {
    const why = count(key, value, tally);
    if (why !== undefined) return why;
  }
  return undefined;
}

/** Throws 400 too-costly when the pairs ask more than SEARCH_CAPS allows. */
export function assertWithinCaps(pairs: Iterable<readonly [string, string]>): void {
  const why = exceedsCaps(pairs);
  if (why !== undefined) throw new FhirError(400, outcome('error', 'too-costly', why));
}

function count(key: string, value: string, tally: Tally): string | undefined {
  if (PAGING.has(key) && !tally.paging.has(key)) {
    tally.paging.add(key);
    return undefined;
  }
  tally.parameters += 1;
  if (tally.parameters > SEARCH_CAPS.parameters) {
    return `At most ${SEARCH_CAPS.parameters} parameters (besides _count and _offset) are accepted in one request, its URL and body together`;
  }
  let values = 0;
  if (key === '_typeFilter') {
    const filters = typeFilters(value);
    for (const [k, v] of filters.pairs) {
      const why = count(k, v, tally);
      if (why !== undefined) return why;
    }
    values = filters.queries;
  } else {
    values = orValues(value);
  }
  if (values > SEARCH_CAPS.valuesPerParameter) return `A parameter may have at most ${SEARCH_CAPS.valuesPerParameter} comma-separated values`;
  tally.values += values;
  if (tally.values > SEARCH_CAPS.values) return `At most ${SEARCH_CAPS.values} values are accepted in all parameters together`;
  return undefined;
}

/** The queries of a `_typeFilter` (Bulk Data 2.0 lists them with commas) and their pairs. */
function typeFilters(value: string): { queries: number; pairs: [string, string][] } {
  const queries = value.split(/,(?=[A-Z][A-Za-z]+\?)/);
  const pairs = queries.flatMap((q) => {
    const at = q.indexOf('?');
    return at < 0 ? [] : [...new URLSearchParams(q.slice(at + 1))];
  });
  return { queries: queries.length, pairs };
}

/** Unescaped commas + 1 (https://hl7.org/fhir/R4/search.html#escaping: `\,` is a literal comma). */
function orValues(value: string): number {
  let n = 1;
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (ch === 92 /* \ */) i++;
    else if (ch === 44 /* , */) n++;
  }
  return n;
}
