/**
 * SearchParameter: the definitions of the parameters this server defines itself (today
 * DocumentReference `section`), readable at `[base]/SearchParameter/{id}` so that the
 * CapabilityStatement's `definition` URLs resolve.
 */
import type { SearchParameter } from 'fhir/r4';
import { notFound } from '../fhir/outcome.ts';
import { SECTION_PARAM_ID } from './document-reference/params.ts';
import type { ResourceModule } from './registry-types.ts';

export function sectionSearchParameter(baseUrl: string): SearchParameter {
  return {
    resourceType: 'SearchParameter',
    id: SECTION_PARAM_ID,
    url: `${baseUrl}/SearchParameter/${SECTION_PARAM_ID}`,
    name: 'section',
    status: 'active',
    experimental: false,
    publisher: 'nextech-fhir-facade',
    description:
      'Asks Nextech for one section of each encounter CCD (a name from Nextech GET /encounters/categories, case-insensitive); each DocumentReference then holds only that section and has an id of its own. One value only.',
    code: 'section',
    base: ['DocumentReference'],
    type: 'token',
    multipleOr: false,
    multipleAnd: false,
  };
}

export const searchParameterModule: ResourceModule = {
  type: 'SearchParameter',
  profile: 'http://hl7.org/fhir/StructureDefinition/SearchParameter',
  documentation: 'Definitions of the search parameters this server defines itself.',
  interactions: ['read'],
  conformance: true,
  searchParams: [],
  capabilities: { includes: [], revincludes: [], sorts: [] },
  view: {
    summary: new Set(['url', 'version', 'name', 'status', 'experimental', 'date', 'publisher', 'code', 'base', 'type']),
    mandatory: new Set(['url', 'name', 'status', 'description', 'code', 'base', 'type']),
  },
  read: (ctx, id) => (id === SECTION_PARAM_ID ? Promise.resolve(sectionSearchParameter(ctx.baseUrl)) : Promise.reject(notFound('SearchParameter'))),
};
