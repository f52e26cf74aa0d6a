/**
 * The shared-state layer's guarantees, on each store that holds them: `swap` is one atomic
 * compare-and-set (in memory, and in a real redis-server on a loopback port), so two replays
 * of one refresh token at two replicas at once cannot both pass (RFC 9700 §4.14.2); and the
 * memory store bounds each key namespace apart, so one door's traffic cannot lock out or evict
 * another's state.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplayStore } from '../src/auth/backend/replay.ts';
import { OAuthError } from '../src/auth/oauth-error.ts';
import { RefreshFamilies } from '../src/auth/smart/refresh-families.ts';
import { answerStore } from '../src/cluster.ts';
import { MemoryStore } from '../src/shared/memory-store.ts';
import { RedisStore } from '../src/shared/redis-store.ts';
import { ResilientStore } from '../src/shared/resilient-store.ts';
import { StoreUnavailable, type SharedStore } from '../src/shared/store.ts';
import { startRedis, type RealRedis } from './helpers/real-servers.ts';

/** 'accepted', or the OAuth error code a call was refused with. */
const outcomeOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'accepted',
    (err: unknown) => (err instanceof OAuthError ? err.error : 'other'),
  );

const HOUR_MS = 3_600_000;
/** Sign-ins raced per store: a single race could be won by timing alone. */
const RACES = 25;

let redis: RealRedis;
const opened: RedisStore[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await redis.close();
});

/** A RedisStore as one replica holds it: a connection of its own, ready for commands. */
async function redisReplica(prefix: string): Promise<RedisStore> {
  const store = new RedisStore({ url: redis.url, prefix, commandTimeoutMs: 2_000 });
  opened.push(store);
  for (let i = 0; !store.ready; i++) {
    if (i > 100) throw new Error('redis not ready');
    await new Promise((r) => setTimeout(r, 20));
  }
  return store;
}

/** Two replicas' views of one shared store: the same MemoryStore, or two Redis connections. */
const STORES: [string, () => Promise<[SharedStore, SharedStore]>][] = [
  [
    'memory',
    () => {
      const store = new MemoryStore();
      return Promise.resolve([store, store]);
    },
  ],
  [
    'redis',
    async () => {
      const prefix = `t-${randomUUID()}:`;
      return [await redisReplica(prefix), await redisReplica(prefix)];
    },
  ],
];

describe.each(STORES)('swap on the %s store', (_name, replicas) => {
  it('sets a value only over what was expected, and says what it found', async () => {
    const [store] = await replicas();
    expect(await store.swap('smart-sign-in:a', undefined, 'one', HOUR_MS)).toEqual({ swapped: true, found: undefined });
    expect(await store.swap('smart-sign-in:a', undefined, 'two', HOUR_MS)).toEqual({ swapped: false, found: 'one' });
    expect(await store.swap('smart-sign-in:a', 'other', 'two', HOUR_MS)).toEqual({ swapped: false, found: 'one' });
    expect(await store.get('smart-sign-in:a')).toBe('one');
    expect(await store.swap('smart-sign-in:a', 'one', 'two', HOUR_MS)).toEqual({ swapped: true, found: 'one' });
    expect(await store.get('smart-sign-in:a')).toBe('two');
    // Expecting a value where there is none writes nothing.
    expect(await store.swap('smart-sign-in:b', 'one', 'two', HOUR_MS)).toEqual({ swapped: false, found: undefined });
    expect(await store.get('smart-sign-in:b')).toBeUndefined();
  });

  it('lets exactly one of many concurrent swaps from one value win', async () => {
    const [a, b] = await replicas();
    await a.set('smart-sign-in:c', 'start', HOUR_MS);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).swap('smart-sign-in:c', 'start', `next-${i}`, HOUR_MS)));
    const winners = results.filter((r) => r.swapped);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => !r.swapped).every((r) => r.found !== 'start')).toBe(true);
  });
});

