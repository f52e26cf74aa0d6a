/**
 * The URL's length, checked first and cheaply, before any parsing or upstream call: over
 * MAX_URL_LENGTH is a 414 OperationOutcome. A request line longer than the connection's
 * header cap (HTTP_MAX_HEADER_KB, larger) never reaches the app: http-server.ts answers it
 * with 431. POST bodies are limited as they arrive (413, app.ts), and the parameters of the
 * query, the body or a paging link where a route takes them (page-links.ts, searchInput).
 */
import type { MiddlewareHandler } from 'hono';
import { FhirError, outcome } from '../fhir/outcome.ts';
import type { AppEnv } from './env.ts';

export const MAX_URL_LENGTH = 8 * 1024;

export function requestLimits(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.url.length > MAX_URL_LENGTH) {
      throw new FhirError(414, outcome('error', 'too-long', `The URL is longer than ${MAX_URL_LENGTH} characters; use POST _search`));
    }
    await next();
  };
}
