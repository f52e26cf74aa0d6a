/**
 * One member (patient) of a bulk export job: its resources of each exported type, found with
 * the same searches the API answers (the registry's modules), with the job's `_since` and
 * `_typeFilter`s; directory resources (doctors, locations, departments) as the member's
 * encounters name them, each once per job — and then every directory resource any of them
 * references (the practice Organization: documents' custodian, locations' managing
 * organization, departments' `partOf`), read by id, so that each reference in the export
 * resolves within it. Patient data the caller's `_type`, `_since` or `_typeFilter` left out is
 * not added back: the export holds what was asked for, plus what that references of the
 * exported directory types. A referenced resource that cannot be read (gone from Nextech, or
 * Nextech failing) is left out, not the member: its reference is recorded so the job tries it
 * once, and a warning in the `error` file names it (no patient data).
 */
import type { FhirResource, OperationOutcome } from 'fhir/r4';
import { parseSearch } from '../fhir/search/parse.ts';
import type { RequestContext } from '../resources/context.ts';
import { readPatient } from '../resources/patient-lookup.ts';
import { resourceModules, searchParamIndex } from '../resources/registry.ts';
import type { ExportType, Job } from './export-jobs.ts';

const DIRECTORY: readonly ExportType[] = ['Practitioner', 'Location', 'Organization'];
const INCLUDES: Record<string, string> = { Practitioner: 'Encounter:participant', Location: 'Encounter:location', Organization: 'Encounter:service-provider' };

type Pairs = [string, string][];

export interface MemberExport {
  /** Resources by type. */
  lines: Map<string, FhirResource[]>;
  /** Directory resources this member adds (`Type/id`), recorded as written once it is. */
  seen: string[];
  /** Directory resources its resources reference that could not be read (`Type/id`), and why. */
  unresolved: Unresolved[];
}

export interface Unresolved {
  reference: string;
  /** The failure's kind (`not-found`, `server-error`, …): never the upstream's words. */
  why: string;
}

/**
 * Why a read failed, when the failure leaves out only the resource read (its kind); undefined
 * for anything else, which is thrown on. The runner, which knows what Nextech's failures mean
 * for a job, says which (export-runner.ts `unreadable`).
 */
export type ReadFailure = (err: unknown) => string | undefined;

const moduleOf = (type: string) => {
  const m = resourceModules.find((x) => (x.type as string) === type);
  if (!m?.search) throw new Error(`no search for ${type}`);
  return m as typeof m & { search: NonNullable<typeof m.search> };
};

/** The member's resources; throws what the searches throw (the runner records it). */
export async function exportMember(ctx: RequestContext, job: Job, patientId: string, unreadable: ReadFailure): Promise<MemberExport> {
  const lines = new Map<string, FhirResource[]>();
  const add = (type: string, rs: FhirResource[]) => lines.set(type, [...(lines.get(type) ?? []), ...rs]);
  const seen: string[] = [];
  if (job.types.includes('Patient')) {
    const patient = await readPatient(ctx, patientId);
    const kept = await filtered(ctx, job, 'Patient', [['_id', patientId]]);
    if (kept.some((r) => r.id === patient.id) || !job.typeFilters.Patient) add('Patient', [patient]);
  }
  const since: Pairs = job.since ? [['date', `ge${job.since}`]] : [];
  const directory = DIRECTORY.filter((t) => job.types.includes(t));
  if (job.types.includes('Encounter') || directory.length > 0) {
    const includes = directory.map((t): [string, string] => ['_include', INCLUDES[t] as string]);
    const { matches, included } = await search(ctx, 'Encounter', [['patient', patientId], ...since, ...includes]);
    if (job.types.includes('Encounter')) add('Encounter', await applyFilters(ctx, job, 'Encounter', [['patient', patientId], ...since], matches));
    for (const r of included) {
      const key = `${r.resourceType}/${r.id ?? ''}`;
      if (!job.seen.includes(key) && !seen.includes(key) && job.types.includes(r.resourceType as ExportType)) {
        seen.push(key);
        add(r.resourceType, [r]);
      }
    }
  }
  if (job.types.includes('DocumentReference')) {
    const base: Pairs = [['patient', patientId], ...since];
    const { matches } = await search(ctx, 'DocumentReference', base);
    const docs = await applyFilters(ctx, job, 'DocumentReference', base, matches);
    add('DocumentReference', job.attachments === 'binary' ? docs.map(referenceOnly) : docs);
  }
  const { found, unresolved } = await resolveReferences(ctx, job, [...lines.values()].flat(), seen, unreadable);
  for (const r of found) add(r.resourceType, [r]);
  if (unresolved.length > 0) add('OperationOutcome', unresolved.map(warning));
  return { lines, seen, unresolved };
}

