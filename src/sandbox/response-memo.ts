/**
 * Replays API answers for load tests (the `memoizeResponses` option): the first 200 answer
 * to a practice, method, path and query is kept as bytes and sent again for every repeat, so
 * the sandbox's own work — rebuilding multi-MB CCDs, folding names for a patient search —
 * stays small next to the system under test. It sits after the token and practice checks,
 * which every request still passes, and after the fault middleware, whose delays still apply.
 */
import type { MiddlewareHandler } from 'hono';
import type { ApiEnv } from './api-guards.ts';

/** What the memo may hold: beyond either bound, new answers are sent but not kept. */
export interface MemoLimits {
  entries: number;
  bytes: number;
}

export const DEFAULT_MEMO_LIMITS: MemoLimits = { entries: 2_000, bytes: 512 * 1024 * 1024 };

interface Kept {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
}

/** Middleware replaying kept answers; see the module comment. */
export function memoizeResponses(limits: MemoLimits = DEFAULT_MEMO_LIMITS): MiddlewareHandler<ApiEnv> {
  const kept = new Map<string, Kept>();
  let bytes = 0;
  return async (c, next) => {
    const url = new URL(c.req.url);
    const key = `${c.get('practice').practice.practiceId}\u0000${c.req.method}\u0000${url.pathname}${url.search}`;
    const hit = kept.get(key);
    if (hit) return c.body(hit.body, 200, { 'content-type': hit.contentType });
    await next();
    if (c.res.status !== 200 || kept.size >= limits.entries) return;
    const body = new Uint8Array(await c.res.clone().arrayBuffer());
    if (bytes + body.byteLength > limits.bytes) return;
    kept.set(key, { body, contentType: c.res.headers.get('content-type') ?? 'application/json' });
    bytes += body.byteLength;
  };
}
