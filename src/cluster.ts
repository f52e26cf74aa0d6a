/**
 * WORKERS=n: n worker processes on one machine behaving as one service (node:cluster). The
 * primary serves no HTTP itself; it
 * - forks the workers (they share the listening port) and forks a new one when one dies;
 * - holds the state they share when there is no Redis (a MemoryStore answering over IPC):
 *   one rate ledger per Nextech credential, one managed-token refresh, single-use codes;
 * - answers `/metrics` for all of them: it gathers the registries of the workers that are
 *   ready (one still starting has nothing to count and cannot answer yet) and adds them up
 *   with prom-client's AggregatorRegistry (counters and histograms sum across workers);
 * - prints the start-up banner once, when the first worker is ready;
 * - on SIGTERM/SIGINT tells every worker to drain (each finishes its requests in flight, up
 *   to SHUTDOWN_GRACE_SECONDS) and exits once all have.
 * With REDIS_URL the workers share state through Redis like any replicas.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from './config.ts';
import { FhirError, outcome } from './fhir/outcome.ts';
import type { Metrics } from './metrics.ts';
import { MemoryStore } from './shared/memory-store.ts';
import { mayActAlone } from './shared/namespaces.ts';
import { StoreUnavailable, type ClaimQuota, type ClaimResult, type SharedStore, type SwapResult } from './shared/store.ts';

/** Messages between primary and workers carry this tag (prom-client's own messages do not). */
const TAG = 'nextech-fhir';

type StoreOp = 'claim' | 'takeSlot' | 'get' | 'set' | 'swap' | 'lease' | 'release';
type ToPrimary =
  | { tag: typeof TAG; kind: 'store'; id: number; op: StoreOp; args: unknown[] }
  | { tag: typeof TAG; kind: 'metrics'; id: number }
  | { tag: typeof TAG; kind: 'gathered'; id: number; value: unknown }
  | { tag: typeof TAG; kind: 'ready'; banner: string[] };
type ToWorker =
  | { tag: typeof TAG; kind: 'reply'; id: number; ok: boolean; value?: unknown }
  | { tag: typeof TAG; kind: 'gather'; id: number };
/** What a worker asks of the primary (ToPrimary without tag and id). */
type Question = { kind: 'store'; op: StoreOp; args: unknown[] } | { kind: 'metrics' };

/** A message without its tag (each member of a union on its own). */
type Untagged<T> = T extends unknown ? Omit<T, 'tag'> : never;

const isOurs = (m: unknown): m is { tag: typeof TAG } => typeof m === 'object' && m !== null && (m as { tag?: unknown }).tag === TAG;

/** How long a worker waits for the primary before acting alone. */
const IPC_TIMEOUT_MS = 2_000;
/** How long the primary waits for each worker's registry, and a worker for the sum (longer). */
const GATHER_TIMEOUT_MS = 5_000;
const METRICS_TIMEOUT_MS = 6_000;

