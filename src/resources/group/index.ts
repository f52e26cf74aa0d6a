/**
 * Group: the cohorts bulk export works on (FHIR Bulk Data Access, `Group/{id}/$export`).
 * Nextech cannot enumerate patients, so a cohort is a list the client gives: members as
 * Patient references (this server's ids) or as chart-number identifiers, resolved to Patient
 * ids when the group is written — each checked against Nextech, so a group never holds a
 * patient the practice does not have. A member that resolves to no patient (or to several)
 * makes the whole write fail with an OperationOutcome naming each one (`Group.member[i]`);
 * nothing is stored then.
 *
 * A cohort names many patients (`manyPatients`): Backend Services clients with `system/Group`
 * scopes write them; `system/` and `user/` Group scopes read and search them; patient scopes
 * never reach them. Groups belong to their practice, are stored by the service (the store of
 * groups.ts, implemented in src/bulk/group-store.ts: only Patient ids, sealed; in Redis with
 * REDIS_URL) and survive restarts.
 * Writes are version-aware: `If-Match` (412 on another version), and racing writes never
 * both win.
 */
import type { Group, OperationOutcomeIssue } from 'fhir/r4';
import { z } from 'zod';
import { badRequest, FhirError, notFound, outcome } from '../../fhir/outcome.ts';
import { GroupChanged, GroupReadOnly, GroupStoreFull, GroupStoreUnavailable, newGroupId, type DeclaredMember, type Groups, type StoredGroup } from '../groups.ts';
import { matchesAll } from '../../fhir/search/match.ts';
import type { SearchParamDef } from '../../fhir/search/types.ts';
import { mappingContext, practiceIds, type RequestContext } from '../context.ts';
import { readPatient, searchTerm } from '../patient-lookup.ts';
import type { ResourceModule, WriteResult } from '../registry-types.ts';

/** Members one group may hold (one upstream check each when written). */
export const MAX_MEMBERS = 1_000;
/** Members resolved at once while a group is written (each is an upstream call). */
const RESOLVE_AT_ONCE = 4;

const MemberSchema = z.object({
  entity: z
    .object({
      reference: z.string().min(1).max(1024).optional(),
      identifier: z.object({ system: z.string().max(1024).optional(), value: z.string().min(1).max(256) }).optional(),
    })
    .refine((e) => (e.reference === undefined) !== (e.identifier === undefined), 'each member needs entity.reference or entity.identifier, not both'),
  inactive: z.literal(false).optional(),
});

/** The elements a Group written here may carry; anything else (e.g. `characteristic`) is refused, not dropped. */
const GroupBodySchema = z
  .object({
    resourceType: z.literal('Group'),
    id: z.string().optional(),
    meta: z.unknown().optional(),
    text: z.unknown().optional(),
    active: z.boolean().optional(),
    type: z.literal('person', { message: 'type must be "person" (a cohort of patients)' }),
    actual: z.literal(true, { message: 'actual must be true (members are listed)' }),
    name: z.string().min(1).max(256).optional(),
    quantity: z.number().int().min(0).optional(),
    member: z.array(MemberSchema).max(MAX_MEMBERS, `at most ${MAX_MEMBERS} members`).optional(),
  })
  .strict();
type GroupBody = z.infer<typeof GroupBodySchema>;

function parseBody(body: unknown): GroupBody {
  const parsed = GroupBodySchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issues: OperationOutcomeIssue[] = parsed.error.issues.slice(0, 20).map((i) => ({
    severity: 'error',
    code: 'invalid',
    diagnostics: i.code === 'unrecognized_keys' ? `not supported here: ${i.keys.join(', ')}` : i.message,
    expression: [['Group', ...i.path.map(String)].join('.')],
  }));
  throw new FhirError(400, { resourceType: 'OperationOutcome', issue: issues });
}

type Resolved = { id: string } | { problem: string };

