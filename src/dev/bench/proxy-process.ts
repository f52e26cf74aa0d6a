/**
 * Runs a baseline — the pass-through proxy (proxy-main.ts) or the hand-written facade
 * (handwritten-main.ts) — as its own process, as the facade runs as its own: each gets its
 * own event loop and its CPU time can be read on its own.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface ProxyProcess {
  origin: string;
  pid: number;
  stop(): Promise<void>;
}

export function startProxyProcess(apiBaseUrl: string, startTimeoutMs = 30_000): Promise<ProxyProcess> {
  return startBaselineProcess('src/dev/bench/proxy-main.ts', { PROXY_UPSTREAM: apiBaseUrl }, [], startTimeoutMs);
}

/**
 * Starts `script` (relative to the project root) with `env` and `nodeArgs` (e.g. `--cpu-prof`);
 * it prints `proxy: {origin}` once listening and stops on SIGTERM.
 */
export function startBaselineProcess(script: string, env: Record<string, string>, nodeArgs: readonly string[] = [], startTimeoutMs = 30_000): Promise<ProxyProcess> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not start in time`));
    }, startTimeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? 'signal'})`));
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const origin = /^proxy: (http:\/\/\S+)$/m.exec(out)?.[1];
      if (origin === undefined) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      resolve({ origin, pid: child.pid ?? 0, stop });
    });
  });
}
