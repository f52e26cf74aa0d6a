/**
 * `/metrics` is not public: with METRICS_TOKEN set it needs `Authorization: Bearer
 * <METRICS_TOKEN>` (compared in constant time); without it, only loopback peers (a sidecar
 * or an operator on the host) may read it — judged from the TCP peer, never from headers a
 * client could forge — and only when addressed to this service: a page whose name an
 * attacker rebound to 127.0.0.1 is a loopback peer too, but its Host is the attacker's name
 * (host-guard.ts). Anything else is a 404, as if there were no such endpoint.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { outcome } from '../fhir/outcome.ts';
import { isLoopback } from '../net/addresses.ts';
import { peerAddress } from './client-source.ts';
import { isAddressedHere, type Addressed } from './host-guard.ts';
import { fhirJson } from './respond.ts';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function metricsGuard(token: string | undefined, addressed: Addressed): MiddlewareHandler {
  const expected = token === undefined ? undefined : digest(token);
  return async (c, next) => {
    let allowed: boolean;
    if (expected) {
      const sent = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
      allowed = sent !== undefined && timingSafeEqual(digest(sent), expected);
    } else {
      allowed = isLoopback(peerAddress(c)) && isAddressedHere(c, addressed);
    }
    if (!allowed) return fhirJson(c, outcome('error', 'not-found', 'No such endpoint on this server'), 404);
    await next();
  };
}
