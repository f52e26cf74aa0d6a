/**
 * Reads of directory resources (Practitioner, Location, Organization). An id holding the
 * record's data is opened and mapped — no upstream call, no patient data. An id naming the
 * encounter that mentioned the record (its data did not fit an id) costs one upstream
 * listing of that encounter's day, like an Encounter read; with a patient in context, only
 * that patient's encounters are looked at. An id that does not open, or that is not exactly
 * the id its data maps to, is a 404.
 */
import type { Encounter, FhirResource } from 'fhir/r4';
import { notFound } from '../fhir/outcome.ts';
import type { DirectoryCodec, PracticeIds } from '../ids/resource-ids.ts';
import type { SourceEncounter } from '../source/ehr-source.ts';
import { mappingContext, practiceIds, type RequestContext } from './context.ts';
import { loadByLocator } from './encounter-listing.ts';
import type { ResourceModule } from './registry-types.ts';

/** The directory record shapes an encounter emits (mappings/encounter.map.yaml `emits`). */
export type DirectorySource = 'practitioner' | 'location' | 'organization';

export interface DirectoryRead<K, R extends FhirResource> {
  type: R['resourceType'];
  /** The record shape the type's mapping reads, as an encounter emits it. */
  source: DirectorySource;
  codec: (ids: PracticeIds) => DirectoryCodec<K>;
  /** The source record the mapping reads, from what a data id holds. */
  record: (key: K, ctx: RequestContext) => unknown;
}

/** The record of shape `source` that an encounter emits, if it names one. */
function emitted(ctx: RequestContext, encounter: SourceEncounter, source: DirectorySource): unknown {
  return ctx.services.mappings.encounterEmits(encounter, mappingContext(ctx)).find((e) => e.source === source)?.record;
}

const mapDirectory = (ctx: RequestContext, source: DirectorySource, record: unknown): FhirResource =>
  ctx.services.mappings[source](record, mappingContext(ctx));

/**
 * A directory type's whole registry entry: read only (Nextech cannot list them), no search
 * parameters, nothing mandatory; what differs is the type, its profile and Σ elements, and
 * how an id's data becomes the record its mapping reads.
 */
export function directoryModule<K, R extends FhirResource>(
  d: DirectoryRead<K, R> & { profile: string; documentation: string; summary: readonly string[] },
): ResourceModule {
  const read = directoryRead(d);
  return {
    type: d.type,
    profile: d.profile,
    documentation: d.documentation,
    interactions: ['read'],
    searchParams: [],
    capabilities: { includes: [], revincludes: [], sorts: [] },
    view: { mandatory: new Set(), summary: new Set(d.summary) },
    read,
  };
}

export function directoryRead<K, R extends FhirResource>(d: DirectoryRead<K, R>) {
  return async (ctx: RequestContext, id: string): Promise<R> => {
    const opened = d.codec(practiceIds(ctx)).open(id);
    if (!opened) throw notFound(d.type);
    if ('data' in opened) {
      const resource = mapDirectory(ctx, d.source, d.record(opened.data, ctx)) as R;
      if (resource.id !== id) throw notFound(d.type);
      return resource;
    }
    const anchor = opened.anchor;
    // A patient-confined caller reads only through its own patient's encounters.
    if (ctx.grant?.patient !== undefined && ctx.grant.patient !== anchor.patientResourceId) throw notFound(d.type);
    const loaded = await loadByLocator(ctx, anchor);
    const record = loaded && emitted(ctx, loaded.record, d.source);
    if (record === undefined) throw notFound(d.type);
    return { ...(mapDirectory(ctx, d.source, record) as R), id };
  };
}

/** `_include` values of Encounter that name directory resources, and where each finds its reference. */
const doctor = { source: 'practitioner', reference: (e: Encounter) => e.participant?.find((p) => p.individual?.reference?.startsWith('Practitioner/'))?.individual?.reference } as const;
export const ENCOUNTER_DIRECTORY_INCLUDES: Readonly<Record<string, { source: DirectorySource; reference: (e: Encounter) => string | undefined }>> = {
  'Encounter:participant': doctor,
  'Encounter:practitioner': doctor,
  'Encounter:location': { source: 'location', reference: (e) => e.location?.[0]?.location.reference },
  'Encounter:service-provider': { source: 'organization', reference: (e) => e.serviceProvider?.reference },
};

/**
 * The directory resources the page's encounters reference, for the requested `_include`
 * values: each encounter's emitted records mapped by their own files, carrying the id the
 * encounter references (so the included resource is the one a read of the reference
 * returns), each resource once. No upstream call: the encounters already say it all.
 */
export function includedDirectory(
  ctx: RequestContext,
  page: ReadonlyArray<{ resource: Encounter; record: SourceEncounter }>,
  include: readonly string[],
): FhirResource[] {
  const wanted = include.flatMap((v) => (Object.hasOwn(ENCOUNTER_DIRECTORY_INCLUDES, v) ? [ENCOUNTER_DIRECTORY_INCLUDES[v]!] : []));
  if (wanted.length === 0) return [];
  const out = new Map<string, FhirResource>();
  const mctx = mappingContext(ctx);
  for (const { resource, record } of page) {
    const emits = ctx.services.mappings.encounterEmits(record, mctx);
    for (const w of wanted) {
      const reference = w.reference(resource);
      const rec = emits.find((e) => e.source === w.source)?.record;
      if (reference === undefined || rec === undefined || out.has(reference)) continue;
      out.set(reference, { ...mapDirectory(ctx, w.source, rec), id: reference.slice(reference.indexOf('/') + 1) });
    }
  }
  return [...out.values()];
}