/** One member, as this server's Patient id (one upstream check). */
async function resolveMember(ctx: RequestContext, entity: z.infer<typeof MemberSchema>['entity']): Promise<Resolved> {
  if (entity.reference !== undefined) {
    const m = /^(?:(.+)\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(entity.reference);
    if (!m?.[2] || (m[1] !== undefined && m[1] !== ctx.baseUrl)) return { problem: 'is not a Patient reference of this server' };
    try {
      await readPatient(ctx, m[2]);
      return { id: m[2] };
    } catch (err) {
      if (err instanceof FhirError && err.status === 404) return { problem: 'names no patient of this practice' };
      throw err;
    }
  }
  const identifier = entity.identifier;
  if (!identifier) return { problem: 'has no entity' };
  const system = mappingContext(ctx).values.chartNumberSystem;
  if (identifier.system !== undefined && identifier.system !== system) return { problem: `identifier system must be ${system} (a chart number)` };
  const rows = (await searchTerm(ctx, identifier.value)).filter((r) => r.chartNumber === identifier.value);
  const ids = [...new Set(rows.map((r) => practiceIds(ctx).patient.issue(r)).filter((x): x is string => x !== undefined))];
  if (ids.length === 0) return { problem: 'names no patient of this practice' };
  if (ids.length > 1) return { problem: 'names more than one patient' };
  return { id: ids[0] as string };
}

/** Every member as a Patient id, or a 422 naming each one that did not resolve. */
async function resolveMembers(ctx: RequestContext, members: GroupBody['member']): Promise<string[]> {
  const list = members ?? [];
  const results: Resolved[] = new Array<Resolved>(list.length);
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const i = next++;
      results[i] = await resolveMember(ctx, (list[i] as z.infer<typeof MemberSchema>).entity);
    }
  };
  await Promise.all(Array.from({ length: Math.min(RESOLVE_AT_ONCE, list.length) }, worker));
  const problems: OperationOutcomeIssue[] = results.flatMap((r, i) =>
    'problem' in r ? [{ severity: 'error', code: 'not-found', diagnostics: `member ${i} ${r.problem}`, expression: [`Group.member[${i}].entity`] }] : [],
  );
  if (problems.length > 0) throw new FhirError(422, { resourceType: 'OperationOutcome', issue: problems.slice(0, 100) });
  return [...new Set(results.map((r) => (r as { id: string }).id))];
}

const store = (ctx: RequestContext): Groups => ctx.services.groups;

function toFhir(g: StoredGroup, chartSystem: string): Group {
  if (g.declared) {
    return {
      resourceType: 'Group',
      id: g.id,
      meta: { versionId: '1', tag: [{ system: 'urn:nextech-fhir-facade:group', code: 'configured', display: 'Declared in BULK_GROUPS_FILE (read-only)' }] },
      active: true,
      type: 'person',
      actual: true,
      ...(g.name !== undefined ? { name: g.name } : {}),
      quantity: g.declared.length,
      ...(g.declared.length > 0
        ? {
            member: g.declared.map((m) =>
              'patient' in m ? { entity: { reference: `Patient/${m.patient}` } } : { entity: { identifier: { system: chartSystem, value: m.chartNumber } } },
            ),
          }
        : {}),
    };
  }
  return {
    resourceType: 'Group',
    id: g.id,
    meta: { versionId: String(g.versionId), lastUpdated: g.lastUpdated },
    active: true,
    type: 'person',
    actual: true,
    ...(g.name !== undefined ? { name: g.name } : {}),
    quantity: g.members.length,
    ...(g.members.length > 0 ? { member: g.members.map((id) => ({ entity: { reference: `Patient/${id}` } })) } : {}),
  };
}

async function write(ctx: RequestContext, id: string, body: unknown, existing: StoredGroup | undefined, ifMatch?: number): Promise<WriteResult> {
  const parsed = parseBody(body);
  if (existing && parsed.id !== id) throw badRequest('The Group\'s id must be the id in the URL');
  const members = await resolveMembers(ctx, parsed.member);
  const group: StoredGroup = {
    id,
    owner: existing?.owner ?? ctx.grant?.clientId ?? '',
    ...(parsed.name !== undefined ? { name: parsed.name } : {}),
    members,
    versionId: (existing?.versionId ?? 0) + 1,
    lastUpdated: new Date(ctx.services.now()).toISOString(),
  };
  try {
    await store(ctx).put(ctx.call.practiceId, group, existing?.versionId ?? 0);
  } catch (err) {
    if (err instanceof GroupStoreFull) throw new FhirError(507, outcome('error', 'too-costly', 'This practice holds as many groups as it may; delete some first'));
    throw storeFailure(err, ifMatch);
  }
  return { resource: toFhir(group, chartSystemOf(ctx)), created: existing === undefined };
}

/** The answer to a store's refusal that every interaction shares. */
function storeFailure(err: unknown, ifMatch?: number): unknown {
  if (err instanceof GroupReadOnly) return readOnly();
  // Written by someone else between this request's read and its write: for a conditional
  // request its precondition failed (412, FHIR's answer to If-Match), else a conflict.
  if (err instanceof GroupChanged && ifMatch !== undefined) return preconditionFailed(ifMatch);
  if (err instanceof GroupChanged) return new FhirError(409, outcome('error', 'conflict', 'The Group changed while it was being written; read it again and retry'));
  if (err instanceof GroupStoreUnavailable) return new FhirError(503, outcome('error', 'transient', 'Groups are unavailable for a moment; retry shortly'), { 'Retry-After': '5' });
  return err;
}

