/**
 * The shape of the resource registry: each FHIR resource type the server offers declares
 * its interactions and search parameters once, and the routes, the CapabilityStatement and
 * the tests that check openapi.yaml all read the same declaration.
 */
import type { FhirResource } from 'fhir/r4';
import type { PageLinks } from '../fhir/bundle.ts';
import type { ResourceView, SearchCapabilities, SearchParamDef, SearchRequest } from '../fhir/search/types.ts';
import type { ViewRules } from '../fhir/view.ts';
import type { PracticeIds } from '../ids/resource-ids.ts';
import type { RequestContext } from './context.ts';

/** A raw representation of a resource: its media type, how to read it, and headers to serve it with. */
export interface RawRead {
  contentType: string;
  /** `_format` values that ask for it (besides the media type itself). */
  formats: readonly string[];
  headers: Readonly<Record<string, string>>;
  read(ctx: RequestContext, id: string): Promise<string>;
}

export type Interaction = 'read' | 'search-type' | 'create' | 'update' | 'delete';

/** What a create or update wrote: the resource as stored, and whether it is new (201) or replaced (200). */
export interface WriteResult {
  resource: FhirResource;
  created: boolean;
}

export interface SearchResult {
  /** Every match, already filtered exactly and sorted; the route slices the page. */
  matches: FhirResource[];
  /** Resources for `_include`/`_revinclude`, given the page of matches being returned. */
  included?: (page: FhirResource[]) => Promise<FhirResource[]>;
  /** Page-first: when `matches` are light (e.g. documents without their data), makes the page's matches whole. */
  complete?: (page: FhirResource[]) => Promise<FhirResource[]>;
}

/** A FHIR operation served at `[base]/{type}/${name}` (GET and POST). */
export interface OperationDef {
  name: string;
  /** Canonical URL of its OperationDefinition. */
  definition: string;
  documentation: string;
  /** Its own input parameters (paging and view parameters come on top). */
  parameters: readonly string[];
  /** Its parameters whose values are ids of a resource type (e.g. `patient` → Patient): compartment checks read them. */
  identifies?: Readonly<Record<string, string>>;
  /**
   * Runs the operation on its parameters (from the URL and/or a form body, or the cursor of
   * a paging link); a searchset it answers writes its links with `links`.
   */
  run(ctx: RequestContext, params: ReadonlyArray<readonly [string, string]>, links: PageLinks): Promise<FhirResource>;
}

export interface ResourceModule {
  type: FhirResource['resourceType'];
  /** US Core (or base) profile the resources claim. */
  profile: string;
  documentation: string;
  interactions: readonly Interaction[];
  searchParams: readonly SearchParamDef[];
  /** `_include`, `_revinclude` and `_sort` values it supports. */
  capabilities: SearchCapabilities;
  /** Elements kept by views: Σ elements for `_summary=true`, mandatory ones always. */
  view: ViewRules;
  operations?: readonly OperationDef[];
  /**
   * Conformance resources (no patient data): readable without a practice, a token or a
   * scope, like the CapabilityStatement.
   */
  conformance?: boolean;
  /**
   * Membership in the patient compartment, as this server keeps it: the upstream patient
   * number a resource of this type, or an id of this type, belongs to (ids seal it, src/ids).
   * Absent: the type holds no patient data (conformance resources). Scope enforcement reads it.
   */
  compartment?: {
    ofResource(r: FhirResource, ids: PracticeIds): number | undefined;
    ofId(id: string, ids: PracticeIds): number | undefined;
  };
  /**
   * A representation other than FHIR JSON that a read may be negotiated to (Binary's raw
   * document, https://hl7.org/fhir/R4/binary.html#rest): asked for with Accept or `_format`.
   */
  raw?: RawRead;
  /** Another type whose SMART scopes allow this one too (a CCD's Binary: its DocumentReference's). */
  scopedAlsoAs?: string;
  /**
   * Its resources name many patients (a cohort): only Backend Services clients (`system/`
   * scopes) write them; `system/` and `user/` scopes read and search them; `patient/` scopes,
   * and every door without scopes, never reach them.
   */
  manyPatients?: boolean;
  /** Present exactly when `interactions` include create: `body` is the parsed JSON the client sent. */
  create?(ctx: RequestContext, body: unknown): Promise<WriteResult>;
  /** Present exactly when `interactions` include update. */
  update?(ctx: RequestContext, id: string, body: unknown, ifMatch?: number): Promise<WriteResult>;
  /** Present exactly when `interactions` include delete. */
  delete?(ctx: RequestContext, id: string, ifMatch?: number): Promise<void>;
  /** `view` lets a module skip work for elements that will be left out. */
  read(ctx: RequestContext, id: string, view: ResourceView): Promise<FhirResource>;
  /** Present exactly when `interactions` include search-type. */
  search?(ctx: RequestContext, request: SearchRequest): Promise<SearchResult>;
}
