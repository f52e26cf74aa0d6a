/**
 * Groups in files: one JSON file per group under `DATA_DIR/groups/<practice>/`, owner-only
 * (directories 0700, files 0600), written atomically (a temporary file renamed into place),
 * so a crash never leaves half a group and a restart finds every group again.
 *
 * The version check and the write of one practice's groups run one at a time in this
 * process, so a conditional write is atomic here. Several replicas sharing the folder
 * without Redis are not supported (they would not share their budget either): with
 * `REDIS_URL`, groups live in Redis (group-redis.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GroupChanged, GroupStoreFull, MAX_GROUPS_PER_PRACTICE, StoredGroupSchema, type GroupBackend, type StoredGroup } from './group-store.ts';

export class FileGroups implements GroupBackend {
  /** Per practice, the tail of its queue of writes (entries leave when their queue drains). */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(private readonly dir: string) {}

  async get(practiceId: string, id: string): Promise<StoredGroup | undefined> {
    try {
      const parsed = StoredGroupSchema.safeParse(JSON.parse(await readFile(this.#file(practiceId, id), 'utf8')));
      return parsed.success && parsed.data.id === id ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  async list(practiceId: string): Promise<StoredGroup[]> {
    const groups = await Promise.all((await this.#ids(practiceId)).map((id) => this.get(practiceId, id)));
    return groups.filter((g): g is StoredGroup => g !== undefined);
  }

  /** The practices that have a folder of groups (for moving them into Redis). */
  async practices(): Promise<string[]> {
    return readdir(join(this.dir, 'groups')).catch(() => [] as string[]);
  }

  put(practiceId: string, group: StoredGroup, expected: number): Promise<void> {
    return this.#serial(practiceId, async () => {
      if (((await this.get(practiceId, group.id))?.versionId ?? 0) !== expected) throw new GroupChanged();
      const folder = this.#folder(practiceId);
      await mkdir(folder, { recursive: true, mode: 0o700 });
      if (expected === 0 && (await this.#ids(practiceId)).length >= MAX_GROUPS_PER_PRACTICE) throw new GroupStoreFull();
      const file = this.#file(practiceId, group.id);
      const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(temporary, JSON.stringify(group), { mode: 0o600 });
      await rename(temporary, file);
    });
  }

  delete(practiceId: string, id: string, expected?: number): Promise<boolean> {
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

  /** Runs `task` after every earlier write of the practice has finished. */
  #serial<T>(practiceId: string, task: () => Promise<T>): Promise<T> {
    const before = this.#queues.get(practiceId) ?? Promise.resolve();
    const run = before.then(task, task);
    const tail = run.catch(() => undefined);
    this.#queues.set(practiceId, tail);
    void tail.then(() => {
      if (this.#queues.get(practiceId) === tail) this.#queues.delete(practiceId);
    });
    return run;
  }

  // Practice and group ids are checked by GroupStore (letters, digits, '-', '_') before they reach a path.
  #folder(practiceId: string): string {
    return join(this.dir, 'groups', practiceId);
  }

  #file(practiceId: string, id: string): string {
    return join(this.#folder(practiceId), `${id}.json`);
  }
}
