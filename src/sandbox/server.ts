/**
 * `startSandbox`: a sandbox listening on a real port (0 = any free one), for tests and
 * `npm run sandbox`. `close()` also drops keep-alive connections, so a test run never
 * hangs waiting for an idle socket.
 */
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { createSandbox, type Sandbox, type SandboxOptions } from './app.ts';

/** A listening sandbox and its URLs. */
export interface RunningSandbox {
  sandbox: Sandbox;
  /** e.g. `http://127.0.0.1:54321` */
  origin: string;
  /** origin + `/ehr/api` */
  apiBaseUrl: string;
  /** origin + `/oauth2/token` */
  tokenUrl: string;
  /** origin + `/oauth2/authorize` */
  authorizeUrl: string;
  close(): Promise<void>;
}

/** A wildcard bind address is not a place to send requests; use loopback in URLs. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Builds a sandbox and serves it on `host` (default 127.0.0.1) and `port` (default 0). */
export async function startSandbox(
  options: SandboxOptions & { port?: number; host?: string } = {},
): Promise<RunningSandbox> {
  const { port = 0, host = '127.0.0.1', ...sandboxOptions } = options;
  const sandbox = createSandbox(sandboxOptions);
  const { server, address } = await new Promise<{ server: ReturnType<typeof serve>; address: AddressInfo }>(
    (resolve, reject) => {
      const server = serve({ fetch: sandbox.app.fetch, port, hostname: host }, (address) => resolve({ server, address }));
      server.once('error', reject);
    },
  );
  const origin = `http://${urlHost(host)}:${address.port}`;
  return {
    sandbox,
    origin,
    apiBaseUrl: `${origin}/ehr/api`,
    tokenUrl: `${origin}/oauth2/token`,
    authorizeUrl: `${origin}/oauth2/authorize`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        if ('closeAllConnections' in server) server.closeAllConnections();
      }),
  };
}
