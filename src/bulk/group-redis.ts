/**
 * Groups in Redis (with `REDIS_URL`): every replica reads and writes the same cohorts. One
 * hash per practice (`<prefix>groups:<practice>`), a field per group holding
 * `<version>|<sealed JSON>`: the version in clear so a Lua script can check it and write in
 * one step (conditional writes, the practice's bound), the group sealed with AES-256-GCM
 * under a key derived from RESOURCE_ID_KEY (which, like the ids the members are, never
 * changes) and bound to its practice and id (a value moved to another field does not open).
 *
 * Groups are durable, unlike everything else the service keeps in Redis: Redis must persist
 * (the manifests run it with an append-only file) and must not evict (`noeviction`). While
 * Redis cannot be reached, Group requests answer 503; nothing falls back to a local copy
 * that other replicas would not see.
 *
 * The clear version is checked against the sealed one when a group is read: a value whose
 * version was rewritten in Redis (by someone without the key) reads as absent: read, update
 * and delete answer 404, searches and exports leave it out. It still counts toward the
 * practice's bound until removed (`HDEL`, or this backend's delete).
 */
import { Redis } from 'ioredis';
import type { FileGroups } from './group-files.ts';
import { GroupChanged, GroupSealer, GroupStoreFull, GroupStoreUnavailable, MAX_GROUPS_PER_PRACTICE, PRACTICE_ID, type GroupBackend, type StoredGroup } from './group-store.ts';

/** KEYS[1] the practice's hash; ARGV: id, expected version, value, bound. 1 written, 0 version differs, -1 full. */
const PUT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local v = 0
if cur then v = tonumber(string.match(cur, '^(%d+)|')) or -1 end
if v ~= tonumber(ARGV[2]) then return 0 end
if v == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`;

/** KEYS[1] the practice's hash; ARGV: id, expected version ('' for any). 1 deleted, 0 version differs, -1 none. */
const DELETE = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
if ARGV[2] ~= '' and tonumber(string.match(cur, '^(%d+)|')) ~= tonumber(ARGV[2]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`;

interface Scripts {
  groupPut(key: string, id: string, expected: number, value: string, bound: number): Promise<number>;
  groupDelete(key: string, id: string, expected: string): Promise<number>;
}

export class RedisGroups implements GroupBackend {
  readonly #redis: Redis;
  readonly #sealer: GroupSealer;

  constructor(opts: { url: string; prefix: string; resourceIdKey: string }) {
    this.#sealer = new GroupSealer(opts.resourceIdKey, 'nextech-fhir-facade groups v1');
    this.#redis = new Redis(opts.url, {
      keyPrefix: opts.prefix,
      // While Redis cannot be reached a command fails at once (503), and one left without an
      // answer when the connection dropped is not sent again after reconnecting: a write
      // answered 503 is never run later by this client. ready() covers the first connection.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2_000,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(100 * times, 2_000),
    });
    this.#redis.on('error', () => undefined);
    this.#redis.defineCommand('groupPut', { numberOfKeys: 1, lua: PUT });
    this.#redis.defineCommand('groupDelete', { numberOfKeys: 1, lua: DELETE });
  }

  async get(practiceId: string, id: string): Promise<StoredGroup | undefined> {
    const value = await this.#run(() => this.#redis.hget(hashOf(practiceId), id));
    return value === null ? undefined : this.#open(practiceId, id, value);
  }

  async list(practiceId: string): Promise<StoredGroup[]> {
    const all = await this.#run(() => this.#redis.hgetall(hashOf(practiceId)));
    return Object.entries(all)
      .map(([id, value]) => this.#open(practiceId, id, value))
      .filter((g): g is StoredGroup => g !== undefined);
  }

  async put(practiceId: string, group: StoredGroup, expected: number): Promise<void> {
    const value = `${group.versionId}|${this.#sealer.seal(practiceId, group).toString('base64')}`;
    const done = await this.#run(() => this.#scripts.groupPut(hashOf(practiceId), group.id, expected, value, MAX_GROUPS_PER_PRACTICE));
    if (done === 0) throw new GroupChanged();
    if (done === -1) throw new GroupStoreFull();
  }

  async delete(practiceId: string, id: string, expected?: number): Promise<boolean> {
    const done = await this.#run(() => this.#scripts.groupDelete(hashOf(practiceId), id, expected === undefined ? '' : String(expected)));
    if (done === 0) throw new GroupChanged();
    return done === 1;
  }

  /** Resolves once connected (true), or after `timeoutMs` (false: requests answer 503 until Redis is reached). */
  ready(timeoutMs = 2_000): Promise<boolean> {
    if (this.#redis.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#redis.off('ready', connected);
        resolve(ok);
      };
      const connected = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#redis.once('ready', connected);
    });
  }

  /**
   * Moves groups written to files before Redis was configured into Redis (a group already in
   * Redis wins), then deletes the files, so a group deleted later does not come back.
   */
  async adopt(files: FileGroups): Promise<number> {
    let moved = 0;
    for (const practiceId of (await files.practices()).filter((p) => PRACTICE_ID.test(p))) {
      for (const group of await files.list(practiceId)) {
        try {
          await this.put(practiceId, group, 0);
          moved++;
        } catch (err) {
          if (!(err instanceof GroupChanged)) throw err;
        }
        await files.delete(practiceId, group.id);
      }
    }
    return moved;
  }

  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  get #scripts(): Scripts {
    return this.#redis as unknown as Scripts;
  }

  #open(practiceId: string, id: string, value: string): StoredGroup | undefined {
    const bar = value.indexOf('|');
    const group = this.#sealer.open(practiceId, id, Buffer.from(value.slice(bar + 1), 'base64'));
    // The version in clear (what the scripts compare) is outside the seal: one that is not the
    // sealed one was written by someone without the key, and the group reads as absent.
    return group && value.slice(0, bar) === String(group.versionId) ? group : undefined;
  }

  /** Any failure (down, timeout) is GroupStoreUnavailable, without Redis's own message (it may carry the URL). */
  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch {
      throw new GroupStoreUnavailable();
    }
  }
}

const hashOf = (practiceId: string) => `groups:${practiceId}`;
