/**
 * Searchset bundles as pure functions of plain data: the page of resources, the total, the
 * parsed request (formatSearch writes the query each link stands for, so they round-trip),
 * the base URL, and the writer that turns a link's query into its URL (the route's: paging
 * links are sealed cursors, routes/page-links.ts). No Hono types here.
 */
import type { Bundle, BundleEntry, BundleLink, FhirResource, OperationOutcome } from 'fhir/r4';
import { formatSearch, UNDEFINED_PARAMETER } from './search/parse.ts';
import { MAX_OFFSET, type SearchRequest } from './search/types.ts';
import { applyView, type ViewRules } from './view.ts';

const NO_RULES: ViewRules = { summary: new Set(), mandatory: new Set() };

export type LinkRelation = 'self' | 'first' | 'next' | 'previous';

/**
 * Writes the URL of a searchset link from the query it stands for (formatSearch's output,
 * an operation's own parameters first). Required: a bundle never writes search values into
 * a URL by itself.
 */
export interface PageLinks {
  url(relation: LinkRelation, query: string): string;
  /** Throws (a FhirError) unless a link standing for `query` can be written, and followed, here. */
  assertFits(query: string): void;
}

/** The query a searchset link stands for: an operation's own parameters first, then the search at `offset`. */
export function linkQuery(request: SearchRequest, offset: number, operation?: { query: string }): string {
  const search = formatSearch(request, { offset });
  return operation?.query ? `${operation.query}&${search}` : search;
}

/**
 * Refuses a search whose links could not be written or followed, once and before any work:
 * checked on its longest link, the one at the deepest offset (links differ only in `_offset`).
 */
export function assertPageable(links: PageLinks, request: SearchRequest, operation?: { query: string }): void {
  links.assertFits(linkQuery(request, MAX_OFFSET, operation));
}

export interface SearchsetInput {
  /** Every match, in order; the requested page is sliced here. */
  matches: readonly FhirResource[];
  request: SearchRequest;
  /** This request's FHIR base, without a trailing slash (for `fullUrl`s). */
  baseUrl: string;
  /** Writes each link's URL (https://hl7.org/fhir/R4/http.html#paging: links are opaque to the client). */
  links: PageLinks;
  /** Parameters that were ignored (lenient handling), reported as an outcome entry. */
  ignored?: readonly string[];
  /** `_include`/`_revinclude` resources for this page (search.mode `include`). */
  included?: readonly FhirResource[];
  /** What views keep of the matches' resource type. */
  view?: ViewRules;
  /** For operations returning a searchset: their own parameters, which every link carries first. */
  operation?: { query: string };
  /** The page's resources when they were made whole after paging (page-first search). */
  page?: readonly FhirResource[];
}

/** The matches on the requested page (none for `_summary=count`). */
export function pageOf<T>(matches: readonly T[], request: SearchRequest): T[] {
  if (request.view.summary === 'count') return [];
  return matches.slice(request.offset, request.offset + request.count);
}

/** https://hl7.org/fhir/R4/http.html#search and https://hl7.org/fhir/R4/bundle.html#searchset */
export function searchset(input: SearchsetInput): Bundle {
  const { matches, request, baseUrl, ignored = [], included = [], view = NO_RULES } = input;
  const { offset, count } = request;
  const total = matches.length;
  const page = input.page ?? pageOf(matches, request);
  const link = (relation: LinkRelation, at: number): BundleLink => ({
    relation,
    url: input.links.url(relation, linkQuery(request, at, input.operation)),
  });
  const links: BundleLink[] = [link('self', offset), link('first', 0)];
  const paging = count > 0 && request.view.summary !== 'count';
  if (paging && offset + count < total) links.push(link('next', offset + count));
  if (paging && offset > 0) links.push(link('previous', Math.max(0, offset - count)));
  const entry: BundleEntry[] = [
    ...page.map((r) => entryOf(applyView(r, request.view, view), baseUrl, 'match')),
    ...included.map((r) => entryOf(r, baseUrl, 'include')),
  ];
  if (ignored.length > 0) entry.push({ resource: ignoredOutcome(ignored), search: { mode: 'outcome' } });
  return { resourceType: 'Bundle', type: 'searchset', total, link: links, ...(entry.length > 0 ? { entry } : {}) };
}

function entryOf(resource: FhirResource, baseUrl: string, mode: 'match' | 'include'): BundleEntry {
  return { fullUrl: `${baseUrl}/${resource.resourceType}/${resource.id ?? ''}`, resource, search: { mode } };
}

function ignoredOutcome(names: readonly string[]): OperationOutcome {
  const defined = [...new Set(names.filter((n) => n !== UNDEFINED_PARAMETER))];
  const undefinedCount = names.filter((n) => n === UNDEFINED_PARAMETER).length;
  const issues: OperationOutcome['issue'] = defined.map((name) => ({
    severity: 'warning',
    code: 'not-supported',
    diagnostics: `The parameter "${name}" (or its value) is not supported here and was ignored`,
  }));
  // Names this server does not define are client input: counted, never repeated back.
  if (undefinedCount > 0) {
    issues.push({
      severity: 'warning',
      code: 'not-supported',
      diagnostics: `${undefinedCount} parameter${undefinedCount === 1 ? '' : 's'} this server does not define ${undefinedCount === 1 ? 'was' : 'were'} ignored (the self link lists those applied; the CapabilityStatement those supported)`,
    });
  }
  return { resourceType: 'OperationOutcome', issue: issues };
}
