/**
 * `_summary` and `_elements` (https://hl7.org/fhir/R4/search.html#summary,
 * #elements): returning less of each resource. A subsetted resource is tagged SUBSETTED,
 * as the specification requires. Pure functions on plain data.
 */
import type { Coding, FhirResource } from 'fhir/r4';
import type { ResourceView } from './search/types.ts';

export const SUBSETTED: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
};

/** Elements every view keeps. */
const ALWAYS = new Set(['resourceType', 'id', 'meta']);

/** Whether a view keeps an element (top-level name) of a resource. */
export function keepsElement(view: ResourceView, summaryElements: ReadonlySet<string>, element: string): boolean {
  if (view.summary === 'count') return false;
  if (view.elements) return view.elements.includes(element);
  if (view.summary === 'true') return summaryElements.has(element);
  return true;
}

/** Applies a view to one resource; returns it unchanged when nothing is left out. */
export function applyView<T extends FhirResource>(resource: T, view: ResourceView, summaryElements: ReadonlySet<string>): T {
  if (!view.elements && view.summary !== 'true' && view.summary !== 'data') return resource;
  const out: Record<string, unknown> = {};
  let subsetted = false;
  for (const [k, v] of Object.entries(resource)) {
    const keep = ALWAYS.has(k) || (view.summary === 'data' ? k !== 'text' : keepsElement(view, summaryElements, k));
    if (keep) out[k] = v;
    else subsetted = true;
  }
  if (!subsetted) return resource;
  const meta = (resource.meta ?? {});
  out.meta = { ...meta, tag: [...(meta.tag ?? []), SUBSETTED] };
  return out as T;
}
