/**
 * How a bench baseline process (the pass-through proxy, the hand-written facade) serves: on
 * 127.0.0.1 at a free port, printing `proxy: {origin}` (the line the bench's process starter
 * waits for), with one undici Agent configured as the facade's Nextech client's is; it stops
 * on SIGTERM or SIGINT.
 */
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';

export function serveBaseline(makeApp: (dispatcher: Agent) => Hono): void {
  const dispatcher = new Agent({ keepAliveTimeout: 10_000 });
  const app = makeApp(dispatcher);
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
    process.stdout.write(`proxy: http://127.0.0.1:${info.port}\n`);
  });
  const stop = (): void => {
    server.close(() => process.exit(0));
    if ('closeAllConnections' in server) server.closeAllConnections();
    void dispatcher.close();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
