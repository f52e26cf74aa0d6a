/**
 * The checks every `/ehr/api` request passes before reaching a route, in Nextech's
 * documented order of headers: a valid bearer token (401 otherwise, with an RFC 6750
 * `WWW-Authenticate: Bearer` challenge), then a known `x-nextech-practice-id` (403).
 * Error bodies are the small `{ "message": ... }` JSON of an ASP.NET Web API.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { FaultNote } from './call-log.ts';
import type { TokenStore } from './token-store.ts';
import type { SandboxPatient, SandboxPractice } from './types.ts';

/** A practice with its patients indexed by id. */
export interface PracticeIndex {
  practice: SandboxPractice;
  patients: ReadonlyMap<number, SandboxPatient>;
}

/**
 * Hono environment of the API routes: the guard hands the practice to the handlers, the
 * fault middleware its note to the call log.
 */
export interface ApiEnv {
  Variables: { practice: PracticeIndex; fault?: FaultNote };
}

/** The error JSON every API failure carries. */
export function apiMessage(c: Context, status: ContentfulStatusCode, message: string): Response {
  return c.json({ message }, status);
}

/** 401 unless the request carries a live access token. */
export function requireBearer(store: TokenStore): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
    if (!match?.[1]) {
      c.header('WWW-Authenticate', 'Bearer realm="nextech-sandbox"');
      return apiMessage(c, 401, 'Authorization has been denied for this request.');
    }
    const check = store.checkAccessToken(match[1]);
    if (check !== 'valid') {
      const why = check === 'expired' ? 'The access token expired' : 'The access token is invalid';
      c.header('WWW-Authenticate', `Bearer realm="nextech-sandbox", error="invalid_token", error_description="${why}"`);
      return apiMessage(c, 401, `Authorization has been denied for this request. ${why}.`);
    }
    await next();
  };
}

/** 403 unless `x-nextech-practice-id` names a sandbox practice; stores it for handlers. */
export function requirePractice(practices: ReadonlyMap<string, PracticeIndex>): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const practiceId = c.req.header('x-nextech-practice-id');
    if (practiceId === undefined || practiceId.trim() === '') {
      return apiMessage(c, 403, 'The x-nextech-practice-id header is required.');
    }
    const practice = practices.get(practiceId.trim());
    if (!practice) return apiMessage(c, 403, 'The practice is not available to this client.');
    c.set('practice', practice);
    await next();
  };
}
