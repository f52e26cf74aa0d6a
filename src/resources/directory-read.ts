/**
 * Reads of directory resources (Practitioner, Location, Organization). An id holding the
 * record's data is opened and mapped — no upstream call, no patient data. An id naming the
 * encounter that mentioned the record (its data did not fit an id) costs one upstream
 * listing of that encounter's day, like an Encounter read; with a patient in context, only
 * that patient's encounters are looked at. An id that does not open, or that is not exactly
 * the id its data maps to, is a 404.
 */
import type { FhirResource } from 'fhir/r4';
import { notFound } from '../fhir/outcome.ts';
import type { DirectoryCodec, PracticeIds } from '../ids/resource-ids.ts';
import type { SourceEncounter } from '../source/ehr-source.ts';
import { practiceIds, type RequestContext } from './context.ts';
import { loadByLocator } from './encounter-listing.ts';

export interface DirectoryRead<K, R extends FhirResource> {
  type: R['resourceType'];
  codec: (ids: PracticeIds) => DirectoryCodec<K>;
  /** The source record the mapping reads, from what a data id holds. */
  record: (key: K, ctx: RequestContext) => unknown;
  /** The same from the summary of the encounter an anchored id names; undefined if it names none. */
  fromSummary: (summary: SourceEncounter['summary'], ctx: RequestContext) => unknown;
  map: (ctx: RequestContext, record: unknown) => R;
}

export function directoryRead<K, R extends FhirResource>(d: DirectoryRead<K, R>) {
  return async (ctx: RequestContext, id: string): Promise<R> => {
    const opened = d.codec(practiceIds(ctx)).open(id);
    if (!opened) throw notFound(d.type);
    if ('data' in opened) {
      const resource = d.map(ctx, d.record(opened.data, ctx));
      if (resource.id !== id) throw notFound(d.type);
      return resource;
    }
    const anchor = opened.anchor;
    // A patient-confined caller reads only through its own patient's encounters.
    if (ctx.grant?.patient !== undefined && ctx.grant.patient !== anchor.patientResourceId) throw notFound(d.type);
    const loaded = await loadByLocator(ctx, anchor);
    const record = loaded && d.fromSummary(loaded.record.summary, ctx);
    if (record === undefined) throw notFound(d.type);
    return { ...d.map(ctx, record), id };
  };
}
