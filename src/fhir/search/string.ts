/**
 * String search matching (https://hl7.org/fhir/R4/search.html#string): by default a value
 * matches when a field starts with it, ignoring case and accents (so `nunez` finds Núñez);
 * `:contains` matches anywhere in the field; `:exact` needs the same characters, case and
 * accents included.
 */

/** Lower-cases and strips combining marks after canonical decomposition. */
export function normalizeText(s: string): string {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

export type StringModifier = 'exact' | 'contains' | undefined;

/** Whether one field value matches one search value under a modifier. */
export function matchesString(field: string, search: string, modifier: StringModifier): boolean {
  if (modifier === 'exact') return field.normalize('NFC') === search.normalize('NFC');
  const f = normalizeText(field);
  const s = normalizeText(search);
  return modifier === 'contains' ? f.includes(s) : f.startsWith(s);
}
