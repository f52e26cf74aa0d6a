/**
 * CORS for SMART apps in a browser: off unless CORS_ORIGINS lists origins, and then it
 * allows exactly those (no wildcard, since responses carry patient data).
 */
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { AppEnv } from './env.ts';

export function corsFor(origins: readonly string[]): MiddlewareHandler<AppEnv> {
  if (origins.length === 0) return async (_c, next) => next();
  const allowed = new Set(origins);
  return cors({
    origin: (origin) => (allowed.has(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type', 'Accept', 'Prefer', 'X-Request-Id', 'x-nextech-practice-id'],
    exposeHeaders: ['X-Request-Id', 'Retry-After', 'WWW-Authenticate', 'Location'],
    maxAge: 600,
  });
}
