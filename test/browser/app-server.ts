/**
 * Serves the small static SMART app of the browser tests (test/browser/app/) and
 * fhirclient's own browser build from node_modules, on 127.0.0.1 and a free port: an
 * origin of its own, as a real app would have, distinct from the facade's `localhost`.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface AppServer {
  /** e.g. `http://127.0.0.1:54321` */
  origin: string;
  close(): Promise<void>;
}

const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), 'app');
const FHIRCLIENT_DIR = dirname(createRequire(import.meta.url).resolve('fhirclient/package.json'));

const HTML = 'text/html; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';

/** Starts the app's server; every file is read once, up front. */
export async function startAppServer(): Promise<AppServer> {
  const files = new Map<string, { type: string; body: Buffer }>([
    ['/launch.html', { type: HTML, body: await readFile(join(APP_DIR, 'launch.html')) }],
    ['/index.html', { type: HTML, body: await readFile(join(APP_DIR, 'index.html')) }],
    ['/fhir-client.js', { type: JS, body: await readFile(join(FHIRCLIENT_DIR, 'build', 'fhir-client.js')) }],
  ]);
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://app').pathname;
    const file = req.method === 'GET' ? files.get(path) : undefined;
    if (file) {
      res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length, 'cache-control': 'no-store' });
      res.end(file.body);
    } else if (path === '/favicon.ico') {
      // Browsers ask for it; a 404 would be one more console error to explain.
      res.writeHead(204).end();
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the app server has no port');
  return {
    origin: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
