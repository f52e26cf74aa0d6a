/**
 * The typed form of a FHIR search: parameter definitions (the registry's vocabulary) and a
 * parsed request. Pure data; parse.ts produces it, match.ts and the resource modules use it.
 */
import type { DateSearchValue } from './date.ts';

/** https://hl7.org/fhir/R4/search.html#ptypes (the types this server implements). */
export type SearchParamType = 'string' | 'token' | 'date' | 'reference';

export interface SearchParamDef {
  /** The parameter's name as it appears in the URL, e.g. `birthdate`. */
  name: string;
  type: SearchParamType;
  /** FHIRPath selecting the values searched, e.g. `Patient.name.family`. */
  expression: string;
  /**
   * Canonical URL of the SearchParameter (US Core's where it has one). `{base}` stands for
   * this server's FHIR base, for parameters this server defines itself.
   */
  definition: string;
  documentation: string;
  /** Modifiers accepted beyond `missing` (which every parameter takes). */
  modifiers?: readonly string[];
  /** For code-valued tokens: the implied CodeSystem, so `system|code` can be checked. */
  implicitSystem?: string;
  /** Reference targets, for reference parameters. */
  targets?: readonly string[];
  /**
   * Shapes the upstream request instead of filtering resources (e.g. `section`), so it is
   * not matched in memory; its `expression` is then empty.
   */
  upstreamOnly?: boolean;
  /**
   * Its values are ids of this resource type (`_id`, or a reference such as `patient`):
   * they say whose records the search is about. Planning reads it to find the records to
   * fetch, and compartment checks to confine a search to the patient in context.
   */
  identifies?: string;
  /** A date parameter that narrows which records are fetched (not only which are kept). */
  narrowsWindow?: boolean;
  /** Whether several values (comma, OR) or repetitions (AND) are accepted; both default to true. */
  multipleOr?: boolean;
  multipleAnd?: boolean;
}

export interface TokenValue {
  /** undefined: any system; '': no system (`|code`); otherwise that system. */
  system?: string;
  /** undefined: any code (`system|`). */
  code?: string;
}

export interface ReferenceValue {
  resourceType?: string;
  id: string;
}

export type ParsedValue =
  | { kind: 'string'; raw: string; text: string }
  | { kind: 'token'; raw: string; token: TokenValue }
  | { kind: 'date'; raw: string; date: DateSearchValue }
  | { kind: 'reference'; raw: string; ref: ReferenceValue }
  | { kind: 'missing'; raw: string; missing: boolean };

/** One occurrence of a parameter in the query: its values are OR-ed (comma); occurrences AND. */
export interface ParsedParam {
  def: SearchParamDef;
  modifier?: string;
  values: ParsedValue[];
}

/** `_summary` values this server implements (https://hl7.org/fhir/R4/search.html#summary). */
export type SummaryMode = 'true' | 'false' | 'data' | 'count';

/** How much of each resource to return: `_summary` and `_elements`. */
export interface ResourceView {
  summary?: SummaryMode;
  /** Top-level element names to keep (`_elements`). */
  elements?: string[];
}

/** What a resource type offers beyond its parameters, checked while parsing. */
export interface SearchCapabilities {
  /** `_include` values, e.g. `Encounter:patient`. */
  includes: readonly string[];
  /** `_revinclude` values, e.g. `DocumentReference:encounter`. */
  revincludes: readonly string[];
  /** Parameters `_sort` accepts (each also as `-name`). */
  sorts: readonly string[];
}

export interface SearchRequest {
  resourceType: string;
  params: ParsedParam[];
  /** Page size after clamping to the server maximum. */
  count: number;
  offset: number;
  include: string[];
  revinclude: string[];
  sort?: { param: string; descending: boolean };
  view: ResourceView;
}

export const DEFAULT_COUNT = 10;
export const MAX_COUNT = 50;
/** Deeper pages than this are refused: each page re-runs the upstream search. */
export const MAX_OFFSET = 10_000;
/** A single search value longer than this is refused before any work is done. */
export const MAX_VALUE_LENGTH = 256;
