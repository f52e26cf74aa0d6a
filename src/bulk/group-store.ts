/**
 * Where bulk-export cohorts (FHIR Group resources) are kept. Groups written through the API
 * live in a backend — one owner-only file per group under `DATA_DIR` (group-files.ts), or,
 * with `REDIS_URL`, in Redis shared by every replica (group-redis.ts) — and groups declared
 * in `BULK_GROUPS_FILE` sit in front of it, read-only. Members are stored as this server's
 * Patient ids only (sealed, opaque): no chart number, name or other identifier is written.
 *
 * Writes are conditional on the version the writer read (`expected`), atomically in each
 * backend: two concurrent updates of one group cannot both win, and `If-Match` is honoured.
 * Bounded: at most MAX_GROUPS_PER_PRACTICE groups per practice.
 */
import { deriveKey } from '../crypto/keys.ts';
import { GroupReadOnly, StoredGroupSchema, type DeclaredMember, type Groups, type StoredGroup } from '../resources/groups.ts';
import { openFrames, sealFrame } from './export-files.ts';
import { z } from 'zod';

// The record, its refusals and the store's interface are the resources' (resources/groups.ts);
// the backends and tests name them from here too.
export { GroupChanged, GroupReadOnly, GroupStoreFull, GroupStoreUnavailable, StoredGroupSchema, type DeclaredMember, type StoredGroup } from '../resources/groups.ts';

export const MAX_GROUPS_PER_PRACTICE = 1_000;

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

/** Where written groups live. */
export interface GroupBackend {
  get(practiceId: string, id: string): Promise<StoredGroup | undefined>;
  list(practiceId: string): Promise<StoredGroup[]>;
  /**
   * Writes the group if the stored version is `expected` (0: no such group yet); throws
   * GroupChanged when it is not, GroupStoreFull when a new group would pass the bound.
   */
  put(practiceId: string, group: StoredGroup, expected: number): Promise<void>;
  /** Deletes it (if at version `expected`, when given): false when there is none; GroupChanged on another version. */
  delete(practiceId: string, id: string, expected?: number): Promise<boolean>;
  close?(): Promise<void>;
}

/**
 * Seals a group for storage (AES-256-GCM, one frame), under a key derived from RESOURCE_ID_KEY
 * — which, like the Patient ids the members are, never changes — with `info` naming the store
 * (a value copied from one store to another does not open), bound to its practice and id (a
 * value moved to another group does not open). Opening also checks the group against the schema.
 */
export class GroupSealer {
  readonly #key: Buffer;

  constructor(resourceIdKey: string, info: string) {
    this.#key = deriveKey(resourceIdKey, info);
  }

  seal(practiceId: string, group: StoredGroup): Buffer {
    return sealFrame(boundTo(practiceId, group.id), this.#key, JSON.stringify(group));
  }

  /** The group, or undefined when it does not open, does not parse, or is another group. */
  open(practiceId: string, id: string, sealed: Buffer): StoredGroup | undefined {
    try {
      return parseStoredGroup(openFrames(sealed, boundTo(practiceId, id), this.#key).toString('utf8'), id);
    } catch {
      return undefined;
    }
  }
}

/** A group stored as JSON text, if it is the group `id` (throws on text that is not JSON). */
export function parseStoredGroup(text: string, id: string): StoredGroup | undefined {
  const parsed = StoredGroupSchema.safeParse(JSON.parse(text));
  return parsed.success && parsed.data.id === id ? parsed.data : undefined;
}

const boundTo = (practiceId: string, id: string) => `group:${practiceId}/${id}`;

export const GROUP_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Practice ids as config allows them (letters, digits, '-'): safe as folder names and key parts. */
export const PRACTICE_ID = /^[A-Za-z0-9-]{1,64}$/;

/** The store the resources see (Services.groups): declared groups in front of the backend's. */
export class GroupStore implements Groups {
  readonly #declared: ReadonlyMap<string, StoredGroup>;

  /** `declared`: groups from BULK_GROUPS_FILE, each with its practice (read-only). */
  constructor(
    private readonly backend: GroupBackend,
    declared: readonly (StoredGroup & { practice?: string })[] = [],
  ) {
    this.#declared = new Map(declared.map((g) => [`${g.practice ?? ''}/${g.id}`, g]));
  }

  async get(practiceId: string, id: string): Promise<StoredGroup | undefined> {
    const declared = this.#declared.get(`${practiceId}/${id}`);
    if (declared) return declared;
    return PRACTICE_ID.test(practiceId) && GROUP_ID.test(id) ? this.backend.get(practiceId, id) : undefined;
  }

  async list(practiceId: string): Promise<StoredGroup[]> {
    const declared = [...this.#declared.entries()].filter(([k]) => k.startsWith(`${practiceId}/`)).map(([, g]) => g);
    if (!PRACTICE_ID.test(practiceId)) return declared;
    const written = await this.backend.list(practiceId);
    return [...declared, ...written.filter((g) => !this.#declared.has(`${practiceId}/${g.id}`))];
  }

  /** Writes the group if the stored version is `expected` (0: new); see GroupBackend.put. */
  async put(practiceId: string, group: StoredGroup, expected: number): Promise<void> {
    if (this.#declared.has(`${practiceId}/${group.id}`)) throw new GroupReadOnly();
    if (!PRACTICE_ID.test(practiceId) || !GROUP_ID.test(group.id)) throw new Error('invalid practice or group id');
    await this.backend.put(practiceId, group, expected);
  }

  async delete(practiceId: string, id: string, expected?: number): Promise<boolean> {
    if (this.#declared.has(`${practiceId}/${id}`)) throw new GroupReadOnly();
    if (!PRACTICE_ID.test(practiceId) || !GROUP_ID.test(id)) return false;
    return this.backend.delete(practiceId, id, expected);
  }

  close(): Promise<void> {
    return this.backend.close?.() ?? Promise.resolve();
  }
}