describe.each(STORES)('refresh token reuse on the %s store', (_name, replicas) => {
  const families = async (): Promise<[RefreshFamilies, RefreshFamilies]> => {
    const [a, b] = await replicas();
    return [new RefreshFamilies(a, 100, Date.now, HOUR_MS), new RefreshFamilies(b, 100, Date.now, HOUR_MS)];
  };
  const exp = () => Math.floor(Date.now() / 1000) + 3600;

  it('lets exactly one of two concurrent spends of a token win, and the other revokes the sign-in', async () => {
    const [a, b] = await families();
    for (let i = 0; i < RACES; i++) {
      const sid = randomUUID();
      const token = { sid, rjti: await a.issue(sid, 3600), exp: exp() };
      const outcomes = await Promise.all([outcomeOf(a.spend(token)), outcomeOf(b.spend(token))]);
      expect(outcomes.sort()).toEqual(['accepted', 'invalid_grant']);
      expect(await a.revoked(sid)).toBe(true);
      expect(await b.revoked(sid)).toBe(true);
      // The winner's renewal cannot undo the revocation, nor can giving its token back.
      const winner = outcomes[0] === 'accepted' ? a : b;
      await winner.restore(token);
      expect(await outcomeOf(winner.issue(sid, 3600))).toBe('invalid_grant');
      expect(await a.revoked(sid)).toBe(true);
    }
  });

  it('lets exactly one of two concurrent spends win in a sign-in the store does not remember', async () => {
    const [a, b] = await families();
    for (let i = 0; i < RACES; i++) {
      const sid = randomUUID();
      const token = { sid, rjti: randomUUID(), exp: exp() };
      const outcomes = await Promise.all([outcomeOf(a.spend(token)), outcomeOf(b.spend(token))]);
      expect(outcomes.sort()).toEqual(['accepted', 'invalid_grant']);
      expect(await b.revoked(sid)).toBe(true);
    }
  });

  it('answers invalid_grant (log in again), not a retry, when the sign-in keeps changing under a renewal whose token is spent', async () => {
    const [store] = await replicas();
    const a = new RefreshFamilies(store, 100, Date.now, HOUR_MS);
    // Another replica rewrites the sign-in's record before each of this renewal's attempts.
    let writes = 0;
    const busy = new Proxy(store, {
      get(target, prop) {
        if (prop === 'swap') {
          return async (key: string, expected: string | undefined, next: string, ttlMs: number) => {
            await target.set(key, `elsewhere-${writes++}`, HOUR_MS);
            return target.swap(key, expected, next, ttlMs);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const renewing = new RefreshFamilies(busy, 100, Date.now, HOUR_MS);
    const sid = randomUUID();
    const token = { sid, rjti: await a.issue(sid, 3600), exp: exp() };
    await a.spend(token);
    const refused: unknown = await renewing.issue(sid, 3600).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(OAuthError);
    expect(refused).toMatchObject({ error: 'invalid_grant', status: 400 });
    expect(writes).toBeGreaterThan(1);
    // The spent token stays spent: presented again it is a replay, which is why the app is not told to retry.
    expect(await outcomeOf(a.spend(token))).toBe('invalid_grant');
  });

  it('rotates a sign-in from replica to replica, and gives a spent token back after an outage', async () => {
    const [a, b] = await families();
    const sid = randomUUID();
    let token = { sid, rjti: await a.issue(sid, 3600), exp: exp() };
    for (const [spender, issuer] of [
      [a, b],
      [b, a],
      [a, a],
    ] as const) {
      await spender.spend(token);
      token = { sid, rjti: await issuer.issue(sid, 3600), exp: exp() };
    }
    await b.spend(token);
    await b.restore(token);
    expect(await outcomeOf(a.spend(token))).toBe('accepted');
    expect(await a.revoked(sid)).toBe(false);
    expect(await outcomeOf(b.spend(token))).toBe('invalid_grant');
  });
});

describe('refresh token reuse across cluster workers (WORKERS > 1, no Redis)', () => {
  const primaryStore = new MemoryStore(Date.now, { kind: 'cluster' });
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const worker = fork(new URL('./helpers/cluster-refresh-worker.ts', import.meta.url), [], { execArgv: ['--import', 'tsx'] });
      // This process is their primary: it answers their store questions as src/cluster.ts does.
      worker.on('message', (m: unknown) => {
        void answerStore(primaryStore, m).then((answer) => answer && worker.send(answer));
      });
      await once(worker, 'message');
      workers.push(worker);
    }
  }, 30_000);
  afterAll(() => {
    for (const w of workers) w.kill();
  });

  /** What a worker answered for a spend in sign-in `sid`. */
  const outcomeAt = (worker: ChildProcess, sid: string) =>
    new Promise<string>((resolve) => {
      const listen = (m: unknown) => {
        const reply = m as { sid?: string; outcome?: string };
        if (reply.sid !== sid || reply.outcome === undefined) return;
        worker.off('message', listen);
        resolve(reply.outcome);
      };
      worker.on('message', listen);
    });

  it('lets exactly one of two workers spend a token replayed at both at once, and the other revokes the sign-in', async () => {
    const families = new RefreshFamilies(primaryStore, 10, Date.now, HOUR_MS);
    for (let i = 0; i < RACES; i++) {
      const sid = randomUUID();
      // A known sign-in, and (every other race) one the primary has forgotten.
      const token = { sid, rjti: i % 2 ? await families.issue(sid, 3600) : randomUUID(), exp: Math.floor(Date.now() / 1000) + 3600 };
      const outcomes = Promise.all(workers.map((w) => outcomeAt(w, sid)));
      for (const w of workers) w.send({ spend: token });
      expect((await outcomes).sort()).toEqual(['accepted', 'invalid_grant']);
      expect(await families.revoked(sid)).toBe(true);
    }
  });
});

describe('memory store namespaces', () => {
  const BOUND = 50;

  it('keeps SMART codes claimable when Backend Services jtis fill their bound', async () => {
    const store = new MemoryStore(Date.now, { entries: BOUND });
    const replays = new ReplayStore(store);
    const nowS = Math.floor(Date.now() / 1000);
    const spent = [];
    for (let i = 0; i <= BOUND; i++) spent.push(await replays.spend('one-client', `jti-${i}`, nowS + 300, nowS));
    expect(spent.slice(0, BOUND).every((s) => s === 'fresh')).toBe(true);
    expect(spent[BOUND]).toBe('full');
    // The key SmartServer spends a code under (auth/smart/server.ts).
    expect(await store.claim(`smart-code:${randomUUID()}`, 60_000)).toBe('fresh');
  });

  it('keeps the managed token record and its lease through a burst of sign-ins and export jobs', async () => {
    const store = new MemoryStore(Date.now, { entries: BOUND });
    await store.set('managed-token', 'record', HOUR_MS);
    expect(await store.lease('managed-token:refreshing', 'replica-1', 60_000)).toBe(true);
    const families = new RefreshFamilies(store, BOUND, Date.now, HOUR_MS);
    for (let i = 0; i < BOUND * 4; i++) await families.issue(randomUUID(), 3600);
    for (let i = 0; i < BOUND * 4; i++) await store.lease(`bulk-job:${randomUUID()}`, 'replica-2', 60_000);
    expect(await store.get('managed-token')).toBe('record');
    expect(await store.lease('managed-token:refreshing', 'replica-2', 60_000)).toBe(false);
  });

  it('holds every made-up prefix in one shared bucket, apart from the known ones', async () => {
    const store = new MemoryStore(Date.now, { entries: BOUND });
    const results = [];
    for (let i = 0; i <= BOUND; i++) results.push(await store.claim(`made-up-${i}:x`, 60_000));
    // A new prefix per key still fills one bound: prefixes cannot make buckets.
    expect(results[BOUND]).toBe('full');
    expect(await store.claim(`smart-code${randomUUID()}`, 60_000)).toBe('full');
    expect(await store.claim(`smart-code:${randomUUID()}`, 60_000)).toBe('fresh');
    expect(await store.claim(`backend-jti:${randomUUID()}`, 60_000)).toBe('fresh');
  });
});

describe('exclusive leases while Redis is unavailable', () => {
  it('refuses a bulk export job\'s lease rather than take it in this replica\'s memory, while other leases fall back', async () => {
    // Nothing listens there: every Redis command fails at once.
    const redis = new RedisStore({ url: 'redis://127.0.0.1:1', prefix: `t-${randomUUID()}:` });
    const store = new ResilientStore({ redis, fallback: new MemoryStore(), replicas: 2 });
    try {
      await expect(store.lease('bulk-job:abc', 'replica-1', 60_000)).rejects.toBeInstanceOf(StoreUnavailable);
      await expect(store.lease('bulk-kickoff:1001:hie', 'replica-1', 60_000)).rejects.toBeInstanceOf(StoreUnavailable);
      // The managed token's refresh lease is per replica while Redis is away (each refreshes alone).
      expect(await store.lease('managed-token:refreshing', 'replica-1', 60_000)).toBe(true);
    } finally {
      await store.close();
    }
  });
});
