/**
 * Documents page-first: a search or `$docref` matches and sorts documents without their
 * attachment data, cuts the page, and only then encodes the page's CCDs — never all of them.
 * Building that response (base64 of each CCD, then the bundle's JSON) takes memory of its
 * own, so the request holds room for it in the document memory budget first (request-memory.ts),
 * until the response is built: many large responses at once wait (bounded) or get 503.
 */
import type { DocumentReference } from 'fhir/r4';
import type { RequestContext } from '../context.ts';
import { toDocumentReference, type EncounterMappingOptions, type LoadedEncounter } from '../encounter/load.ts';
import { hold } from '../request-memory.ts';

/**
 * Transient bytes per CCD byte while a response is built: base64 (4/3), the bundle's JSON
 * holding it (4/3 again, two bytes a character when any text is not Latin-1), and the
 * written buffer.
 */
const RESPONSE_BYTES_PER_CCD_BYTE = 4;

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

/** The page's documents with their data, once the request holds the memory their response takes. */
export async function wholePage(
  ctx: RequestContext,
  page: readonly DocumentReference[],
  recordOf: ReadonlyMap<DocumentReference, LoadedEncounter>,
  opts: EncounterMappingOptions,
): Promise<DocumentReference[]> {
  const records = page.flatMap((d) => {
    const e = recordOf.get(d);
    return e ? [e] : [];
  });
  await hold(ctx, records.reduce((n, e) => n + e.record.ccd.length, 0) * RESPONSE_BYTES_PER_CCD_BYTE);
  return records.map((e) => toDocumentReference(ctx, e, { ...opts, includeData: true }));
}