const preconditionFailed = (ifMatch: number) => new FhirError(412, outcome('error', 'conflict', `If-Match names version ${ifMatch}, which is not the Group's current version`));

/** An update or delete conditional on a version (If-Match) that is not the current one: 412. */
function assertVersion(existing: StoredGroup, ifMatch: number | undefined): void {
  if (ifMatch !== undefined && ifMatch !== existing.versionId) throw preconditionFailed(ifMatch);
}

/** The practice's group, or 404; a store that cannot answer is a 503. */
export async function storedGroup(ctx: RequestContext, id: string): Promise<StoredGroup> {
  let g: StoredGroup | undefined;
  try {
    g = await store(ctx).get(ctx.call.practiceId, id);
  } catch (err) {
    throw storeFailure(err);
  }
  if (!g) throw notFound('Group');
  return g;
}

const chartSystemOf = (ctx: RequestContext) => mappingContext(ctx).values.chartNumberSystem;
const readOnly = () => new FhirError(405, outcome('error', 'not-supported', 'This group is declared in the service\'s configuration (BULK_GROUPS_FILE) and cannot be changed here'));

/**
 * The Patient ids of a group declared in configuration, resolved now (one upstream check per
 * member); a 422 naming each member that resolves to no patient, as for a written group.
 */
export async function resolveDeclared(ctx: RequestContext, declared: readonly DeclaredMember[]): Promise<string[]> {
  return resolveMembers(
    ctx,
    declared.map((m) => ({ entity: 'patient' in m ? { reference: `Patient/${m.patient}` } : { identifier: { value: m.chartNumber } } })),
  );
}

const groupSearchParams: readonly SearchParamDef[] = [
  {
    name: '_id',
    type: 'token',
    expression: 'Group.id',
    definition: 'http://hl7.org/fhir/SearchParameter/Resource-id',
    documentation: 'Logical id of the group.',
  },
  {
    name: 'name',
    type: 'string',
    expression: 'Group.name',
    definition: '{base}/SearchParameter/Group-name',
    documentation: 'The group\'s name; starts-with, case- and accent-insensitive; `:exact`, `:contains`.',
    modifiers: ['exact', 'contains'],
  },
];

export const groupModule: ResourceModule = {
  type: 'Group',
  profile: 'http://hl7.org/fhir/StructureDefinition/Group',
  documentation:
    'Cohorts for bulk export (Group/{id}/$export): Backend Services clients (system/Group scopes) list patients by Patient reference or chart-number identifier, resolved to Patient ids against Nextech when written; system/ and user/ Group scopes read and search them (never patient scopes). Stored by the service, per practice; updates and deletes honour If-Match.',
  interactions: ['read', 'search-type', 'create', 'update', 'delete'],
  searchParams: groupSearchParams,
  capabilities: { includes: [], revincludes: [], sorts: [] },
  // Σ elements of R4 Group; type and actual are mandatory.
  view: { mandatory: new Set(['type', 'actual']), summary: new Set(['identifier', 'active', 'type', 'actual', 'code', 'name', 'quantity', 'managingEntity']) },
  manyPatients: true,
  read: async (ctx, id) => toFhir(await storedGroup(ctx, id), chartSystemOf(ctx)),
  search: async (ctx, req) => {
    const now = ctx.services.now();
    const groups = await store(ctx)
      .list(ctx.call.practiceId)
      .catch((err: unknown) => {
        throw storeFailure(err);
      });
    const all = groups.map((g) => toFhir(g, chartSystemOf(ctx)));
    const matches = all.filter((g) => matchesAll(g, req.params, now)).sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''));
    return { matches };
  },
  create: (ctx, body) => write(ctx, newGroupId(), body, undefined),
  update: async (ctx, id, body, ifMatch) => {
    // No update-as-create: ids are the server's (CapabilityStatement updateCreate false).
    const existing = await storedGroup(ctx, id);
    if (existing.declared) throw readOnly();
    assertVersion(existing, ifMatch);
    return write(ctx, id, body, existing, ifMatch);
  },
  delete: async (ctx, id, ifMatch) => {
    const existing = await storedGroup(ctx, id);
    if (existing.declared) throw readOnly();
    assertVersion(existing, ifMatch);
    try {
      if (!(await store(ctx).delete(ctx.call.practiceId, id, ifMatch))) throw notFound('Group');
    } catch (err) {
      throw storeFailure(err, ifMatch);
    }
  },
};
