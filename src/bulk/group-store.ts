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
export type StoredGroup = z.infer<typeof StoredGroupSchema> & {
  /** A group declared in BULK_GROUPS_FILE: read-only, its members resolved at each export. */
  declared?: readonly DeclaredMember[];
};

/** A member as the configuration file names it: this server's Patient id, or a chart number. */
export type DeclaredMember = { patient: string } | { chartNumber: string };

const DeclaredFileSchema = z
  .array(
    z
      .object({
        id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
        practice: z.string().regex(/^[A-Za-z0-9-]{1,64}$/),
        name: z.string().min(1).max(256).optional(),
        members: z
          .array(
            z.union([
              z.string().regex(/^Patient\/[A-Za-z0-9\-.]{1,64}$/, 'a member is "Patient/{id}" or {"chartNumber": "…"}'),
              z.object({ chartNumber: z.string().min(1).max(256) }).strict(),
            ]),
          )
          .max(1_000),
      })
      .strict(),
  )
  .max(MAX_GROUPS_PER_PRACTICE);

export class GroupReadOnly extends Error {
  constructor() {
    super('declared in configuration');
    this.name = 'GroupReadOnly';
  }
}

/** Parses BULK_GROUPS_FILE's content; throws an Error naming the first problem (the service then does not start). */
export function parseDeclaredGroups(text: string, at: string): StoredGroup[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${at}: not JSON`);
  }
  const parsed = DeclaredFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${at}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const seen = new Set<string>();
  return parsed.data.map((g) => {
    const key = `${g.practice}/${g.id}`;
    if (seen.has(key)) throw new Error(`${at}: group ${g.id} of practice ${g.practice} is declared twice`);
    seen.add(key);
    return {
      id: g.id,
      owner: '',
      practice: g.practice,
      ...(g.name !== undefined ? { name: g.name } : {}),
      members: [],
      versionId: 1,
      lastUpdated: new Date(0).toISOString(),
      declared: g.members.map((m): DeclaredMember => (typeof m === 'string' ? { patient: m.slice('Patient/'.length) } : { chartNumber: m.chartNumber })),
    };
  });
}

export class GroupStoreFull extends Error {
  constructor() {
    super('group store full');
    this.name = 'GroupStoreFull';
  }
}

/** A practice id as a folder name: only what config allows for practices (letters, digits, '-'). */
const SAFE = /^[A-Za-z0-9-]{1,64}$/;

export class GroupStore {
  readonly #declared: ReadonlyMap<string, StoredGroup>;

  /** `declared`: groups from BULK_GROUPS_FILE, each with its practice (read-only). */
  constructor(
    private readonly dir: string,
    declared: readonly (StoredGroup & { practice?: string })[] = [],
  ) {
    this.#declared = new Map(declared.map((g) => [`${g.practice ?? ''}/${g.id}`, g]));
  }

  /** A fresh, unguessable group id. */
  static newId(): string {
    return randomBytes(16).toString('base64url');
  }

  async get(practiceId: string, id: string): Promise<StoredGroup | undefined> {
    const declared = this.#declared.get(`${practiceId}/${id}`);
    if (declared) return declared;
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
    const declared = [...this.#declared.entries()].filter(([k]) => k.startsWith(`${practiceId}/`)).map(([, g]) => g);
    const folder = this.#folder(practiceId);
    if (!folder) return declared;
    let names: string[];
    try {
      names = await readdir(folder);
    } catch {
      return declared;
    }
    const ids = names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
    const groups = await Promise.all(ids.map((id) => this.get(practiceId, id)));
    return [...declared, ...groups.filter((g): g is StoredGroup => g !== undefined && !g.declared)];
  }

  /** Writes the group (new or replacing); throws GroupStoreFull when a new one would pass the bound. */
  async put(practiceId: string, group: StoredGroup, isNew: boolean): Promise<void> {
    if (this.#declared.has(`${practiceId}/${group.id}`)) throw new GroupReadOnly();
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
    if (this.#declared.has(`${practiceId}/${id}`)) throw new GroupReadOnly();
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
