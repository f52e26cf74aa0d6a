/**
 * The shared-state layer's guarantees, on each store that holds them: `swap` is one atomic
 * compare-and-set (in memory, and in a real redis-server on a loopback port), so two replays
 * of one refresh token at two replicas at once cannot both pass (RFC 9700 §4.14.2); the
 * memory store bounds each key namespace apart, and each client's claims within its share, so
 * one door's or one client's traffic cannot lock out or evict another's state; and while Redis
 * is unavailable (refused or paused), what only the shared store may decide is refused, and
 * nothing that timed out lands when it comes back.
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
import { Redis } from 'ioredis';

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

  it('lets exactly one of two concurrent renewals with a token win, and the other revokes the sign-in', async () => {
    const [a, b] = await families();
    for (let i = 0; i < RACES; i++) {
      const sid = randomUUID();
      const token = { sid, rjti: await a.issue(sid, 3600), exp: exp() };
      const renewals = [a.rotate(token, 3600), b.rotate(token, 3600)];
      const outcomes = await Promise.all(renewals.map(outcomeOf));
      expect([...outcomes].sort()).toEqual(['accepted', 'invalid_grant']);
      expect(await a.revoked(sid)).toBe(true);
      expect(await b.revoked(sid)).toBe(true);
      // The winner's renewal cannot undo the revocation, nor can giving its token back.
      const w = outcomes[0] === 'accepted' ? 0 : 1;
      const winner = w === 0 ? a : b;
      const next = await renewals[w]!;
      await winner.restore(token, next);
      expect(await outcomeOf(winner.rotate({ sid, rjti: next, exp: exp() }, 3600))).toBe('invalid_grant');
      expect(await a.revoked(sid)).toBe(true);
    }
  });

  it('lets exactly one of two concurrent renewals win in a sign-in the store does not remember', async () => {
    const [a, b] = await families();
    for (let i = 0; i < RACES; i++) {
      const sid = randomUUID();
      const token = { sid, rjti: randomUUID(), exp: exp() };
      const outcomes = await Promise.all([outcomeOf(a.rotate(token, 3600)), outcomeOf(b.rotate(token, 3600))]);
      expect(outcomes.sort()).toEqual(['accepted', 'invalid_grant']);
      expect(await b.revoked(sid)).toBe(true);
    }
  });

  it('decides nothing while the store cannot answer, and writes a revocation it could not write once the store is back', async () => {
    const [store, other] = await replicas();
    let down = false;
    let setsFail = false;
    // Replica a's view of the store, which goes away on the test's word.
    const flaky = new Proxy(store, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          down || (setsFail && prop === 'set') ? Promise.reject(new StoreUnavailable('test')) : (value as (...a: unknown[]) => unknown).apply(target, args);
      },
    });
    const a = new RefreshFamilies(flaky, 100, Date.now, HOUR_MS);
    const b = new RefreshFamilies(other, 100, Date.now, HOUR_MS);
    const sid = randomUUID();
    const first = { sid, rjti: await a.issue(sid, 3600), exp: exp() };
    down = true;
    await expect(a.rotate(first, 3600)).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(a.issue(randomUUID(), 3600)).rejects.toBeInstanceOf(StoreUnavailable);
    // Its check of access tokens answers from what it knows meanwhile (see RefreshFamilies.revoked).
    expect(await a.revoked(sid)).toBe(false);
    down = false;
    // Nothing was decided: the same token renews the sign-in once the store is back.
    const second = { sid, rjti: await a.rotate(first, 3600), exp: exp() };
    // The first token again: a replay, decided on the store's answer, whose revocation cannot be written yet.
    setsFail = true;
    expect(await outcomeOf(a.rotate(first, 3600))).toBe('invalid_grant');
    expect(a.revokedHere(sid)).toBe(true);
    expect(await b.revoked(sid)).toBe(false);
    setsFail = false;
    // Any later use of replica a's families writes it; then every replica knows.
    expect(await a.revoked(randomUUID())).toBe(false);
    for (let i = 0; i < 50 && !(await b.revoked(sid)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await b.revoked(sid)).toBe(true);
    expect(await outcomeOf(b.rotate(second, 3600))).toBe('invalid_grant');
  });

  it('rotates a sign-in from replica to replica, and gives a spent token back after an outage', async () => {
    const [a, b] = await families();
    const sid = randomUUID();
    let token = { sid, rjti: await a.issue(sid, 3600), exp: exp() };
    for (const renewer of [b, a, a]) token = { sid, rjti: await renewer.rotate(token, 3600), exp: exp() };
    await b.restore(token, await b.rotate(token, 3600));
    expect(await outcomeOf(a.rotate(token, 3600))).toBe('accepted');
    expect(await a.revoked(sid)).toBe(false);
    expect(await outcomeOf(b.rotate(token, 3600))).toBe('invalid_grant');
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
    const replays = new ReplayStore(store, 10_000);
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

describe('decisions while Redis is unavailable', () => {
  it('refuses what only the shared store may decide rather than decide it in this replica\'s memory, while the rest falls back', async () => {
    // Nothing listens there: every Redis command fails at once.
    const redis = new RedisStore({ url: 'redis://127.0.0.1:1', prefix: `t-${randomUUID()}:`, commandTimeoutMs: 250 });
    const store = new ResilientStore({ redis, fallback: new MemoryStore(), replicas: 2 });
    try {
      // Export jobs and kick-offs: two replicas would run one job.
      await expect(store.lease('bulk-job:abc', 'replica-1', 60_000)).rejects.toBeInstanceOf(StoreUnavailable);
      await expect(store.lease('bulk-kickoff:1001:hie', 'replica-1', 60_000)).rejects.toBeInstanceOf(StoreUnavailable);
      // Codes and assertions: another replica would take a replay for a first use.
      await expect(store.claim(`smart-code:${randomUUID()}`, 60_000, { owner: 'app', max: 10 })).rejects.toBeInstanceOf(StoreUnavailable);
      await expect(store.claim(`backend-jti:${randomUUID()}`, 60_000)).rejects.toBeInstanceOf(StoreUnavailable);
      // Refresh-token families and their revocations: reuse detection, known to every replica.
      await expect(store.swap('smart-sign-in:a', undefined, 'r1', HOUR_MS)).rejects.toBeInstanceOf(StoreUnavailable);
      await expect(store.set('smart-sign-in:a', 'revoked', HOUR_MS)).rejects.toBeInstanceOf(StoreUnavailable);
      await expect(store.get('smart-sign-in:a')).rejects.toBeInstanceOf(StoreUnavailable);
      // The managed token's refresh lease and record, and the rate budget, are per replica meanwhile.
      expect(await store.lease('managed-token:refreshing', 'replica-1', 60_000)).toBe(true);
      await store.set('managed-token', 'record', HOUR_MS);
      expect(await store.get('managed-token')).toBe('record');
      expect(await store.takeSlot('budget:x', 50)).toBe(0);
      expect(store.degraded).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('refuses every key of a namespace not listed as one a replica may act on alone: a new or misspelt prefix fails closed', async () => {
    const redis = new RedisStore({ url: 'redis://127.0.0.1:1', prefix: `t-${randomUUID()}:`, commandTimeoutMs: 250 });
    const store = new ResilientStore({ redis, fallback: new MemoryStore(), replicas: 2 });
    try {
      // A namespace added without a line in namespaces.ts, and a known one misspelt.
      for (const key of [`smart-device-code:${randomUUID()}`, `smart_code:${randomUUID()}`, `refresh:${randomUUID()}`, 'no-colon-at-all']) {
        await expect(store.claim(key, 60_000, { owner: 'app', max: 10 })).rejects.toBeInstanceOf(StoreUnavailable);
        await expect(store.swap(key, undefined, 'r1', HOUR_MS)).rejects.toBeInstanceOf(StoreUnavailable);
        await expect(store.get(key)).rejects.toBeInstanceOf(StoreUnavailable);
        await expect(store.set(key, 'revoked', HOUR_MS)).rejects.toBeInstanceOf(StoreUnavailable);
        await expect(store.lease(key, 'replica-1', 60_000)).rejects.toBeInstanceOf(StoreUnavailable);
        await expect(store.takeSlot(key, 50)).rejects.toBeInstanceOf(StoreUnavailable);
      }
      // What is listed as a replica's own goes on alone.
      expect(await store.takeSlot('budget:x', 50)).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('refuses the same at a cluster worker whose primary cannot answer, and acts alone only where listed', async () => {
    const worker = fork(new URL('./helpers/cluster-store-worker.ts', import.meta.url), [], { execArgv: ['--import', 'tsx'] });
    try {
      // This process is its primary, one that cannot answer any store question now.
      worker.on('message', (m: unknown) => {
        const q = m as { tag?: string; kind?: string; id?: number };
        if (q.kind === 'store') worker.send({ tag: q.tag, kind: 'reply', id: q.id, ok: false });
      });
      await once(worker, 'message');
      let n = 0;
      const ask = (op: string, key: string) =>
        new Promise<string>((resolve) => {
          const mine = ++n;
          const listen = (m: unknown) => {
            const reply = m as { n?: number; outcome?: string };
            if (reply.n !== mine || reply.outcome === undefined) return;
            worker.off('message', listen);
            resolve(reply.outcome);
          };
          worker.on('message', listen);
          worker.send({ n: mine, op, key });
        });
      for (const key of [`smart-device-code:${randomUUID()}`, `smart_code:${randomUUID()}`, `smart-code:${randomUUID()}`, 'smart-sign-in:s1', `backend-jti:${randomUUID()}`]) {
        for (const op of ['claim', 'swap', 'get', 'set', 'lease', 'takeSlot']) expect(`${op} ${key}: ${await ask(op, key)}`).toBe(`${op} ${key}: refused`);
      }
      expect(await ask('takeSlot', 'budget:x')).toBe('alone');
      expect(await ask('get', 'managed-token')).toBe('alone');
    } finally {
      worker.kill();
    }
  }, 30_000);

  it('lets no claim or swap that timed out against a paused Redis land when it resumes', async () => {
    const own = await startRedis();
    const prefix = `t-${randomUUID()}:`;
    const store = new RedisStore({ url: own.url, prefix, commandTimeoutMs: 250 });
    const reader = new Redis(own.url);
    try {
      for (let i = 0; !store.ready; i++) {
        if (i > 100) throw new Error('redis not ready');
        await new Promise((r) => setTimeout(r, 20));
      }
      await store.set('smart-sign-in:s', 'r1', HOUR_MS);
      own.pause();
      await expect(store.claim('smart-code:c1', 60_000, { owner: 'app', max: 10 })).rejects.toBeInstanceOf(StoreUnavailable);
      await expect(store.swap('smart-sign-in:s', 'r1', 'r2', HOUR_MS)).rejects.toBeInstanceOf(StoreUnavailable);
      own.resume();
      // The paused server read both commands when it resumed, and ran them after a command sent now.
      expect(await reader.ping()).toBe('PONG');
      expect(await reader.exists(`${prefix}smart-code:c1`)).toBe(0);
      expect(await reader.get(`${prefix}smart-sign-in:s`)).toBe('r1');
      // Decided now, they land.
      expect(await store.claim('smart-code:c1', 60_000, { owner: 'app', max: 10 })).toBe('fresh');
      expect(await store.swap('smart-sign-in:s', 'r1', 'r2', HOUR_MS)).toEqual({ swapped: true, found: 'r1' });
    } finally {
      reader.disconnect();
      await store.close();
      await own.close();
    }
  }, 30_000);

  it('learns Redis\'s clock only from fast replies: a decision answered late after a stall leaves the reckoning true', async () => {
    const own = await startRedis();
    const TIMEOUT = 1_000;
    const store = new RedisStore({ url: own.url, prefix: `t-${randomUUID()}:`, commandTimeoutMs: TIMEOUT });
    const admin = new Redis(own.url);
    try {
      for (let i = 0; !store.ready; i++) {
        if (i > 100) throw new Error('redis not ready');
        await new Promise((r) => setTimeout(r, 20));
      }
      // One machine, one clock: the true offset is 0.
      for (let stall = 0; stall < 3; stall++) {
        // Redis holds every command for 700 ms: past the decision's deadline (500 ms), within the timeout.
        await admin.call('CLIENT', 'PAUSE', '700', 'ALL');
        await expect(store.claim(`smart-code:${randomUUID()}`, 60_000)).rejects.toBeInstanceOf(StoreUnavailable);
        // A reply 700 ms after its request puts Redis's clock ~350 ms ahead if its midpoint is believed.
        await new Promise((r) => setTimeout(r, 100));
        expect(Math.abs(store.clockOffsetMs)).toBeLessThan(TIMEOUT / 10);
      }
      expect(await store.claim(`smart-code:${randomUUID()}`, 60_000)).toBe('fresh');
    } finally {
      admin.disconnect();
      await store.close();
      await own.close();
    }
  }, 30_000);
});

describe.each(STORES)('each client\'s share of single-use values on the %s store', (_name, replicas) => {
  it('refuses a client over its share of live claims, across replicas, while other clients keep claiming', async () => {
    const [a, b] = await replicas();
    const SHARE = 5;
    const quota = (owner: string) => ({ owner, max: SHARE });
    const flood = [];
    // One client at both replicas, more than its share.
    for (let i = 0; i < SHARE * 2; i++) flood.push(await (i % 2 ? a : b).claim(`backend-jti:${JSON.stringify(['flood', randomUUID()])}`, 60_000, quota('flood')));
    expect(flood.filter((r) => r === 'fresh')).toHaveLength(SHARE);
    expect(flood.slice(SHARE).every((r) => r === 'full')).toBe(true);
    // Another client, and the same client's codes (another namespace), are untouched.
    expect(await a.claim(`backend-jti:${JSON.stringify(['other', randomUUID()])}`, 60_000, quota('other'))).toBe('fresh');
    expect(await b.claim(`smart-code:${randomUUID()}`, 60_000, quota('flood'))).toBe('fresh');
    // A replay is still a replay, whoever is full.
    const key = `backend-jti:${JSON.stringify(['other', 'j1'])}`;
    expect(await a.claim(key, 60_000, quota('other'))).toBe('fresh');
    expect(await b.claim(key, 60_000, quota('other'))).toBe('taken');
  });

  it('gives a client its share back as its claims expire', async () => {
    const [a, b] = await replicas();
    const quota = { owner: 'brief', max: 2 };
    // Long enough for three claims in a row on a loaded machine, one of them against real Redis.
    const TTL = 2_000;
    expect(await a.claim(`smart-code:${randomUUID()}`, TTL, quota)).toBe('fresh');
    expect(await b.claim(`smart-code:${randomUUID()}`, TTL, quota)).toBe('fresh');
    expect(await a.claim(`smart-code:${randomUUID()}`, TTL, quota)).toBe('full');
    // Asked until the first two have expired (a 'full' answer records nothing), not timed.
    let again = 'full';
    for (const until = Date.now() + 20_000; again === 'full' && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 100));
      again = await b.claim(`smart-code:${randomUUID()}`, TTL, quota);
    }
    expect(again).toBe('fresh');
  });
});
