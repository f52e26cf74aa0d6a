/**
 * Entry of the bench's pass-through proxy process (proxy.ts): PROXY_UPSTREAM is the Nextech
 * API base to forward to; it listens on 127.0.0.1, a free port, prints `proxy: {origin}` and
 * stops on SIGTERM. Its undici Agent is configured as the facade's Nextech client's is.
 */
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { createProxyApp } from './proxy.ts';

function main(): void {
  const upstream = process.env.PROXY_UPSTREAM;
  if (!upstream) throw new Error('PROXY_UPSTREAM is required');
  const dispatcher = new Agent({ keepAliveTimeout: 10_000 });
  const app = createProxyApp(upstream, dispatcher);
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

main();
