/**
 * Records every request to `/ehr/api/*` with the status it got, so tests can assert what
 * the facade asked upstream (how many calls, which terms and date ranges, which practice)
 * without peeking inside the facade. Faulted requests are recorded too, with the status
 * actually sent (0 when no response was) and the fault's kind.
 */
import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { FaultKind } from './faults.ts';

/** What the fault middleware leaves in the context for the call log. */
export interface FaultNote {
  kind: FaultKind;
  /** The status sent when it is not the context's response status; 0 when none was sent. */
  status?: number;
}

/** Hono environment the call log reads: the fault note, if the request was faulted. */
export interface CallLogEnv {
  Variables: { fault?: FaultNote };
}

/** One request the sandbox API answered. */
export interface RecordedCall {
  method: string;
  /** The request path, e.g. `/ehr/api/search`. */
  path: string;
  /** Query parameters (the first value of each). */
  query: Record<string, string>;
  /** The `x-nextech-practice-id` header, or null when absent. */
  practiceId: string | null;
  /** The status sent; 0 when a fault sent no complete response (reset, truncate). */
  status: number;
  /** The injected fault's kind; absent for requests answered normally. */
  fault?: FaultKind;
  /** When the request arrived (epoch ms), e.g. to count requests per second. */
  receivedAt: number;
  /** Which bearer token the request carried: a short hash (never the token), or null without one. */
  credential: string | null;
}

const credentialOf = (authorization: string | undefined) =>
  authorization === undefined ? null : createHash('sha256').update(authorization).digest('hex').slice(0, 12);

/** Middleware appending each request to `calls` once its response status is known. */
export function recordCalls(calls: RecordedCall[]): MiddlewareHandler<CallLogEnv> {
  return async (c, next) => {
    const receivedAt = Date.now();
    await next();
    const fault = c.get('fault');
    const call: RecordedCall = {
      receivedAt,
      method: c.req.method,
      path: c.req.path,
      // Copied: Hono hands back a null-prototype object.
      query: { ...c.req.query() },
      practiceId: c.req.header('x-nextech-practice-id') ?? null,
      status: fault?.status ?? c.res.status,
      credential: credentialOf(c.req.header('authorization')),
    };
    if (fault) call.fault = fault.kind;
    calls.push(call);
  };
}
