/**
 * Starts the bench's upstream process (upstream-child.ts) and talks to it: Nextech access
 * tokens, an added latency per API answer (the sandbox's `latency` fault) and the calls it
 * recorded, counted by endpoint.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { BenchFixtures } from './fixtures.ts';
import { CallTallySchema, ReadySchema, UpstreamAnswerSchema, type CallTally, type UpstreamRequest } from './upstream-ipc.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./upstream-child.ts', import.meta.url));

export interface Upstream {
  pid: number;
  /** e.g. http://127.0.0.1:41234/ehr/api */
  apiBaseUrl: string;
  fixtures: BenchFixtures;
  /** `count` fresh Nextech access tokens of the sandbox's client. */
  tokens(count: number): Promise<string[]>;
  /** Every API answer waits this long first (0: none). */
  setLatency(ms: number): Promise<void>;
  /** The calls since the last take, counted (with `detail`, each path and query too). */
  takeCalls(detail?: boolean): Promise<CallTally>;
  stop(): Promise<void>;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
type Op = UpstreamRequest extends infer R ? (R extends UpstreamRequest ? Omit<R, 'id'> : never) : never;

export async function startUpstream(startTimeoutMs = 60_000): Promise<Upstream> {
  const child = fork(CHILD, [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  const ready = new Promise<z.infer<typeof ReadySchema>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the bench upstream did not start in time')), startTimeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the bench upstream exited (${code ?? 'signal'})`));
      for (const p of pending.values()) p.reject(new Error('the bench upstream exited'));
    });
    child.on('message', (raw) => {
      const isReady = ReadySchema.safeParse(raw);
      if (isReady.success) {
        clearTimeout(timer);
        resolve(isReady.data);
        return;
      }
      const answer = UpstreamAnswerSchema.safeParse(raw);
      if (!answer.success) return;
      const p = pending.get(answer.data.id);
      pending.delete(answer.data.id);
      if (answer.data.ok) p?.resolve(answer.data.result);
      else p?.reject(new Error(answer.data.error));
    });
  });
  const ask = (op: Op): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ ...op, id });
    });
  const { apiBaseUrl, fixtures } = await ready.catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    pid: child.pid ?? 0,
    apiBaseUrl,
    fixtures,
    tokens: async (count) => z.array(z.string()).parse(await ask({ op: 'tokens', count })),
    setLatency: async (ms) => void (await ask({ op: 'latency', ms })),
    takeCalls: async (detail = false) => CallTallySchema.parse(await ask({ op: 'calls', detail })),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.disconnect();
      }),
  };
}