/**
 * The directory resources of exported types that `resources` reference (and those reference,
 * in turn) which neither the job nor this member has written or given up on yet: read by id
 * (an id holding its data costs no upstream call), each added to `seen`. One that cannot be
 * read (as `unreadable` tells) is left out and named in `unresolved`; the member's own
 * resources are exported all the same. Anything else (a refused token, a lost lease) is thrown.
 */
export async function resolveReferences(
  ctx: RequestContext,
  job: Pick<Job, 'types' | 'seen' | 'unresolved'>,
  resources: FhirResource[],
  seen: string[],
  unreadable: ReadFailure,
): Promise<{ found: FhirResource[]; unresolved: Unresolved[] }> {
  const have = new Set([...job.seen, ...job.unresolved, ...seen, ...resources.map((r) => `${r.resourceType}/${r.id ?? ''}`)]);
  const found: FhirResource[] = [];
  const unresolved: Unresolved[] = [];
  let pending = resources;
  while (pending.length > 0) {
    const next: FhirResource[] = [];
    for (const ref of pending.flatMap(referencesIn)) {
      const type = ref.slice(0, ref.indexOf('/')) as ExportType;
      if (have.has(ref) || !DIRECTORY.includes(type) || !job.types.includes(type)) continue;
      have.add(ref);
      const m = resourceModules.find((x) => (x.type as string) === type);
      if (!m) continue;
      try {
        // The whole resource, as the API's read answers it.
        next.push(await m.read(ctx, ref.slice(ref.indexOf('/') + 1), {}));
        seen.push(ref);
      } catch (err) {
        const why = unreadable(err);
        if (why === undefined) throw err;
        unresolved.push({ reference: ref, why });
      }
    }
    found.push(...next);
    pending = next;
  }
  return { found, unresolved };
}

/** The `error` file's line for a reference the export leaves unresolved. */
const warning = (u: Unresolved): OperationOutcome => ({
  resourceType: 'OperationOutcome',
  issue: [
    {
      severity: 'warning',
      code: 'incomplete',
      diagnostics: `${u.reference} is referenced in this export but could not be read (${u.why}); references to it do not resolve within the export`,
    },
  ],
});

/** Every relative reference (`Type/id`) in a resource, wherever it sits. */
function referencesIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(referencesIn);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => (k === 'reference' && typeof v === 'string' && /^[A-Z][A-Za-z]+\/[A-Za-z0-9.-]{1,64}$/.test(v) ? [v] : referencesIn(v)));
}

/** A search's whole matches (made complete) and its included resources. */
async function search(ctx: RequestContext, type: string, pairs: Pairs): Promise<{ matches: FhirResource[]; included: FhirResource[] }> {
  const m = moduleOf(type);
  const { request } = parseSearch(type, searchParamIndex.get(type as (typeof m)['type']) ?? new Map(), pairs, { strict: true, baseUrl: ctx.baseUrl, capabilities: m.capabilities });
  const result = await m.search(ctx, request);
  const matches = result.complete ? await result.complete(result.matches) : result.matches;
  const included = result.included ? await result.included(result.matches) : [];
  return { matches, included };
}

/** The matches that also match one of the type's `_typeFilter`s (all of them when it has none). */
async function applyFilters(ctx: RequestContext, job: Job, type: string, base: Pairs, matches: FhirResource[]): Promise<FhirResource[]> {
  if (!job.typeFilters[type]) return matches;
  const kept = new Set((await filtered(ctx, job, type, base)).map((r) => r.id));
  return matches.filter((r) => kept.has(r.id));
}

async function filtered(ctx: RequestContext, job: Job, type: string, base: Pairs): Promise<FhirResource[]> {
  const out: FhirResource[] = [];
  for (const filter of job.typeFilters[type] ?? []) out.push(...(await search(ctx, type, [...base, ...filter])).matches);
  return out;
}

/**
 * A document whose CCD is referenced, not inlined (BULK_EXPORT_ATTACHMENTS=binary): each
 * attachment keeps its `url` (the absolute URL of the CCD's Binary, readable with the same
 * token — Bulk Data's rule for `requiresAccessToken`; without an Accept header it answers the
 * HTML itself), size and SHA-1 hash, without `data`.
 */
function referenceOnly(r: FhirResource): FhirResource {
  if (r.resourceType !== 'DocumentReference') return r;
  return { ...r, content: r.content.map((c) => ({ ...c, attachment: Object.fromEntries(Object.entries(c.attachment).filter(([k]) => k !== 'data')) })) };
}
