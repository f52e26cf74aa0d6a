/**
 * Loads the encounter records a plan names, through the shared EncounterStore (so every
 * use within a request, and a following page, shares one upstream call), after checking
 * that each patient reference really is a patient of this practice.
 */
import type { DocumentReference, Encounter } from 'fhir/r4';
import type { EncounterLocator, PatientLocator } from '../ids/resource-ids.ts';
import type { EncounterWindow, SourceEncounter } from '../source/ehr-source.ts';
import { instant, type MappingContext } from '../mapping/functions.ts';
import { mappingContext, type RequestContext } from './context.ts';
import { readPatient } from './patient-lookup.ts';
import { dayTarget, type EncounterTarget } from './listing-plan.ts';
import { FhirError } from '../fhir/outcome.ts';
import { tagSubsetted } from '../fhir/view.ts';
import { holdListing } from './request-memory.ts';

export interface LoadedEncounter {
  record: SourceEncounter;
  /** The Patient's FHIR id and what it holds: the record's ids are made from them. */
  patientResourceId: string;
  patient: PatientLocator;
}

/**
 * Nextech ends a search "with the current date" when `end` is omitted, which would hide
 * planned (future) encounters; an open-ended search asks up to this instant instead. A
 * constant, so identical searches make identical upstream queries (and share them).
 */
export const OPEN_END = '2099-12-31T23:59:59.999Z';

/** The upstream window for a target: instants, `end` inclusive as Nextech reads it. */
export function upstreamWindow(t: Pick<EncounterTarget, 'start' | 'end'>): EncounterWindow {
  return {
    ...(t.start === undefined ? {} : { start: new Date(t.start).toISOString() }),
    end: t.end === undefined ? OPEN_END : new Date(t.end - 1).toISOString(),
  };
}

/** Whether the Patient id names a patient of this practice (404 means no). */
async function patientExists(ctx: RequestContext, id: string): Promise<boolean> {
  try {
    await readPatient(ctx, id);
    return true;
  } catch (err) {
    if (err instanceof FhirError && err.status === 404) return false;
    throw err;
  }
}

/** One target's records, straight from the store (no patient check: reads use this). */
export async function fetchTarget(ctx: RequestContext, t: EncounterTarget, section?: string): Promise<LoadedEncounter[]> {
  const { rows, read } = await ctx.services.source.encounters(ctx.call, t.patient.patientId, upstreamWindow(t), section);
  // The request keeps these CCDs until its response is built: they count, whatever the cache does.
  await holdListing(ctx, rows, read);
  return rows.map((record) => ({ record, patientResourceId: t.patientResourceId, patient: t.patient }));
}

/**
 * The record behind an opened Encounter or DocumentReference id: one upstream listing of
 * that patient's encounters on that UTC day. Undefined when there is no such record.
 */
export async function loadByLocator(ctx: RequestContext, loc: EncounterLocator, section?: string): Promise<LoadedEncounter | undefined> {
  const rows = await fetchTarget(ctx, dayTarget(loc), section);
  return rows.find((e) => e.record.summary.encounterId === loc.encounterId);
}

/** Every target's records, for targets whose patient exists; upstream calls run in parallel. */
export async function loadTargets(ctx: RequestContext, targets: EncounterTarget[], section?: string): Promise<LoadedEncounter[]> {
  const batches = await Promise.all(
    targets.map(async (t) => {
      const [exists, rows] = await Promise.allSettled([patientExists(ctx, t.patientResourceId), fetchTarget(ctx, t, section)]);
      if (exists.status === 'rejected') throw exists.reason;
      // Not our patient: whatever Nextech said about its encounters (likely 404) does not matter.
      if (!exists.value) return [];
      if (rows.status === 'rejected') throw rows.reason;
      return rows.value;
    }),
  );
  return batches.flat();
}

export interface EncounterMappingOptions {
  section?: string;
  /** Whether DocumentReference attachments carry the base64 data. */
  includeData?: boolean;
}

function contextFor(ctx: RequestContext, e: LoadedEncounter, opts: EncounterMappingOptions): MappingContext {
  const base = mappingContext(ctx);
  return {
    ...base,
    patient: e.patient,
    values: {
      ...base.values,
      patientResourceId: e.patientResourceId,
      patientReference: `Patient/${e.patientResourceId}`,
      includeData: opts.includeData ?? true,
      ...(opts.section === undefined ? {} : { section: opts.section }),
    },
  };
}

/**
 * What an Encounter search needs of a record before the page is cut, when no parameter has
 * to be matched on the mapped resource: its subject (to confine) and its start (to order) —
 * no id (sealing one is the costliest part of a record; only the page needs them), nothing
 * else mapped. Ties are ordered by the Nextech encounter id (`encounterOrder`).
 */
export function lightEncounter(e: LoadedEncounter): Encounter {
  const start = instant(e.record.summary.encounterDate);
  return {
    resourceType: 'Encounter',
    // Never returned: the page is mapped whole (status and class are only there for the type).
    status: 'unknown',
    class: { code: 'AMB' },
    subject: { reference: `Patient/${e.patientResourceId}` },
    ...(start === undefined ? {} : { period: { start } }),
  };
}

/**
 * The order of an Encounter search: by start (newest first unless `_sort=date`), ties by the
 * Nextech encounter id — the same whether the matches are light or mapped, so a next link
 * always continues the order of its first page. Keys are computed once per record.
 */
export function encounterOrder<T>(items: readonly T[], recordOf: (x: T) => LoadedEncounter, descending: boolean): T[] {
  const keyed = items.map((x) => {
    const s = recordOf(x).record.summary;
    return { x, t: Date.parse(instant(s.encounterDate) ?? '') || 0, id: s.encounterId };
  });
  keyed.sort((a, b) => (a.t !== b.t ? (descending ? b.t - a.t : a.t - b.t) : a.id - b.id));
  return keyed.map((k) => k.x);
}

export function toEncounter(ctx: RequestContext, e: LoadedEncounter): Encounter {
  return ctx.services.mappings.encounter(e.record, contextFor(ctx, e, {}));
}

export function toDocumentReference(ctx: RequestContext, e: LoadedEncounter, opts: EncounterMappingOptions): DocumentReference {
  const doc = ctx.services.mappings.documentReference(e.record, contextFor(ctx, e, opts));
  // Without its attachment data the document is not whole, and must say so.
  return opts.includeData === false ? tagSubsetted(doc) : doc;
}
