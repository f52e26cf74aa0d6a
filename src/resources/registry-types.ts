/**
 * The shape of the resource registry: each FHIR resource type the server offers declares
 * its interactions and search parameters once, and the routes, the CapabilityStatement and
 * the tests that check openapi.yaml all read the same declaration.
 */
import type { FhirResource } from 'fhir/r4';
import type { SearchParamDef, SearchRequest } from '../fhir/search/types.ts';
import type { RequestContext } from './context.ts';

export type Interaction = 'read' | 'search-type';

export interface SearchResult {
  /** Every match, already filtered exactly and sorted; the route slices the page. */
  matches: FhirResource[];
}

export interface ResourceModule {
  type: FhirResource['resourceType'];
  /** US Core (or base) profile the resources claim. */
  profile: string;
  documentation: string;
  interactions: readonly Interaction[];
  searchParams: readonly SearchParamDef[];
  read(ctx: RequestContext, id: string): Promise<FhirResource>;
  search(ctx: RequestContext, request: SearchRequest): Promise<SearchResult>;
}
