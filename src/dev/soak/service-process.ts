/**
 * The service under soak as its own process (`node --max-old-space-size=384 --import tsx
 * src/index.ts`, the production entry, as `npm run start:prod`), configured
 * only through its environment as an operator would, so its resident memory is its own and
 * nothing of the load generator or the sandbox. Samples that memory once a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface ServiceProcess {
  /** e.g. http://localhost:41234 */
  origin: string;
  pid: number;
  /** Resident set size in bytes, sampled once a second since start. */
  rss: { at: number; bytes: number }[];
  /** The most resident memory the process ever had (the kernel's high-water mark), in bytes; falls back to the highest sample. */
  peakResident(): Promise<number>;
  /** SIGTERM, then wait for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

export interface ServiceProcessOptions {
  env: Record<string, string>;
  /** Each line the service writes (its logs, and anything on stderr), e.g. to scan them. */
  onLine?: (line: string) => void;
  startTimeoutMs?: number;
  /** The JavaScript heap to give the service (default START_HEAP_MB, as `npm start`). */
  heapMb?: number;
  /** More node options before the entry, e.g. `--cpu-prof` (the benchmark's profiles). */
  nodeArgs?: readonly string[];
  /** The project folder whose src/index.ts runs (default this one; the benchmark's before/after runs an older tree). */
  cwd?: string;
  /**
   * The port to listen on (default: any free one). Give one when PUBLIC_BASE_URL names
   * another address (a load balancer): the banner then prints that, not where this process listens.
   */
  port?: number;
}

/** The heap `npm start` gives the service (package.json). */
export const START_HEAP_MB = 384;

/** Starts the service and resolves once it prints its FHIR base. */
export async function startServiceProcess(opts: ServiceProcessOptions): Promise<ServiceProcess> {
  // As `npm start` runs it: the heap sized for the default document memory budget.
  const args = [`--max-old-space-size=${opts.heapMb ?? START_HEAP_MB}`, ...(opts.nodeArgs ?? []), '--import', 'tsx', 'src/index.ts'];
  const child = spawn(process.execPath, args, {
    cwd: opts.cwd ?? ROOT,
    // Only what the soak chose, plus what node needs to run: nothing of the developer's settings.
    env: { PATH: process.env.PATH ?? '', ...opts.env, PORT: String(opts.port ?? 0), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('the service did not start in time')), opts.startTimeoutMs ?? 30_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4000)));
    lines(child.stderr, (line) => opts.onLine?.(line));
    child.once('exit', (code) => fail(new Error(`the service exited (${code ?? 'signal'}): ${stderr.trim()}`)));
    lines(child.stdout, (line) => {
      const m = /^FHIR base: (http:\/\/\S+)\/fhir$/.exec(line);
      if (m?.[1]) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve(opts.port === undefined ? m[1] : `http://127.0.0.1:${opts.port}`);
      }
      opts.onLine?.(line);
    });
  });
  const pid = child.pid ?? 0;
  const rss: ServiceProcess['rss'] = [];
  const sample = async () => {
    const bytes = await residentBytes(pid);
    if (bytes !== undefined) rss.push({ at: Date.now(), bytes });
  };
  await sample();
  const sampler = setInterval(() => void sample(), 1000);
  return {
    origin,
    pid,
    rss,
    peakResident: async () => (await residentBytes(pid, 'VmHWM')) ?? rss.reduce((m, s) => Math.max(m, s.bytes), 0),
    stop: (graceMs = 10_000) => {
      clearInterval(sampler);
      return stopChild(child, graceMs);
    },
  };
}

function lines(stream: Readable | null, onLine: (line: string) => void): void {
  let rest = '';
  stream?.on('data', (d: Buffer) => {
    const parts = (rest + d.toString('utf8')).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) if (line.trim()) onLine(line);
  });
}

function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * VmRSS (now) or VmHWM (the peak so far) of a process from /proc (Linux); the current value
 * from `ps` elsewhere (macOS and other Unixes), and no peak.
 */
async function residentBytes(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return field === 'VmRSS' ? psResident(pid) : undefined;
  }
}

function psResident(pid: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const ps = spawn('ps', ['-o', 'rss=', '-p', String(pid)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    ps.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    ps.on('error', () => resolve(undefined));
    ps.on('close', () => {
      const kb = Number(out.trim());
      resolve(Number.isFinite(kb) && kb > 0 ? kb * 1024 : undefined);
    });
  });
}
