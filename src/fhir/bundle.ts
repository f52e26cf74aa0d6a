/**
 * Searchset bundles as pure functions of plain data: the page of resources, the total, the
 * parsed request (which writes the self/next/previous links via formatSearch, so they
 * round-trip) and the base URL. No Hono types here.
 */
import type { Bundle, BundleEntry, BundleLink, FhirResource, OperationOutcome } from 'fhir/r4';
import { formatSearch } from './search/parse.ts';
import type { SearchRequest } from './search/types.ts';

export interface SearchsetInput {
  /** Every match, in order; the requested page is sliced here. */
  matches: readonly FhirResource[];
  request: SearchRequest;
  /** This request's FHIR base, without a trailing slash. */
  baseUrl: string;
  /** Parameters that were ignored (lenient handling), reported as an outcome entry. */
  ignored?: readonly string[];
}

/** https://hl7.org/fhir/R4/http.html#search and https://hl7.org/fhir/R4/bundle.html#searchset */
export function searchset({ matches, request, baseUrl, ignored = [] }: SearchsetInput): Bundle {
  const { offset, count } = request;
  const total = matches.length;
  const page = matches.slice(offset, offset + count);
  const link = (relation: string, at: number): BundleLink => ({
    relation,
    url: `${baseUrl}/${request.resourceType}?${formatSearch(request, { offset: at })}`,
  });
  const links: BundleLink[] = [link('self', offset), link('first', 0)];
  if (count > 0 && offset + count < total) links.push(link('next', offset + count));
  if (count > 0 && offset > 0) links.push(link('previous', Math.max(0, offset - count)));
  const entry: BundleEntry[] = page.map((resource) => ({
    fullUrl: `${baseUrl}/${resource.resourceType}/${resource.id ?? ''}`,
    resource,
    search: { mode: 'match' },
  }));
  if (ignored.length > 0) entry.push({ resource: ignoredOutcome(ignored), search: { mode: 'outcome' } });
  return { resourceType: 'Bundle', type: 'searchset', total, link: links, ...(entry.length > 0 ? { entry } : {}) };
}

function ignoredOutcome(names: readonly string[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [...new Set(names)].map((name) => ({
      severity: 'warning',
      code: 'not-supported',
      diagnostics: `The parameter "${name}" is not supported here and was ignored`,
    })),
  };
}
