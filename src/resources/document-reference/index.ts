/**
 * The DocumentReference resource: one per encounter CCD, with the HTML as base64
 * (attachment data left out, and its encoding skipped, when the client asks for a summary).
 * Search by patient, encounter or id, plus dates, category, type, status and `section`;
 * read by id with one upstream call; the US Core `$docref` operation.
 */
import type { DocumentReference } from 'fhir/r4';
import { matchesAll } from '../../fhir/search/match.ts';
import type { ResourceView, SearchRequest } from '../../fhir/search/types.ts';
import { practiceIds, type RequestContext } from '../context.ts';
import { loadTargets } from '../encounter-listing.ts';
import { loadDocument } from '../document-lookup.ts';
import { planTargets, targetParams } from '../listing-plan.ts';
import type { ResourceModule, SearchResult } from '../registry-types.ts';
import { byDate } from '../sort.ts';
import { docrefOperation } from './docref.ts';
import { documentReferenceSearchParams } from './params.ts';
import { patientOfReference } from '../compartment.ts';
import { requestedSection } from '../sections.ts';
import { DOCUMENT_VIEW, wantsData } from './view.ts';
import { lightDocuments, wholePage } from './whole-page.ts';
import { buildsDocuments } from '../request-memory.ts';

async function read(ctx: RequestContext, id: string, view: ResourceView): Promise<DocumentReference> {
  return (await loadDocument(ctx, id, wantsData(view))).doc;
}

/** The parameters that find documents (patient, encounter, _id) and narrow their window (date, period). */
const TARGETS = targetParams(documentReferenceSearchParams);

async function search(ctx: RequestContext, req: SearchRequest): Promise<SearchResult> {
  const now = ctx.services.now();
  // Plan (and reject bad input) before any upstream call; then check the section.
  const plan = planTargets(req, TARGETS, now, practiceIds(ctx));
  const section = await requestedSection(ctx, req);
  if (plan.kind === 'empty') return { matches: [] };
  if (wantsData(req.view)) buildsDocuments(ctx);
  const loaded = await loadTargets(ctx, plan.targets, section);
  const opts = section ? { section } : {};
  // Page-first: match and sort without the data; encode only the page's CCDs.
  const { docs, recordOf } = lightDocuments(ctx, loaded, opts);
  const matches = docs.filter((d) => matchesAll(d, req.params, now)).sort(byDate<DocumentReference>((d) => d.date, req));
  if (!wantsData(req.view)) return { matches };
  return { matches, complete: (page) => Promise.resolve(wholePage(ctx, page as DocumentReference[], recordOf, opts)) };
}

export const documentReferenceModule: ResourceModule = {
  type: 'DocumentReference',
  profile: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-documentreference',
  documentation:
    'The CCD of each Nextech encounter as base64 HTML (contentType text/html), also readable as Binary/{id}. Ids as for Encounter.',
  interactions: ['read', 'search-type'],
  searchParams: documentReferenceSearchParams,
  capabilities: { includes: [], revincludes: [], sorts: ['date'] },
  view: DOCUMENT_VIEW,
  operations: [docrefOperation],
  compartment: {
    ofResource: (r, ids) => (r.resourceType === 'DocumentReference' ? patientOfReference(ids, r.subject?.reference) : undefined),
    ofId: (id, ids) => ids.document.open(id)?.patient.patientId,
  },
  read,
  search,
};
