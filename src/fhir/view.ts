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

/** The elements a resource type always keeps in a view besides id and meta: its mandatory ones. */
export interface ViewRules {
  summary: ReadonlySet<string>;
  mandatory: ReadonlySet<string>;
}

/** Applies a view to one resource; returns it unchanged when nothing is left out. */
export function applyView<T extends FhirResource>(resource: T, view: ResourceView, rules: ViewRules): T {
  if (!view.elements && view.summary !== 'true' && view.summary !== 'data') return resource;
  const out: Record<string, unknown> = {};
  let subsetted = false;
  for (const [k, v] of Object.entries(resource)) {
    // `_elements`: "servers SHOULD return mandatory elements" too (https://hl7.org/fhir/R4/search.html#elements).
    const keep =
      ALWAYS.has(k) ||
      rules.mandatory.has(k) ||
      (view.summary === 'data' ? k !== 'text' : keepsElement(view, rules.summary, k));
    if (keep) out[k] = v;
    else subsetted = true;
  }
  return subsetted ? tagSubsetted(out as T) : resource;
}

/** Marks a resource as not whole (https://hl7.org/fhir/R4/search.html#summary). */
export function tagSubsetted<T extends FhirResource>(resource: T): T {
  const meta = resource.meta ?? {};
  if (meta.tag?.some((t) => t.code === SUBSETTED.code && t.system === SUBSETTED.system)) return resource;
  return { ...resource, meta: { ...meta, tag: [...(meta.tag ?? []), SUBSETTED] } };
}
