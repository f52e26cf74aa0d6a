/**
 * The parameters of a request as name/value pairs, from where FHIR puts them: the URL's
 * query, a form body (search by POST), or an operation's Parameters resource. Bodies are
 * read only after the caller has passed a door, and their size was limited as they arrived
 * (app.ts, limitBody). Whatever the source, the pairs obey one set of caps (SEARCH_CAPS:
 * parameters, values per parameter, values in all), the query and the body counted
 * together, before anything parses a value or matches a record.
 */
import type { Context } from 'hono';
import { isForm } from '../auth/form-body.ts';
import { badRequest, FhirError, outcome } from '../fhir/outcome.ts';
import { parametersToPairs } from '../fhir/parameters.ts';
import { assertParameterCount, assertWithinCaps } from '../fhir/search/caps.ts';

const urlPairs = (c: Context): [string, string][] => [...new URL(c.req.url).searchParams.entries()];

/** The URL's query, within the caps. */
export function queryPairs(c: Context): [string, string][] {
  const pairs = urlPairs(c);
  assertWithinCaps(pairs);
  return pairs;
}

const JSON_BODY = /^application\/(fhir\+)?json$/;

/** An operation's input from its body: a Parameters resource (FHIR JSON) or a form; within the caps with the URL's query. */
export async function operationBodyPairs(c: Context): Promise<[string, string][]> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!JSON_BODY.test(type)) return formPairs(c, 'a FHIR Parameters resource (application/fhir+json) or an application/x-www-form-urlencoded');
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    throw badRequest('The body is not JSON');
  }
  // Before each parameter is read: a Parameters resource longer than the cap is refused whole.
  const parameters = (body as { parameter?: unknown } | null)?.parameter;
  if (Array.isArray(parameters)) assertParameterCount(urlPairs(c).length + parameters.length);
  const pairs = parametersToPairs(body);
  assertWithinCaps([...urlPairs(c), ...pairs]);
  return pairs;
}

/** The fields of a form body, within the caps with the URL's query; its size was limited as it arrived (app.ts, limitBody). */
export async function formPairs(c: Context, takes = 'an application/x-www-form-urlencoded'): Promise<[string, string][]> {
  if (!isForm(c)) throw new FhirError(415, outcome('error', 'not-supported', `POST takes ${takes} body here`));
  const text = await c.req.text();
  // Counted from the separators before the form is parsed: an upper bound of its fields.
  assertParameterCount(urlPairs(c).length + separators(text) + 1);
  const pairs = [...new URLSearchParams(text).entries()];
  assertWithinCaps([...urlPairs(c), ...pairs]);
  return pairs;
}

function separators(text: string): number {
  let n = 0;
  for (let i = text.indexOf('&'); i >= 0; i = text.indexOf('&', i + 1)) n++;
  return n;
}