/** Runs the primary: forks `config.workers` workers and serves them until told to stop. */
export function runPrimary(config: Readonly<Config>, logger: Logger): void {
  const store = new MemoryStore(Date.now, { kind: 'cluster' });
  let stopping = false;
  let bannerShown = false;
  let failedStarts = 0;
  const ready = new WeakSet<Worker>();
  /** Registries asked of the workers, by request id: what each worker sends back. */
  let nextGather = 0;
  const gathering = new Map<number, (value: unknown) => void>();

  /** Every ready worker's registry (as JSON), added up; a worker that does not answer fails it. */
  const clusterMetrics = async (): Promise<string> => {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && ready.has(w) && w.isConnected());
    const registries = await Promise.all(
      workers.map(
        (w) =>
          new Promise<unknown>((resolve, reject) => {
            const id = nextGather++;
            const timer = setTimeout(() => {
              gathering.delete(id);
              reject(new Error('a worker did not send its metrics'));
            }, GATHER_TIMEOUT_MS);
            gathering.set(id, (value) => {
              clearTimeout(timer);
              resolve(value);
            });
            w.send({ tag: TAG, kind: 'gather', id } satisfies ToWorker);
          }),
      ),
    );
    return AggregatorRegistry.aggregate(registries as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  };

  const fork = () => {
    const worker = cluster.fork();
    worker.on('message', (m: unknown) => void onMessage(worker, m));
  };

  const onMessage = async (worker: Worker, m: unknown) => {
    if (!isOurs(m)) return;
    const msg = m as ToPrimary;
    if (msg.kind === 'ready') {
      ready.add(worker);
      if (!bannerShown) {
        bannerShown = true;
        process.stdout.write(`${[...msg.banner, `Workers: ${config.workers} processes (WORKERS), one port`].join('\n')}\n`);
        logger.info({ workers: config.workers }, 'started');
      }
      return;
    }
    if (msg.kind === 'gathered') {
      const done = gathering.get(msg.id);
      gathering.delete(msg.id);
      done?.(msg.value);
      return;
    }
    if (msg.kind === 'store') {
      const answer = await answerStore(store, msg);
      if (answer && worker.isConnected()) worker.send(answer);
      return;
    }
    const reply = (ok: boolean, value?: unknown) => {
      if (worker.isConnected()) worker.send({ tag: TAG, kind: 'reply', id: msg.id, ok, value } satisfies ToWorker);
    };
    try {
      reply(true, await clusterMetrics());
    } catch {
      reply(false);
    }
  };

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    if (!ready.has(worker) && ++failedStarts > config.workers * 3) {
      logger.fatal({ code, signal }, 'workers keep failing to start');
      process.exit(1);
    }
    logger.error({ code, signal }, 'a worker exited; starting another');
    fork();
  });

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    let left = workers.length;
    if (left === 0) process.exit(0);
    // Past the grace period (plus a margin for the drain itself), stragglers are killed.
    const kill = setTimeout(() => workers.forEach((w) => w.process.kill('SIGKILL')), config.shutdownGraceMs + 5_000);
    for (const w of workers) {
      w.once('exit', () => {
        if (--left === 0) {
          clearTimeout(kill);
          process.exit(0);
        }
      });
      w.process.kill('SIGTERM');
    }
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  for (let i = 0; i < config.workers; i++) fork();
}

/**
 * The primary's answer to a worker's store question (a message from ClusterStore), run on its
 * memory; undefined for any other message. One message at a time reaches the memory, so each
 * operation (a swap included) is atomic across the workers.
 */
export async function answerStore(store: MemoryStore, message: unknown): Promise<ToWorker | undefined> {
  if (!isOurs(message) || (message as ToPrimary).kind !== 'store') return undefined;
  const msg = message as Extract<ToPrimary, { kind: 'store' }>;
  try {
    return { tag: TAG, kind: 'reply', id: msg.id, ok: true, value: await callStore(store, msg.op, msg.args) };
  } catch {
    return { tag: TAG, kind: 'reply', id: msg.id, ok: false };
  }
}

function callStore(store: MemoryStore, op: StoreOp, args: unknown[]): Promise<unknown> {
  const [a, b, c, d] = args as [string, never, never, never];
  switch (op) {
    case 'claim': {
      // IPC is JSON: no quota travels as null.
      const quota = args[2] as ClaimQuota | null | undefined;
      return store.claim(a, b, quota ?? undefined);
    }
    case 'takeSlot':
      return store.takeSlot(a, b);
    case 'get':
      return store.get(a);
    case 'set':
      return store.set(a, b, c);
    case 'swap': {
      // IPC is JSON: an expected absence travels as null.
      const expected = args[1] as string | null;
      return store.swap(a, expected ?? undefined, c, d);
    }
    case 'lease':
      return store.lease(a, b, c);
    case 'release':
      return store.release(a, b);
  }
}

/** A worker's requests to the primary, answered in order of their ids. */
class PrimaryLink {
  #next = 0;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: ReturnType<typeof setTimeout> }>();

  constructor() {
    process.on('message', (m: unknown) => {
      if (!isOurs(m) || (m as ToWorker).kind !== 'reply') return;
      const reply = m as Extract<ToWorker, { kind: 'reply' }>;
      const p = this.#pending.get(reply.id);
      if (!p) return;
      this.#pending.delete(reply.id);
      clearTimeout(p.timer);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new StoreUnavailable('the primary could not answer'));
    });
  }

  ask(message: Question, timeoutMs = IPC_TIMEOUT_MS): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new StoreUnavailable('the primary did not answer'));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      if (!process.send?.({ tag: TAG, id, ...message })) {
        // Sent or queued: only a closed channel returns false before the callback.
        if (!process.connected) {
          clearTimeout(timer);
          this.#pending.delete(id);
          reject(new StoreUnavailable('no primary'));
        }
      }
    });
  }

  tell(message: Untagged<Extract<ToPrimary, { kind: 'ready' | 'gathered' }>>): void {
    process.send?.({ tag: TAG, ...message });
  }
}

