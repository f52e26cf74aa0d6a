/**
 * The two FHIR bases and how each finds its practice:
 * - `/fhir`: the `x-nextech-practice-id` header, else NEXTECH_PRACTICE_ID, else 400 (raised
 *   only by routes that need a practice; `metadata` does not);
 * - `/practices/{practiceId}/fhir`: the path (a SMART app only knows a base URL); a header
 *   naming another practice is a 400.
 */
import type { MiddlewareHandler } from 'hono';
import { badRequest } from '../fhir/outcome.ts';
import type { AppEnv } from './env.ts';

export const PRACTICE_HEADER = 'x-nextech-practice-id';
const PRACTICE_ID = /^[A-Za-z0-9-]{1,64}$/;

const invalidPractice = () => badRequest(`The practice id must be 1-64 letters, digits or "-"`);

/** Middleware for `/fhir`. */
export function headerPracticeBase(publicBaseUrl: string, defaultPracticeId?: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header(PRACTICE_HEADER);
    const practiceId = header ?? defaultPracticeId;
    const baseUrl = `${publicBaseUrl}/fhir`;
    if (practiceId === undefined) {
      const practiceError = badRequest(
        `No practice: send the ${PRACTICE_HEADER} header or use the base /practices/{practiceId}/fhir`,
      );
      c.set('fhirBase', { baseUrl, practiceError });
    } else if (!PRACTICE_ID.test(practiceId)) {
      throw invalidPractice();
    } else {
      c.set('fhirBase', { baseUrl, practiceId });
    }
    await next();
  };
}

/** Middleware for `/practices/:practiceId/fhir`. */
export function pathPracticeBase(publicBaseUrl: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const practiceId = c.req.param('practiceId') ?? '';
    if (!PRACTICE_ID.test(practiceId)) throw invalidPractice();
    const header = c.req.header(PRACTICE_HEADER);
    if (header !== undefined && header !== practiceId) {
      throw badRequest(`The ${PRACTICE_HEADER} header names a different practice than the URL`);
    }
    c.set('fhirBase', { baseUrl: `${publicBaseUrl}/practices/${practiceId}/fhir`, practiceId });
    await next();
  };
}
