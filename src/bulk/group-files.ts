/**
 * Groups in files: one file per group under `DATA_DIR/groups/<practice>/<id>.json`, owner-only
 * (directories 0700, files 0600), written atomically (a temporary file renamed into place),
 * so a crash never leaves half a group and a restart finds every group again.
 *
 * Each file is sealed with AES-256-GCM (one frame, as export files are) under a key derived
 * from RESOURCE_ID_KEY — which, like the Patient ids the members are, never changes — and
 * bound to its practice and id, so a file copied over another group's does not open. The key
 * is not the one Redis groups are sealed under (group-redis.ts): a value copied from one store
 * to the other does not open either, and moving groups into Redis re-seals them anyway. Files
 * earlier versions wrote in clear (plain JSON, starting with '{') are sealed at start
 * (`sealPlain`); after that a file in clear is not a group. The name stays `.json`.
 *
 * A conditional write (version check, bound, write) holds the practice's queue in this
 * process and its lock file (`.lock`, created exclusively) across processes: cluster workers
 * (WORKERS > 1) sharing DATA_DIR without Redis cannot both win one version. With
 * `REDIS_URL`, groups live in Redis (group-redis.ts).
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GroupChanged, GroupSealer, GroupStoreFull, GroupStoreUnavailable, MAX_GROUPS_PER_PRACTICE, PRACTICE_ID, parseStoredGroup, type GroupBackend, type StoredGroup } from './group-store.ts';

/** How long a write waits for another process's lock before answering 503. */
const LOCK_WAIT_MS = 2_000;
/** A lock older than this was left by a process that died while writing (a write takes milliseconds). */
const LOCK_STALE_MS = 30_000;
const LOCK_FILE = '.lock';

export class FileGroups implements GroupBackend {
  /** Per practice, the tail of its queue of writes (entries leave when their queue drains). */
  readonly #queues = new Map<string, Promise<unknown>>();
  readonly #dir: string;
  readonly #sealer: GroupSealer;

  constructor(opts: { dir: string; resourceIdKey: string }) {
    this.#dir = opts.dir;
    this.#sealer = new GroupSealer(opts.resourceIdKey, 'nextech-fhir-facade group files v1');
  }

