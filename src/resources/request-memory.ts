/**
 * What one request holds of the document memory budget until its response is built: the
 * CCD rows it keeps (two bytes a character, whether or not the listing cache still has
 * them) and the response it builds from them. One reservation per request, grown in steps,
 * so a request already holding room goes before new ones and requests holding room while
 * waiting for more cannot lock each other out (memory-budget.ts). Released by the route once
 * the response is built; a request that cannot get room within the wait is a 503.
 */
import { toFhirError, UpstreamError } from '../nextech/errors.ts';
import { MemoryBudgetFull } from '../nextech/memory-budget.ts';
import type { RequestContext } from './context.ts';

/** What a refused request tells the client to wait. */
const RETRY_AFTER_SECONDS = 2;

/** Holds `bytes` more for this request (waits, bounded, for room); throws 503 when none comes. */
export async function hold(ctx: RequestContext, bytes: number): Promise<void> {
  const memory = ctx.services.memory;
  if (!memory || bytes <= 0) return;
  const r = (ctx.memory ??= memory.reserve());
  // A request may need more than the whole budget: it then holds all of it.
  const grant = Math.min(bytes, memory.maxBytes - r.bytes);
  if (grant <= 0) return;
  try {
    await r.grow(grant, ctx.call.signal);
  } catch (err) {
    if (err instanceof MemoryBudgetFull) throw toFhirError(new UpstreamError({ kind: 'memory', retryAfterSeconds: RETRY_AFTER_SECONDS }, 'response'));
    throw err;
  }
}

/** Gives back what the request held (idempotent). */
export function releaseHeld(ctx: RequestContext): void {
  ctx.memory?.release();
}
