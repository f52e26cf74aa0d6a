/**
 * Documents page-first: a search or `$docref` matches and sorts documents without their
 * attachment data, cuts the page, and only then encodes the page's CCDs — never all of them.
 * The memory that response takes was counted when the listing was read or reused
 * (request-memory.ts, for requests that build documents).
 */
import type { DocumentReference } from 'fhir/r4';
import type { RequestContext } from '../context.ts';
import { toDocumentReference, type EncounterMappingOptions, type LoadedEncounter } from '../encounter-listing.ts';

/** Light documents (no data) for matching and sorting, remembering the record of each. */
export function lightDocuments(ctx: RequestContext, loaded: readonly LoadedEncounter[], opts: EncounterMappingOptions) {
  const recordOf = new Map<DocumentReference, LoadedEncounter>();
  const docs = loaded.map((e) => {
    const doc = toDocumentReference(ctx, e, { ...opts, includeData: false });
    recordOf.set(doc, e);
    return doc;
  });
  return { docs, recordOf };
}

/** The page's documents with their data. */
export function wholePage(
  ctx: RequestContext,
  page: readonly DocumentReference[],
  recordOf: ReadonlyMap<DocumentReference, LoadedEncounter>,
  opts: EncounterMappingOptions,
): DocumentReference[] {
  return page.flatMap((d) => {
    const e = recordOf.get(d);
    return e ? [toDocumentReference(ctx, e, { ...opts, includeData: true })] : [];
  });
}
