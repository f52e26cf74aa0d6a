/**
 * How much one request may ask of a search or an operation, whatever the door and wherever
 * its parameters come from (the URL's query, a form body, a Parameters resource): parameters,
 * comma-separated (OR) values per parameter, and values in all. Matching in memory costs
 * records × values, so these caps bound the work one request can cause; they are checked on
 * the raw pairs, before any value is parsed or any record matched.
 *
 * `_typeFilter` (Bulk Data kick-off) carries whole queries as its values: their parameters
 * and values count too, as if they had been sent alongside.
 */
import { FhirError, outcome } from '../outcome.ts';

/** No honest client comes near them: a FHIR search rarely has more than a few dozen parameters. */
export const SEARCH_CAPS = Object.freeze({
  /** Name/value pairs in all (a repeated parameter counts each time). */
  parameters: 100,
  /** Comma-separated values of one parameter. */
  valuesPerParameter: 50,
  /** Values of all parameters together. */
  values: 200,
});

const tooCostly = (why: string) => new FhirError(400, outcome('error', 'too-costly', why));

/** Refuses a count of pairs over the cap: for a body, counted from its separators before it is parsed. */
export function assertParameterCount(count: number): void {
  if (count > SEARCH_CAPS.parameters) {
    throw tooCostly(`At most ${SEARCH_CAPS.parameters} parameters are accepted (query and body together)`);
  }
}

/** Throws 400 too-costly when the pairs ask more than SEARCH_CAPS allows. */
export function assertWithinCaps(pairs: Iterable<readonly [string, string]>): void {
  const tally = { parameters: 0, values: 0 };
  for (const [key, value] of pairs) count(key, value, tally);
}

function count(key: string, value: string, tally: { parameters: number; values: number }): void {
  tally.parameters += 1;
  assertParameterCount(tally.parameters);
  const values = key === '_typeFilter' ? typeFilters(value, tally) : orValues(value);
  if (values > SEARCH_CAPS.valuesPerParameter) {
    throw tooCostly(`A parameter may have at most ${SEARCH_CAPS.valuesPerParameter} comma-separated values`);
  }
  tally.values += values;
  if (tally.values > SEARCH_CAPS.values) throw tooCostly(`At most ${SEARCH_CAPS.values} values are accepted in all parameters together`);
}

/** The values of a `_typeFilter`: one per query (Bulk Data 2.0 lists them with commas), each query's pairs counted in the tally. */
function typeFilters(value: string, tally: { parameters: number; values: number }): number {
  const queries = value.split(/,(?=[A-Z][A-Za-z]+\?)/);
  for (const q of queries) {
    const at = q.indexOf('?');
    if (at >= 0) for (const [k, v] of new URLSearchParams(q.slice(at + 1))) count(k, v, tally);
  }
  return queries.length;
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
