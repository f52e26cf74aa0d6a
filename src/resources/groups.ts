/**
 * What the Group resource needs from wherever cohorts are kept: the stored record, the store's
 * interface and its typed refusals. Bulk export implements the store (src/bulk/group-store.ts:
 * DATA_DIR files or Redis, with BULK_GROUPS_FILE's groups in front) and the composition root
 * hands it to the resources as `Services.groups`; the resources know nothing of how it works.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';

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

/** The practice's groups, by id; writes are conditional on the version the writer read. */
export interface Groups {
  get(practiceId: string, id: string): Promise<StoredGroup | undefined>;
  list(practiceId: string): Promise<StoredGroup[]>;
  /**
   * Writes the group if the stored version is `expected` (0: new); throws GroupReadOnly for a
   * declared group, GroupChanged on another version, GroupStoreFull past the bound.
   */
  put(practiceId: string, group: StoredGroup, expected: number): Promise<void>;
  /** Deletes it (if at version `expected`, when given): false when there is none. */
  delete(practiceId: string, id: string, expected?: number): Promise<boolean>;
}

/** A fresh, unguessable group id. */
export function newGroupId(): string {
  return randomBytes(16).toString('base64url');
}

export class GroupReadOnly extends Error {
  constructor() {
    super('declared in configuration');
    this.name = 'GroupReadOnly';
  }
}

export class GroupStoreFull extends Error {
  constructor() {
    super('group store full');
    this.name = 'GroupStoreFull';
  }
}

/** The stored version was not the one the writer expected (someone else wrote it meanwhile, or If-Match named another). */
export class GroupChanged extends Error {
  constructor() {
    super('group changed');
    this.name = 'GroupChanged';
  }
}

/** The backend could not be reached (Redis down) or stayed busy (another process held the folder's lock): the caller answers 503. */
export class GroupStoreUnavailable extends Error {
  constructor() {
    super('group store unavailable');
    this.name = 'GroupStoreUnavailable';
  }
}