  /** A sealed group (a file in clear is not one: sealPlain seals those of earlier versions at start). */
  async get(practiceId: string, id: string): Promise<StoredGroup | undefined> {
    const content = await readFile(this.#file(practiceId, id)).catch(() => undefined);
    return content && this.#sealer.open(practiceId, id, content);
  }

  /**
   * Seals the groups earlier versions wrote in clear (plain JSON; a sealed file starts with its
   * frame's length, a zero byte), each under the practice's lock; resolves to how many. Run at
   * start: from then on a file in clear — one dropped into DATA_DIR by hand — is not a group.
   */
  async sealPlain(): Promise<number> {
    let sealed = 0;
    for (const practiceId of (await this.practices()).filter((p) => PRACTICE_ID.test(p))) {
      for (const id of await this.#ids(practiceId)) {
        const content = await readFile(this.#file(practiceId, id)).catch(() => undefined);
        if (content?.[0] !== 0x7b) continue;
        const group = (() => {
          try {
            return parseStoredGroup(content.toString('utf8'), id);
          } catch {
            return undefined;
          }
        })();
        if (!group) continue;
        await this.#serial(practiceId, () => this.#write(practiceId, group));
        sealed++;
      }
    }
    return sealed;
  }

  async list(practiceId: string): Promise<StoredGroup[]> {
    const groups = await Promise.all((await this.#ids(practiceId)).map((id) => this.get(practiceId, id)));
    return groups.filter((g): g is StoredGroup => g !== undefined);
  }

  /** The practices that have a folder of groups (for moving them into Redis). */
  async practices(): Promise<string[]> {
    return readdir(join(this.#dir, 'groups')).catch(() => [] as string[]);
  }

  put(practiceId: string, group: StoredGroup, expected: number): Promise<void> {
    return this.#serial(practiceId, async () => {
      if (((await this.get(practiceId, group.id))?.versionId ?? 0) !== expected) throw new GroupChanged();
      if (expected === 0 && (await this.#ids(practiceId)).length >= MAX_GROUPS_PER_PRACTICE) throw new GroupStoreFull();
      await this.#write(practiceId, group);
    });
  }

  /** Writes the group sealed, atomically (a temporary file renamed into place). */
  async #write(practiceId: string, group: StoredGroup): Promise<void> {
    const file = this.#file(practiceId, group.id);
    const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temporary, this.#sealer.seal(practiceId, group), { mode: 0o600 });
    await rename(temporary, file);
  }

  async delete(practiceId: string, id: string, expected?: number): Promise<boolean> {
    // Nothing to delete: no lock (and no folder made for it).
    if (!(await this.get(practiceId, id))) return false;
    return this.#serial(practiceId, async () => {
      const current = await this.get(practiceId, id);
      if (!current) return false;
      if (expected !== undefined && current.versionId !== expected) throw new GroupChanged();
      await rm(this.#file(practiceId, id), { force: true });
      return true;
    });
  }

  async #ids(practiceId: string): Promise<string[]> {
    const names = await readdir(this.#folder(practiceId)).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
  }

  /** Runs `task` after every earlier write of the practice in this process, holding the practice's lock file. */
  #serial<T>(practiceId: string, task: () => Promise<T>): Promise<T> {
    const locked = () => withLock(this.#folder(practiceId), task);
    const before = this.#queues.get(practiceId) ?? Promise.resolve();
    const run = before.then(locked, locked);
    const tail = run.catch(() => undefined);
    this.#queues.set(practiceId, tail);
    void tail.then(() => {
      if (this.#queues.get(practiceId) === tail) this.#queues.delete(practiceId);
    });
    return run;
  }

  // Practice and group ids are checked by GroupStore (letters, digits, '-', '_') before they reach a path.
  #folder(practiceId: string): string {
    return join(this.#dir, 'groups', practiceId);
  }

  #file(practiceId: string, id: string): string {
    return join(this.#folder(practiceId), `${id}.json`);
  }
}


/** Runs `task` holding `folder`'s lock file (the folder made if need be); the lock is always given back. */
async function withLock<T>(folder: string, task: () => Promise<T>): Promise<T> {
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const lock = join(folder, LOCK_FILE);
  const mine = await acquire(lock);
  try {
    return await task();
  } finally {
    // Only our own: had this write outlived LOCK_STALE_MS, another process would hold it now.
    if ((await tokenOf(lock)) === mine) await rm(lock, { force: true });
  }
}

/** What a lock file holds: the random token of the process holding it (inode numbers are reused too readily to tell locks apart). */
const tokenOf = (file: string) => readFile(file, 'utf8').catch(() => undefined);

/** Creates `lock` exclusively with a token of its own, retrying with backoff for up to LOCK_WAIT_MS; resolves to the token. Else GroupStoreUnavailable. */
async function acquire(lock: string): Promise<string> {
  const token = randomBytes(12).toString('hex');
  const until = Date.now() + LOCK_WAIT_MS;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      try {
        await handle.writeFile(token);
        return token;
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    await removeIfStale(lock);
    if (Date.now() >= until) throw new GroupStoreUnavailable();
    await sleep(delay + Math.random() * delay);
  }
}

/**
 * Removes a lock left by a dead process. It is first moved aside and checked to be the very
 * lock judged stale (same token): a fresh lock another process made meanwhile (after removing
 * the same stale one) is put back, so two processes taking over at once do not both get in
 * (short of a third creating the lock in the instant before it is put back).
 */
async function removeIfStale(lock: string): Promise<void> {
  const seen = await stat(lock).catch(() => undefined);
  if (!seen || Date.now() - seen.mtimeMs < LOCK_STALE_MS) return;
  const stale = await tokenOf(lock);
  const aside = `${lock}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(lock, aside);
  } catch {
    return;
  }
  if ((await tokenOf(aside)) !== stale) await link(aside, lock).catch(() => undefined);
  await rm(aside, { force: true });
}
