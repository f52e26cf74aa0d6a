/**
 * Request limits, checked first and cheaply, before any parsing or upstream call: URL
 * length (414), number of query parameters (400); POST bodies are limited as they arrive
 * (413, app.ts), and the parameters of the query and the body together where they are read
 * (request-pairs.ts, SEARCH_CAPS). Each answer is an OperationOutcome.
 */
import type { MiddlewareHandler } from 'hono';
import { FhirError, outcome } from '../fhir/outcome.ts';
import { SEARCH_CAPS } from '../fhir/search/caps.ts';
import type { AppEnv } from './env.ts';

export const MAX_URL_LENGTH = 8 * 1024;
export const MAX_QUERY_PARAMS = SEARCH_CAPS.parameters;

export function requestLimits(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const url = c.req.url;
    if (url.length > MAX_URL_LENGTH) {
      throw new FhirError(414, outcome('error', 'too-long', `The URL is longer than ${MAX_URL_LENGTH} characters; use POST _search`));
    }
    const q = url.indexOf('?');
    if (q >= 0) {
      // Count separators rather than parsing: cheap, and an upper bound of the parameters.
      let count = 1;
      for (let i = q + 1; i < url.length; i++) if (url.charCodeAt(i) === 38 /* & */) count++;
      if (count > MAX_QUERY_PARAMS) {
        throw new FhirError(400, outcome('error', 'too-costly', `At most ${MAX_QUERY_PARAMS} query parameters are accepted`));
      }
    }
    await next();
  };
}
