/**
 * Entry of the bench's hand-written facade process (handwritten.ts): HANDWRITTEN_UPSTREAM is
 * the Nextech API base, HANDWRITTEN_IDS the JSON table of the bench patients' FHIR ids. It
 * listens on 127.0.0.1, a free port, prints `proxy: {origin}` (the line the bench's process
 * starter waits for) and stops on SIGTERM. Its undici Agent is the proxy's.
 */
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { createHandwrittenApp, type IdTable } from './handwritten.ts';

function main(): void {
  const upstream = process.env.HANDWRITTEN_UPSTREAM;
  if (!upstream) throw new Error('HANDWRITTEN_UPSTREAM is required');
  const ids = JSON.parse(process.env.HANDWRITTEN_IDS ?? '{}') as IdTable;
  const dispatcher = new Agent({ keepAliveTimeout: 10_000 });
  const app = createHandwrittenApp(upstream, dispatcher, ids);
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
