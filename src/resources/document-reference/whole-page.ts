/**
 * Documents page-first: a search or `$docref` matches and sorts documents without their
 * attachment data, cuts the page, and only then encodes the page's CCDs — never all of them.
 * Building that response (base64 of each CCD, then the bundle's JSON) takes memory of its
 * own, so it reserves room in the document memory budget first, held until the response is
 * built: many large responses at once wait (bounded) or get 503, never an RSS spike.
 */
import type { DocumentReference } from 'fhir/r4';
import { MemoryBudgetFull } from '../../nextech/memory-budget.ts';
import { toFhirError, UpstreamError } from '../../nextech/errors.ts';
import type { RequestContext } from '../context.ts';
import { toDocumentReference, type EncounterMappingOptions, type LoadedEncounter } from '../encounter/load.ts';
import type { CompletedPage } from '../registry-types.ts';

/**
 * Transient bytes per CCD byte while a response is built: base64 (4/3), the bundle's JSON
 * holding it (4/3 again, two bytes a character when any text is not Latin-1), and the
 * written buffer.
 */
const RESPONSE_BYTES_PER_CCD_BYTE = 4;
/** What a refused response tells the client to wait. */
const RETRY_AFTER_SECONDS = 2;

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

/** The page's documents with their data, under a reservation of the memory their response takes. */
export async function wholePage(
  ctx: RequestContext,
  page: readonly DocumentReference[],
  recordOf: ReadonlyMap<DocumentReference, LoadedEncounter>,
  opts: EncounterMappingOptions,
): Promise<CompletedPage> {
  const records = page.flatMap((d) => {
    const e = recordOf.get(d);
    return e ? [e] : [];
  });
  const release = await reserve(ctx, records.reduce((n, e) => n + e.record.ccd.length, 0) * RESPONSE_BYTES_PER_CCD_BYTE);
  try {
    return { resources: records.map((e) => toDocumentReference(ctx, e, { ...opts, includeData: true })), release };
  } catch (err) {
    release();
    throw err;
  }
}

async function reserve(ctx: RequestContext, wanted: number): Promise<() => void> {
  const memory = ctx.services.memory;
  if (!memory || wanted === 0) return () => undefined;
  const r = memory.reserve();
  try {
    // A response larger than the whole budget still goes, holding all of it meanwhile.
    await r.grow(Math.min(wanted, memory.maxBytes), ctx.call.signal);
  } catch (err) {
    r.release();
    if (err instanceof MemoryBudgetFull) throw toFhirError(new UpstreamError({ kind: 'memory', retryAfterSeconds: RETRY_AFTER_SECONDS }, 'response'));
    throw err;
  }
  return () => r.release();
}