let link: PrimaryLink | undefined;
const primary = (): PrimaryLink => (link ??= new PrimaryLink());

/**
 * A worker's view of the primary's store. Should the primary not answer (it is busy or
 * going away), the worker acts on its own memory for that operation rather than fail a request
 * where a worker may decide alone (namespaces.ts, `mayActAlone`: its share of the budget, the
 * managed token); anything else — codes, assertions, refresh-token families, any namespace not
 * listed so — is refused (StoreUnavailable) as with Redis away.
 */
export class ClusterStore implements SharedStore {
  readonly kind = 'cluster' as const;
  readonly #alone = new MemoryStore();

  /** `workers`: how many share the budget; alone, this one takes its share of it. */
  constructor(private readonly workers: number) {}

  claim(key: string, ttlMs: number, quota?: ClaimQuota): Promise<ClaimResult> {
    return this.#ask('claim', key, [ttlMs, quota ?? null], () => this.#alone.claim(key, ttlMs, quota)) as Promise<ClaimResult>;
  }

  takeSlot(key: string, gapMs: number): Promise<number> {
    return this.#ask('takeSlot', key, [gapMs], () => this.#alone.takeSlot(key, gapMs * this.workers)) as Promise<number>;
  }

  async get(key: string): Promise<string | undefined> {
    const v = await this.#ask('get', key, [], () => this.#alone.get(key));
    return typeof v === 'string' ? v : undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#ask('set', key, [value, ttlMs], () => this.#alone.set(key, value, ttlMs));
  }

  async swap(key: string, expected: string | undefined, next: string, ttlMs: number): Promise<SwapResult> {
    // null, not undefined: JSON would turn an undefined array element into null anyway, and
    // drops an undefined `found` from the answer.
    const v = (await this.#ask('swap', key, [expected ?? null, next, ttlMs], () => this.#alone.swap(key, expected, next, ttlMs))) as Partial<SwapResult> | undefined;
    return { swapped: v?.swapped === true, found: typeof v?.found === 'string' ? v.found : undefined };
  }

  lease(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.#ask('lease', key, [owner, ttlMs], () => this.#alone.lease(key, owner, ttlMs)) as Promise<boolean>;
  }

  async release(key: string, owner: string): Promise<void> {
    await this.#ask('release', key, [owner], () => this.#alone.release(key, owner));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The primary's answer to `op` on `key` (sent as its first argument); else this worker's own, where it may act alone. */
  async #ask(op: StoreOp, key: string, rest: unknown[], alone: () => Promise<unknown>): Promise<unknown> {
    try {
      return await primary().ask({ kind: 'store', op, args: [key, ...rest] });
    } catch (err) {
      if (!mayActAlone(key)) throw err instanceof StoreUnavailable ? err : new StoreUnavailable('the primary could not answer');
      return alone();
    }
  }
}

/** In a worker: `/metrics` answers for the whole cluster, and the banner goes to the primary. */
export function joinCluster(metrics: Metrics, banner: string[]): void {
  // The primary asks each ready worker for its registry; this one answers from now on.
  process.on('message', (m: unknown) => {
    if (!isOurs(m) || (m as ToWorker).kind !== 'gather') return;
    const { id } = m as Extract<ToWorker, { kind: 'gather' }>;
    void metrics.registry.getMetricsAsJSON().then((value) => primary().tell({ kind: 'gathered', id, value }));
  });
  metrics.exposition = async () => {
    // The primary asks every ready worker (up to 5 s each, side by side). No answer is a 503
    // for the scrape, never one worker's share passed off as the whole.
    const text = await primary().ask({ kind: 'metrics' }, METRICS_TIMEOUT_MS).catch(() => undefined);
    if (typeof text !== 'string') throw new FhirError(503, outcome('error', 'transient', 'The workers\' metrics could not be gathered; retry'), { 'Retry-After': '1' });
    return text;
  };
  primary().tell({ kind: 'ready', banner });
}

export const isWorker = (): boolean => cluster.isWorker;
