/**
 * The shared store a service runs with: Redis when REDIS_URL is set (falling back to this
 * process's memory while Redis is away, except for what only the shared store may decide:
 * resilient-store.ts), the cluster primary's memory for a worker of a WORKERS > 1 service
 * without Redis, else this process's memory.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { createRollingSealer } from '../auth/smart/sealer.ts';
import type { SharedToken } from '../auth/managed-token.ts';
import { MemoryStore } from './memory-store.ts';
import { RedisStore } from './redis-store.ts';
import { ResilientStore } from './resilient-store.ts';
import type { SharedStore } from './store.ts';
import { sharedAnswers, type SharedAnswers } from './shared-answers.ts';

/** The shortest timeout of the answers' own connection: answers weigh up to MBs. */
const ANSWERS_TIMEOUT_MS = 2_000;

export interface SharedState {
  store: SharedStore;
  /** True when the store is shared with other processes (Redis or a cluster primary). */
  shared: boolean;
  /** What readiness should say about it (empty: all is well). */
  details(): string[];
  /** For the managed token, when shared. */
  token?: SharedToken;
  /** Upstream answers (listings, patient searches) shared through Redis, sealed. */
  answers?: SharedAnswers;
}

export interface SharedStateOptions {
  logger: Logger;
  now: () => number;
  /** The store of a cluster worker (src/cluster.ts), when there is no Redis. */
  cluster?: SharedStore;
  /** Told whenever the Redis store falls back or recovers. */
  onDegraded?: (degraded: boolean) => void;
}

export function createSharedState(config: Readonly<Config>, opts: SharedStateOptions): SharedState {
  const owner = randomUUID();
  if (config.redis) {
    const sealer = createRollingSealer(config.redis.key, config.redis.keysAccepted, opts.now);
    const redis = new RedisStore({ url: config.redis.url, prefix: config.redis.prefix, commandTimeoutMs: config.redis.commandTimeoutMs });
    const answersRedis = new RedisStore({ url: config.redis.url, prefix: config.redis.prefix, commandTimeoutMs: Math.max(ANSWERS_TIMEOUT_MS, config.redis.commandTimeoutMs) });
    const store = new ResilientStore({
      redis,
      fallback: new MemoryStore(opts.now),
      replicas: config.replicas,
      also: [answersRedis],
      onDegraded: (degraded) => {
        // Never Redis's own message (it may carry the URL): the mode is what matters.
        if (degraded) opts.logger.warn({ sharedState: 'degraded', replicas: config.replicas }, 'Redis unavailable: shared state falls back to this replica alone (budget divided by REPLICAS; codes, assertions and refresh tokens refused until it is back)');
        else opts.logger.info({ sharedState: 'shared' }, 'Redis available again: shared state resumed');
        opts.onDegraded?.(degraded);
      },
    });
    return {
      store,
      shared: true,
      details: () => (store.degraded ? ['shared-state: Redis unavailable, running per replica (budget divided by REPLICAS; SMART codes, refresh tokens and Backend Services assertions refused with 503 until it is back)'] : []),
      // Answers (up to MBs each) travel on a connection of their own with a longer timeout, so they
      // never queue the budget's small commands behind them; a failure there is only a miss and
      // does not switch the replica to per-process mode.
      // While the store is degraded (Redis not answering its small commands), answers are skipped.
      answers: sharedAnswers(answersRedis, sealer, config.redis.key, config.redis.answers, () => !store.degraded),
      token: {
        store,
        owner,
        seal: (json, ttl) => sealer.seal('shared', json, ttl),
        open: (sealed) => sealer.open('shared', sealed),
      },
    };
  }
  if (opts.cluster) {
    // The primary's memory, on this machine, is never at rest anywhere: the record travels as JSON.
    return {
      store: opts.cluster,
      shared: true,
      details: () => [],
      token: { store: opts.cluster, owner, seal: (json) => JSON.stringify(json), open: parseRecord },
    };
  }
  return { store: new MemoryStore(opts.now), shared: false, details: () => [] };
}

function parseRecord(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
