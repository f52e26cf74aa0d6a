/**
 * The middleware that injects faults into `/ehr/api/*` requests. It runs before the
 * bearer and practice checks, as a failing upstream would: a 503 is a 503 whoever asks.
 * Faults that need the real answer (truncate, slow-drip) let the request through first
 * and then mangle how it is delivered. It leaves a note for the call log: the fault's
 * kind and, when it is not the response's, the status sent (0 for none).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiEnv } from './api-guards.ts';
import { nodeResponse, resetNow, sendDripping, sendTruncated, webStreamFault } from './fault-wire.ts';
import type { Fault, FaultPlan } from './faults.ts';

const STATUS_MESSAGES = {
  500: 'An error has occurred.',
  502: 'The upstream server returned an invalid response.',
  503: 'The service is unavailable.',
  504: 'The upstream server did not respond in time.',
} as const;

/** Complete but not JSON, as a buggy serializer or a mislabelled error page would send. */
const MALFORMED_JSON = '[{"patientId": NaN, "lastName": undefined}]';

/** Valid JSON that fits none of the three endpoints' shapes. */
const SCHEMA_BREAK = [{ patientId: 'abc', firstName: 42, lastName: 42, dob: 'not a date', summary: 'abc', ccd: 42 }];

/** Injects the faults `plan` chooses; see faults.ts for how it chooses. */
export function injectFaults(plan: FaultPlan): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const { delayMs, fault } = plan.decide(c.req.path);
    if (delayMs !== undefined) await sleep(delayMs);
    if (!fault) {
      if (delayMs !== undefined) c.set('fault', { kind: 'latency' });
      await next();
      return;
    }
    c.set('fault', { kind: fault.kind });
    switch (fault.kind) {
      case 'status':
        if (fault.retryAfter !== undefined) c.header('Retry-After', fault.retryAfter);
        return c.json({ message: STATUS_MESSAGES[fault.status] }, fault.status);
      case 'rate-limit':
        if (fault.retryAfter !== undefined) c.header('Retry-After', fault.retryAfter);
        return c.json({ message: 'API rate limit exceeded. Try again later.' }, 429);
      case 'malformed-json':
        return c.body(MALFORMED_JSON, 200, { 'content-type': 'application/json; charset=utf-8' });
      case 'schema-break':
        return c.json(SCHEMA_BREAK);
      case 'reset':
        return reset(c);
      case 'truncate':
      case 'slow-drip':
        await next();
        await mangleDelivery(c, fault);
        return;
    }
  };
}

function reset(c: Context<ApiEnv>): Response {
  c.set('fault', { kind: 'reset', status: 0 });
  const out = nodeResponse(c.env);
  if (!out) return webStreamFault(new Response(null, { status: 200 }), new Uint8Array(), { cutAt: 0 });
  resetNow(out);
  return RESPONSE_ALREADY_SENT;
}

/** Replaces the finished response with a cut or slowed delivery of the same bytes. */
async function mangleDelivery(c: Context<ApiEnv>, fault: Extract<Fault, { kind: 'truncate' | 'slow-drip' }>): Promise<void> {
  const real = c.res;
  const body = new Uint8Array(await real.arrayBuffer());
  c.set('fault', { kind: fault.kind, status: fault.kind === 'truncate' ? 0 : real.status });
  const out = nodeResponse(c.env);
  if (!out) {
    const plan = fault.kind === 'truncate' ? { cutAt: Math.floor(body.length / 2) } : fault;
    c.res = webStreamFault(real, body, plan);
    return;
  }
  if (fault.kind === 'truncate') sendTruncated(out, real, body);
  else {
    // Not awaited: the call is logged now, while the body is still on its way.
    sendDripping(out, real, body, fault.chunkBytes, fault.intervalMs).catch(() => out.destroy());
  }
  c.res = RESPONSE_ALREADY_SENT;
}
