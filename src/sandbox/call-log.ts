/**
 * Records every request to `/ehr/api/*` with the status it got, so tests can assert what
 * the facade asked upstream (how many calls, which terms and date ranges, which practice)
 * without peeking inside the facade.
 */
import type { MiddlewareHandler } from 'hono';

/** One request the sandbox API answered. */
export interface RecordedCall {
  method: string;
  /** The request path, e.g. `/ehr/api/search`. */
  path: string;
  /** Query parameters (the first value of each). */
  query: Record<string, string>;
  /** The `x-nextech-practice-id` header, or null when absent. */
  practiceId: string | null;
  status: number;
}

/** Middleware appending each request to `calls` once its response status is known. */
export function recordCalls(calls: RecordedCall[]): MiddlewareHandler {
  return async (c, next) => {
    await next();
    calls.push({
      method: c.req.method,
      path: c.req.path,
      // Copied: Hono hands back a null-prototype object.
      query: { ...c.req.query() },
      practiceId: c.req.header('x-nextech-practice-id') ?? null,
      status: c.res.status,
    });
  };
}
