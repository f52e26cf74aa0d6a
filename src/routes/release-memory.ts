/**
 * What a request held of the document memory budget is given back once its response has
 * been written out — its text stays alive until then, however slowly the client reads — or
 * once the client has gone; at once when there is no socket (app.request in tests).
 */
import type { HttpBindings } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './env.ts';

export const releaseMemoryWhenWritten: MiddlewareHandler<AppEnv> = async (c, next) => {
  try {
    await next();
  } finally {
    const release = c.var.releaseMemory;
    const out = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    // 'close' follows the last byte handed to the socket, or the client going away.
    if (release && out && !out.destroyed) out.once('close', release);
    else release?.();
  }
};
