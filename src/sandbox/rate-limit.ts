/**
 * Nextech's documented limit, modelled: at most N requests per second per user (bearer
 * token) and endpoint; beyond it, 429 with `Retry-After: 1`. Off unless a limit is given,
 * so ordinary tests never trip it.
 */
import type { MiddlewareHandler } from 'hono';

/** `/ehr/api/10001/encounters/search` and `/ehr/api/10002/...` are one endpoint. */
const endpointOf = (path: string) => path.replace(/\/\d+\//g, '/{id}/');

export function enforceRateLimit(perSecond: number, now: () => number = Date.now): MiddlewareHandler {
  const recent = new Map<string, number[]>();
  return async (c, next) => {
    const key = `${c.req.header('authorization') ?? ''}\u0000${endpointOf(c.req.path)}`;
    const t = now();
    const times = (recent.get(key) ?? []).filter((x) => x > t - 1000);
    if (times.length >= perSecond) {
      recent.set(key, times);
      return c.json({ message: 'Rate limit exceeded.' }, 429, { 'Retry-After': '1' });
    }
    times.push(t);
    recent.set(key, times);
    await next();
  };
}
