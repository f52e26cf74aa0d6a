/**
 * The shared-state interface in Redis (ioredis). Every key carries the configured prefix, and
 * every key has a TTL: nothing here outlives its use. Budgets run on Redis's own clock (TIME
 * inside the script), so replicas with skewed clocks still pace one ledger.
 *
 * Commands fail fast instead of queueing while Redis is away (no offline queue, a command
 * timeout, no retries per command): the caller falls back to per-process behaviour
 * (resilient-store.ts), or refuses, rather than waiting. The client reconnects on its own.
 *
 * A command that timed out is still sent, and a paused Redis runs it when it resumes; so the
 * decisions (claim, swap) are fenced (redis-scripts.ts): each carries a deadline on Redis's
 * clock — half the command timeout (REDIS_COMMAND_TIMEOUT_MS) after it was sent, leaving the
 * other half for the answer — past which it does nothing. The offset of Redis's clock from this
 * one is measured when the connection is ready and again from fenced replies, but only from
 * fast ones (a round trip under a fifth of the timeout): the midpoint of a slow round trip could
 * be off by half of it, which would move every later deadline towards the timeout and leave
 * the answer no time. A late reply that was slow asks Redis's clock again instead. Until a fast
 * sample comes, the clocks are taken to agree (NTP). What no fence can close: a replica
 * whose own event loop stalls past the timeout after Redis ran the command in time reports it
 * unavailable though it landed; the retry then finds the decision made (a code already used, a
 * refresh token replayed) — a value is still never used twice.
 */
import { Redis } from 'ioredis';
import { namespaceOf } from './namespaces.ts';
import { CLAIM, KEEP_WITHIN, LEASE, RELEASE, SWAP, TAKE_SLOT } from './redis-scripts.ts';
import { StoreUnavailable, type AnswerQuota, type AnswerTier, type ClaimQuota, type ClaimResult, type SharedStore, type SwapResult } from './store.ts';

/** Of the command timeout, the longest round trip whose midpoint may set the reckoning of Redis's clock (error ≤ half of it). */
const CLOCK_SAMPLE_MAX_SHARE = 1 / 5;

/** The ledger of an owner's claims in a namespace (CLAIM): its own namespace, so no claim key can be one. */
const ownerLedger = (key: string, owner: string) => `claims-by-owner:${JSON.stringify([namespaceOf(key), owner])}`;
/** The two keys of an answer ledger (KEEP_WITHIN): expiries and weights. */
const answerLedger = (name: string) => [`answer-quota:${name}:expires`, `answer-quota:${name}:weights`];

type Command = (...args: (string | number)[]) => Promise<unknown>;

export interface RedisStoreOptions {
  url: string;
  /** Prefix of every key (REDIS_PREFIX). */
  prefix: string;
  /** The longest a command may take before it counts as unavailable (REDIS_COMMAND_TIMEOUT_MS). */
  commandTimeoutMs: number;
}

export class RedisStore implements SharedStore, AnswerTier {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  /** Redis's clock minus this one's, in ms (0 until measured). */
  #offsetMs = 0;
  /** Set while Redis's clock is being asked. */
  #measuring = false;

