/**
 * The parameters a request sends, as name/value pairs, from where FHIR puts them: the URL's
 * query, a form body (search by POST), or an operation's Parameters resource. Bodies are
 * read only after the caller has passed a door, and their size was limited as they arrived
 * (app.ts, limitBody). The pairs are not checked here: every route hands them to searchInput
 * (page-links.ts), which opens a paging cursor when one is presented and checks the caps
 * (SEARCH_CAPS) once, on whatever the request stands for, before anything parses a value or
 * matches a record.
 */
import type { Context } from 'hono';
import { isForm } from '../auth/form-body.ts';
import { badRequest, FhirError, outcome } from '../fhir/outcome.ts';
import { parametersToPairs } from '../fhir/parameters.ts';

/** The URL's query. */
export function queryPairs(c: Context): [string, string][] {
  return [...new URL(c.req.url).searchParams.entries()];
}

const JSON_BODY = /^application\/(fhir\+)?json$/;

/** An operation's input from its body: a Parameters resource (FHIR JSON) or a form. */
export async function operationBodyPairs(c: Context): Promise<[string, string][]> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!JSON_BODY.test(type)) return formPairs(c, 'a FHIR Parameters resource (application/fhir+json) or an application/x-www-form-urlencoded');
  let body: unknown;
  try {
    body = JSON.parse(await c.req.text());
  } catch {
    throw badRequest('The body is not JSON');
  }
  return parametersToPairs(body);
}

/** The fields of a form body. */
export async function formPairs(c: Context, takes = 'an application/x-www-form-urlencoded'): Promise<[string, string][]> {
  if (!isForm(c)) throw new FhirError(415, outcome('error', 'not-supported', `POST takes ${takes} body here`));
  return [...new URLSearchParams(await c.req.text()).entries()];
}
