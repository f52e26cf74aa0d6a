/**
 * What a grant lets an app do, in plain words for the person approving it on the picker
 * page: which records, whose, for how long. Derived from the parsed scopes, so the page
 * says exactly what the token will allow.
 */
import type { ResourceScope, Scopes } from './scopes.ts';

const WHAT: Readonly<Record<string, string>> = {
  '*': 'patient details, visits and visit documents (CCDs)',
  Patient: 'patient details (name, birth date, chart number, phone)',
  Encounter: 'visits',
  DocumentReference: 'visit documents (CCDs)',
  Binary: 'visit documents (CCDs)',
  Group: "the practice's patient lists (cohorts) for bulk export",
};
/** With user scopes, a wildcard also reads the practice's cohorts (patient scopes never do). */
const USER_WILDCARD = "patient details, visits, visit documents (CCDs) and the practice's patient lists (cohorts) for bulk export";

const WHOSE: Readonly<Record<ResourceScope['context'], string>> = {
  patient: 'of the one patient you choose below',
  user: 'of any patient you can see in Nextech',
  system: 'of every patient of the practice',
};

function joinWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1] ?? ''}`;
}

/** One sentence per kind of access granted, most important first. */
export function describeAccess(scopes: Scopes): string[] {
  const lines: string[] = [];
  for (const context of ['patient', 'user'] as const) {
    const here = scopes.resources.filter((r) => r.context === context);
    if (here.length === 0) continue;
    const wildcard = context === 'user' ? USER_WILDCARD : (WHAT['*'] ?? '');
    const what = here.some((r) => r.resourceType === '*') ? [wildcard] : [...new Set(here.map((r) => WHAT[r.resourceType] ?? r.resourceType))];
    lines.push(`Read ${joinWords(what)} ${WHOSE[context]}.`);
  }
  lines.push('It can only read: nothing in Nextech is changed.');
  if (scopes.offlineAccess) lines.push('Keep this access after you close it, for up to 30 days, without asking you again.');
  else if (scopes.onlineAccess) lines.push('Keep this access while you use it, for up to 12 hours.');
  if (scopes.openid) lines.push('Know that it was you who signed in (no name or other details).');
  return lines;
}
