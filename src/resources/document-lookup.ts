/**
 * A CCD document by id, with the encounter record behind it: one upstream listing of that
 * patient's encounters on that day (plus the section list for a section document's id).
 * DocumentReference reads and Binary both read documents this way.
 */
import type { DocumentReference } from 'fhir/r4';
import { notFound } from '../fhir/outcome.ts';
import { practiceIds, type RequestContext } from './context.ts';
import { loadByLocator, toDocumentReference, type LoadedEncounter } from './encounter-listing.ts';
import { buildsDocuments } from './request-memory.ts';
import { sectionForKey } from './sections.ts';

/** A document by id, with the record behind it: one upstream call (plus the section list for section ids). */
export async function loadDocument(
  ctx: RequestContext,
  id: string,
  includeData: boolean,
): Promise<{ doc: DocumentReference; loaded: LoadedEncounter }> {
  // An id that does not open is a 404 without any upstream call.
  const loc = practiceIds(ctx).document.open(id);
  if (!loc) throw notFound('DocumentReference');
  const section = loc.sectionKey === undefined ? undefined : await sectionForKey(ctx, loc.sectionKey);
  if (loc.sectionKey !== undefined && section === undefined) throw notFound('DocumentReference');
  if (includeData) buildsDocuments(ctx);
  const loaded = await loadByLocator(ctx, loc, section);
  const doc = loaded ? toDocumentReference(ctx, loaded, { includeData, ...(section ? { section } : {}) }) : undefined;
  // Only the exact id we issue reads the record back (not another date or patient key).
  if (!loaded || !doc || doc.id !== id) throw notFound('DocumentReference');
  return { doc, loaded };
}

