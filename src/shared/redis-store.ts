/**
 * The shared-state interface in Redis (ioredis). Every key carries the configured prefix, and
 * every key has a TTL: nothing here outlives its use. Budgets run on Redis's own clock (TIME
 * inside the script), so replicas with skewed clocks still pace one ledger.
 *
 * Commands fail fast instead of queueing while Redis is away (no offline queue, a command
 * timeout, no retries per command): the caller falls back to per-process behaviour
 * (resilient-store.ts) rather than waiting. The client reconnects on its own.
 */
import { Redis } from 'ioredis';
import { StoreUnavailable, type ClaimResult, type SharedStore, type SwapResult } from './store.ts';

/** GCRA over Redis's clock: KEYS[1] holds the next free instant (µs); ARGV[1] the gap (µs). */
const TAKE_SLOT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local gap = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat > now then return math.ceil((tat - now) / 1000) end
redis.call('SET', KEYS[1], now + gap, 'PX', math.ceil(gap / 1000) + 1000)
return 0
`;

/** Deletes KEYS[1] only if it holds ARGV[1]. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Takes KEYS[1] for ARGV[1] for ARGV[2] ms if free or already ours. */
const LEASE = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/**
 * Sets KEYS[1] to ARGV[3] for ARGV[4] ms if it holds ARGV[2] (ARGV[1] = '1'), or nothing
 * (ARGV[1] = '0'); answers {1 if set else 0, what it held} — nil (false) when nothing.
 */
const SWAP = `
local found = redis.call('GET', KEYS[1])
local match
if ARGV[1] == '1' then match = (found == ARGV[2]) else match = (found == false) end
if match then redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4]) end
return {match and 1 or 0, found}
`;

export interface RedisStoreOptions {
  url: string;
  /** Prefix of every key (REDIS_PREFIX). */
  prefix: string;
  /** The longest a command may take before it counts as unavailable. */
  commandTimeoutMs?: number;
}

export class RedisStore implements SharedStore {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(opts: RedisStoreOptions) {
    this.#prefix = opts.prefix;
    this.#redis = new Redis(opts.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs ?? 250,
      connectTimeout: 2_000,
      // Reconnect forever, backing off to 2 s: the service keeps serving meanwhile.
      retryStrategy: (times) => Math.min(100 * times, 2_000),
      lazyConnect: false,
    });
    // Errors surface through the commands that fail; the connection itself is only observed.
    this.#redis.on('error', () => undefined);
    this.#redis.defineCommand('takeSlot', { numberOfKeys: 1, lua: TAKE_SLOT });
    this.#redis.defineCommand('releaseIf', { numberOfKeys: 1, lua: RELEASE });
    this.#redis.defineCommand('leaseIf', { numberOfKeys: 1, lua: LEASE });
    this.#redis.defineCommand('swapIf', { numberOfKeys: 1, lua: SWAP });
  }

  /** Whether the connection is ready for commands. */
  get ready(): boolean {
    return this.#redis.status === 'ready';
  }

  async claim(key: string, ttlMs: number): Promise<ClaimResult> {
    const set = await this.#run(() => this.#redis.set(this.#key(key), '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'));
    return set === 'OK' ? 'fresh' : 'taken';
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
    type Swap = (k: string, has: '0' | '1', expected: string, next: string, ttl: number) => Promise<unknown>;
    const cmd = this.#redis as unknown as { swapIf: Swap };
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const reply = await this.#run(() => cmd.swapIf(this.#key(key), expected === undefined ? '0' : '1', expected ?? '', next, ttl));
    const [swapped, found] = Array.isArray(reply) ? (reply as unknown[]) : [];
    return { swapped: swapped === 1, found: typeof found === 'string' ? found : undefined };
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
