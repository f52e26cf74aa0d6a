/**
 * How the sandbox answers `GET /search?term=`. Nextech documents only that the term
 * "will attempt to match the patient's name or chart number"; this is the sandbox's
 * model of that unspecified behaviour, kept deliberately simple and predictable:
 *
 * - the term is trimmed and runs of whitespace collapse to one space; a blank term is
 *   an error (the caller answers 400);
 * - comparison is case-insensitive and accent-insensitive (NFD, combining marks
 *   removed), so `nunez` finds Núñez and `ZOE` finds Zoë;
 * - a patient matches when the term equals its chart number exactly (after the same
 *   folding), or is a substring of its firstName, middleName, lastName, `first last`,
 *   `last, first` or `last first`.
 */
import type { NextechPatient } from './types.ts';

/** Case- and accent-folded text with whitespace runs collapsed. */
export function foldText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

/** The folded forms of a patient's name that a term may be a substring of. */
function nameForms(patient: NextechPatient): string[] {
  const first = foldText(patient.firstName);
  const last = foldText(patient.lastName);
  const forms = [first, last, `${first} ${last}`, `${last}, ${first}`, `${last} ${first}`];
  if (patient.middleName) forms.push(foldText(patient.middleName));
  return forms;
}

/**
 * A predicate for one search term, or undefined when the term is blank. Folding the term
 * once keeps a search over hundreds of patients cheap.
 */
export function termMatcher(term: string): ((patient: NextechPatient) => boolean) | undefined {
  const folded = foldText(term);
  if (folded === '') return undefined;
  return (patient) =>
    foldText(patient.chartNumber) === folded || nameForms(patient).some((form) => form.includes(folded));
}
