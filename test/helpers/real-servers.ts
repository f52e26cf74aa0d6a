/**
 * Real servers for the scale-out tests, from Debian's packages (.ci/run installs them):
 * redis-server and HAProxy, each started on a free loopback port in its own process and
 * stopped with the test. No mock stands in for either.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A port nothing listens on (free a moment ago). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Resolves once something accepts TCP connections on the port. */
async function listening(port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' }, () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export interface RealRedis {
  url: string;
  /** Stops the server (a Redis outage). */
  stop(): Promise<void>;
  /** Starts it again on the same port, with what it had persisted. */
  start(): Promise<void>;
  /**
   * Freezes the server (SIGSTOP): connections stay open, commands hang until the client's
   * timeout — and run when it resumes — the outage a stalled host or a long GC pause makes.
   */
  pause(): void;
  /** Lets a paused server run again (SIGCONT). */
  resume(): void;
  close(): Promise<void>;
}

/**
 * redis-server on a free loopback port, as the manifests run it: an append-only file (groups
 * are durable) in a folder of its own, no snapshots, never evicting.
 */
export async function startRedis(): Promise<RealRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'redis-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction', '--protected-mode', 'yes'];
    child = spawn('redis-server', args, { stdio: 'ignore' });
    child.once('error', () => undefined);
    await listening(port);
  };
  await start();
  const signal = (sig: NodeJS.Signals) => {
    if (!child || child.exitCode !== null || !child.kill(sig)) throw new Error(`redis-server is not running (${sig})`);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () => stop(child),
    start,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    // A paused server would not hear SIGTERM.
    close: () => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGCONT');
      return stop(child);
    },
  };
}

export interface RealBalancer {
  origin: string;
  close(): Promise<void>;
}

/**
 * HAProxy in front of `backends` (origins), round-robin per request, on `port`; with
 * `forwardFor`, it appends each client's address to X-Forwarded-For (`option forwardfor`).
 */
export async function startHaproxy(port: number, backends: readonly string[], opts: { forwardFor?: boolean } = {}): Promise<RealBalancer> {
  const dir = mkdtempSync(join(tmpdir(), 'haproxy-'));
  const servers = backends.map((b, i) => `  server s${i} ${new URL(b).host}`).join('\n');
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(
    file,
    `global
  maxconn 2048
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  option http-server-close
${opts.forwardFor ? '  option forwardfor\n' : ''}frontend fhir
  bind 127.0.0.1:${port}
  default_backend replicas
backend replicas
  balance roundrobin
${servers}
`,
  );
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: 'ignore' });
  child.once('error', () => undefined);
  await listening(port);
  return { origin: `http://127.0.0.1:${port}`, close: () => stop(child) };
}
