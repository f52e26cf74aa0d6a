/**
 * Where bulk-export cohorts (FHIR Group resources) are kept: one JSON file per group under
 * `DATA_DIR/groups/<practice>/`, owner-only (directories 0700, files 0600), written
 * atomically (a temporary file renamed into place), so a crash never leaves half a group and
 * a restart finds every group again. Members are stored as this server's Patient ids only
 * (sealed, opaque): no chart number, name or other identifier is written.
 *
 * Bounded: at most MAX_GROUPS_PER_PRACTICE groups per practice.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

export const MAX_GROUPS_PER_PRACTICE = 1_000;

export const StoredGroupSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  /** The Backend Services client that created it. */
  owner: z.string().min(1),
  name: z.string().max(256).optional(),
  /** This server's Patient ids, in the order given. */
  members: z.array(z.string().min(1).max(256)),
  versionId: z.number().int().min(1),
  lastUpdated: z.string(),
});
export type StoredGroup = z.infer<typeof StoredGroupSchema>;

export class GroupStoreFull extends Error {
  constructor() {
    super('group store full');
    this.name = 'GroupStoreFull';
  }
}

/** A practice id as a folder name: only what config allows for practices (letters, digits, '-'). */
const SAFE = /^[A-Za-z0-9-]{1,64}$/;

export class GroupStore {
  constructor(private readonly dir: string) {}

  /** A fresh, unguessable group id. */
  static newId(): string {
    return randomBytes(16).toString('base64url');
  }

  async get(practiceId: string, id: string): Promise<StoredGroup | undefined> {
    const file = this.#file(practiceId, id);
    if (!file) return undefined;
    try {
      const parsed = StoredGroupSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
      return parsed.success && parsed.data.id === id ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  async list(practiceId: string): Promise<StoredGroup[]> {
    const folder = this.#folder(practiceId);
    if (!folder) return [];
    let names: string[];
    try {
      names = await readdir(folder);
    } catch {
      return [];
    }
    const ids = names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
    const groups = await Promise.all(ids.map((id) => this.get(practiceId, id)));
    return groups.filter((g): g is StoredGroup => g !== undefined);
  }

  /** Writes the group (new or replacing); throws GroupStoreFull when a new one would pass the bound. */
  async put(practiceId: string, group: StoredGroup, isNew: boolean): Promise<void> {
    const folder = this.#folder(practiceId);
    const file = this.#file(practiceId, group.id);
    if (!folder || !file) throw new Error('invalid practice or group id');
    await mkdir(folder, { recursive: true, mode: 0o700 });
    if (isNew && (await readdir(folder)).filter((n) => n.endsWith('.json')).length >= MAX_GROUPS_PER_PRACTICE) throw new GroupStoreFull();
    const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temporary, JSON.stringify(group), { mode: 0o600 });
    await rename(temporary, file);
  }

  async delete(practiceId: string, id: string): Promise<boolean> {
    const file = this.#file(practiceId, id);
    if (!file || !(await this.get(practiceId, id))) return false;
    await rm(file, { force: true });
    return true;
  }

  #folder(practiceId: string): string | undefined {
    return SAFE.test(practiceId) ? join(this.dir, 'groups', practiceId) : undefined;
  }

  #file(practiceId: string, id: string): string | undefined {
    const folder = this.#folder(practiceId);
    return folder && /^[A-Za-z0-9_-]{1,64}$/.test(id) ? join(folder, `${id}.json`) : undefined;
  }
}