  constructor(opts: RedisStoreOptions) {
    this.#prefix = opts.prefix;
    this.#timeoutMs = opts.commandTimeoutMs;
    this.#redis = new Redis(opts.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: this.#timeoutMs,
      connectTimeout: 2_000,
      // Reconnect forever, backing off to 2 s: the service keeps serving meanwhile.
      retryStrategy: (times) => Math.min(100 * times, 2_000),
      lazyConnect: false,
    });
    // Errors surface through the commands that fail; the connection itself is only observed.
    this.#redis.on('error', () => undefined);
    this.#redis.on('ready', () => void this.#measureClock());
    this.#redis.defineCommand('takeSlot', { numberOfKeys: 1, lua: TAKE_SLOT });
    this.#redis.defineCommand('releaseIf', { numberOfKeys: 1, lua: RELEASE });
    this.#redis.defineCommand('leaseIf', { numberOfKeys: 1, lua: LEASE });
    this.#redis.defineCommand('claimIf', { numberOfKeys: 2, lua: CLAIM });
    this.#redis.defineCommand('swapIf', { numberOfKeys: 1, lua: SWAP });
    this.#redis.defineCommand('keepWithin', { numberOfKeys: 5, lua: KEEP_WITHIN });
  }

  /** Whether the connection is ready for commands. */
  get ready(): boolean {
    return this.#redis.status === 'ready';
  }

  /** Redis's clock minus this process's, as reckoned (ms; for tests). */
  get clockOffsetMs(): number {
    return this.#offsetMs;
  }

  async claim(key: string, ttlMs: number, quota?: ClaimQuota): Promise<ClaimResult> {
    const ledger = this.#key(quota ? ownerLedger(key, quota.owner) : key);
    const [code] = await this.#fenced('claimIf', (deadline) => [this.#key(key), ledger, Math.max(1, Math.ceil(ttlMs)), deadline, quota ? Math.max(1, quota.max) : 0]);
    return code === 1 ? 'fresh' : code === 2 ? 'full' : 'taken';
  }

  async takeSlot(key: string, gapMs: number): Promise<number> {
    const cmd = this.#redis as unknown as { takeSlot(k: string, gapUs: number): Promise<number> };
    return Number(await this.#run(() => cmd.takeSlot(this.#key(key), Math.max(1, Math.round(gapMs * 1000)))));
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.#run(() => this.#redis.get(this.#key(key)))) ?? undefined;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#run(() => this.#redis.set(this.#key(key), value, 'PX', Math.max(1, Math.ceil(ttlMs))));
  }

  async swap(key: string, expected: string | undefined, next: string, ttlMs: number): Promise<SwapResult> {
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const [swapped, found] = await this.#fenced('swapIf', (deadline) => [this.#key(key), expected === undefined ? '0' : '1', expected ?? '', next, ttl, deadline]);
    return { swapped: swapped === 1, found: typeof found === 'string' ? found : undefined };
  }

  /** AnswerTier: keeps `value` only within its caller's and the total answer quota (KEEP_WITHIN). */
  async keepWithin(key: string, value: string, ttlMs: number, quota: AnswerQuota): Promise<boolean> {
    const cmd = (this.#redis as unknown as Record<string, Command>).keepWithin;
    const keys = [key, ...answerLedger(quota.ledger), ...answerLedger('all')].map((k) => this.#key(k));
    const args = [value, Math.max(1, Math.ceil(ttlMs)), quota.weight, quota.ledgerMax, quota.totalMax];
    return (await this.#run(() => cmd!.call(this.#redis, ...keys, ...args))) === 1;
  }

  async lease(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const cmd = this.#redis as unknown as { leaseIf(k: string, owner: string, ttl: number): Promise<number> };
    return (await this.#run(() => cmd.leaseIf(this.#key(key), owner, Math.max(1, Math.ceil(ttlMs))))) === 1;
  }

  async release(key: string, owner: string): Promise<void> {
    const cmd = this.#redis as unknown as { releaseIf(k: string, owner: string): Promise<number> };
    await this.#run(() => cmd.releaseIf(this.#key(key), owner));
  }

  async close(): Promise<void> {
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }

  #key(key: string): string {
    return `${this.#prefix}${key}`;
  }

  /**
   * Runs a fenced script (redis-scripts.ts) whose last argument is its deadline: answers its
   * reply without the clock ({code, now, …rest} → [code, …rest]); late is StoreUnavailable.
   */
  async #fenced(name: 'claimIf' | 'swapIf', args: (deadline: number) => (string | number)[]): Promise<unknown[]> {
    const cmd = (this.#redis as unknown as Record<string, Command>)[name];
    const sent = Date.now();
    const deadline = Math.floor(sent + this.#offsetMs + this.#timeoutMs / 2);
    const reply = await this.#run(() => cmd!.call(this.#redis, ...args(deadline)));
    const [code, now, ...rest] = Array.isArray(reply) ? (reply as unknown[]) : [];
    const learnt = typeof now === 'number' && this.#learnClock(now, sent, Date.now());
    if (code === -1) {
      // Past its deadline though answered in time: Redis stalled, or this replica's reckoning of
      // its clock was off — corrected from this reply if it was fast, else asked afresh.
      if (!learnt) void this.#measureClock();
      throw new StoreUnavailable('late');
    }
    return [code, ...rest];
  }

  /** Asks Redis's clock (a few times at most, until a reply is fast enough to learn from). */
  async #measureClock(): Promise<void> {
    if (this.#measuring) return;
    this.#measuring = true;
    try {
      for (let i = 0; i < 3; i++) {
        const sent = Date.now();
        const [s, us] = await this.#redis.time();
        if (this.#learnClock(Number(s) * 1000 + Math.floor(Number(us) / 1000), sent, Date.now())) return;
      }
    } catch {
      // The next fenced reply measures it.
    } finally {
      this.#measuring = false;
    }
  }

  /** Learns Redis's clock from a reply, only if its round trip was fast (true when it did). */
  #learnClock(redisNow: number, sent: number, received: number): boolean {
    if (received - sent > this.#timeoutMs * CLOCK_SAMPLE_MAX_SHARE) return false;
    this.#offsetMs = redisNow - (sent + received) / 2;
    return true;
  }

  /** Runs a command; any failure (down, timeout, refused) is StoreUnavailable, without Redis's message. */
  async #run<T>(command: () => Promise<T>): Promise<T> {
    if (this.#redis.status !== 'ready') throw new StoreUnavailable(`redis ${this.#redis.status}`);
    try {
      return await command();
    } catch (err) {
      throw new StoreUnavailable((err as Error).name);
    }
  }
}
