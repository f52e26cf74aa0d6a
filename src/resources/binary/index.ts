/**
 * Binary: each CCD as a FHIR Binary (`Binary/{id}` with a DocumentReference's id). The
 * route also serves the raw HTML when the client asks for `text/html` (routes/binary-route.ts).
 */
import type { Binary } from 'fhir/r4';
import { FhirError, notFound } from '../../fhir/outcome.ts';
import type { RequestContext } from '../context.ts';
import { loadDocument } from '../document-lookup.ts';
import { buildsDocuments } from '../request-memory.ts';
import type { ResourceModule } from '../registry-types.ts';
import { patientOfReference } from '../compartment.ts';

export interface CcdDocument {
  html: string;
  patientReference: string;
}

/** The CCD behind a document id (one upstream call, plus the section list for section ids). */
export async function readCcd(ctx: RequestContext, id: string): Promise<CcdDocument> {
  // The response is the CCD itself (or its base64): it counts like a document's data.
  buildsDocuments(ctx);
  try {
    const { doc, loaded } = await loadDocument(ctx, id, false);
    return { html: loaded.record.ccd, patientReference: doc.subject?.reference ?? '' };
  } catch (err) {
    if (err instanceof FhirError && err.status === 404) throw notFound('Binary');
    throw err;
  }
}

export async function readBinary(ctx: RequestContext, id: string): Promise<Binary> {
  const ccd = await readCcd(ctx, id);
  return {
    resourceType: 'Binary',
    id,
    contentType: 'text/html',
    securityContext: { reference: ccd.patientReference },
    // Encoded as the response is written, when it streams.
    data: ctx.deferred ? ctx.deferred.marker(ccd.html) : Buffer.from(ccd.html, 'utf8').toString('base64'),
  };
}

export const binaryModule: ResourceModule = {
  type: 'Binary',
  profile: 'http://hl7.org/fhir/StructureDefinition/Binary',
  documentation: 'The CCD of a DocumentReference (same id): raw text/html when asked for with Accept: text/html, else a FHIR Binary.',
  interactions: ['read'],
  searchParams: [],
  capabilities: { includes: [], revincludes: [], sorts: [] },
  view: { summary: new Set(['contentType', 'securityContext']), mandatory: new Set(['contentType']) },
  // A CCD's Binary is readable with the scopes that read its DocumentReference.
  scopedAlsoAs: 'DocumentReference',
  // A CCD's Binary has its DocumentReference's id, and so its patient.
  compartment: {
    ofResource: (r, ids) => (r.resourceType === 'Binary' ? patientOfReference(ids, r.securityContext?.reference) : undefined),
    ofId: (id, ids) => ids.document.open(id)?.patient.patientId,
  },
  raw: {
    contentType: 'text/html',
    formats: ['html', 'text/html'],
    // The HTML comes from an EHR: served sandboxed, no scripts, no sniffing.
    headers: {
      'content-security-policy': "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:",
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    },
    read: async (ctx, id) => (await readCcd(ctx, id)).html,
  },
  read: (ctx, id) => readBinary(ctx, id),
};
