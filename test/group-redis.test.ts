/**
 * Groups in Redis (src/bulk/group-redis.ts) against a real redis-server on a loopback port:
 * the client waits for its first connection, a write refused while Redis is down never runs
 * once it is back (no offline queue), and a stored value whose clear version was rewritten
 * reads as absent.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisGroups } from '../src/bulk/group-redis.ts';
import { GroupStoreUnavailable, type StoredGroup } from '../src/bulk/group-store.ts';
import { freePort, startRedis, type RealRedis } from './helpers/real-servers.ts';

const KEY = randomBytes(32).toString('base64url');
let redis: RealRedis;
const opened: { close(): Promise<unknown> }[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  await redis.close();
});

const group = (id: string, versionId: number): StoredGroup => ({
  id,
  owner: 'hie',
  name: `cohort ${id}`,
  members: ['pat-7f3a9c'],
  versionId,
  lastUpdated: new Date(0).toISOString(),
});

/** A RedisGroups under a prefix of its own (closed after the tests). */
function groupsAt(prefix: string, url = redis.url): RedisGroups {
  const groups = new RedisGroups({ url, prefix, resourceIdKey: KEY });
  opened.push(groups);
  return groups;
}

describe('RedisGroups', () => {
  it('says when it is connected, and gives up waiting after the timeout when nothing answers', async () => {
    const groups = groupsAt(`t-${randomUUID()}:`);
    expect(await groups.ready(5_000)).toBe(true);
    expect(await groups.get('1001', 'none')).toBeUndefined();
    const nowhere = groupsAt(`t-${randomUUID()}:`, `redis://127.0.0.1:${await freePort()}`);
    const started = Date.now();
    expect(await nowhere.ready(300)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);
    // Not connected: refused at once, not queued.
    await expect(nowhere.get('1001', 'none')).rejects.toBeInstanceOf(GroupStoreUnavailable);
  });

  it('refuses a write at once while Redis is down, and never runs it once Redis is back', async () => {
    const groups = groupsAt(`t-${randomUUID()}:`);
    expect(await groups.ready(5_000)).toBe(true);
    await redis.stop();
    // Asked while Redis is down, answered once it is back up.
    const attempt = groups.put('1001', group('during-outage', 1), 0).then(
      () => 'written',
      (err: unknown) => (err instanceof GroupStoreUnavailable ? 'refused' : 'other'),
    );
    await redis.start();
    expect(await attempt).toBe('refused');
    expect(await groups.ready(10_000)).toBe(true);
    // Time for anything queued to be sent after reconnecting.
    await new Promise((r) => setTimeout(r, 300));
    expect(await groups.get('1001', 'during-outage')).toBeUndefined();
    await groups.put('1001', group('after-outage', 1), 0);
    expect((await groups.get('1001', 'after-outage'))?.versionId).toBe(1);
  }, 30_000);

  it('reads a group whose clear version was rewritten in Redis as absent', async () => {
    const prefix = `t-${randomUUID()}:`;
    const groups = groupsAt(prefix);
    expect(await groups.ready(5_000)).toBe(true);
    await groups.put('1001', group('kept', 1), 0);
    await groups.put('1001', group('tampered', 1), 0);
    await groups.put('1001', group('tampered', 2), 1);
    const raw = new Redis(redis.url, { keyPrefix: prefix });
    opened.push({ close: () => raw.quit() });
    const stored = (await raw.hget('groups:1001', 'tampered')) ?? '';
    expect(stored.startsWith('2|')).toBe(true);
    // Someone without the key moves the version on (or back), keeping the sealed group.
    for (const forged of ['3', '1', '02']) {
      await raw.hset('groups:1001', 'tampered', `${forged}|${stored.slice(2)}`);
      expect(await groups.get('1001', 'tampered')).toBeUndefined();
      expect((await groups.list('1001')).map((g) => g.id)).toEqual(['kept']);
    }
    // The same value with its own version reads again: what is refused is the mismatch.
    await raw.hset('groups:1001', 'tampered', stored);
    expect((await groups.get('1001', 'tampered'))?.versionId).toBe(2);
  });
});
