/**
 * The sandbox's deliberate edge cases: fixed patients (same names, ids and quirks for
 * every seed) that a facade must handle, placed among the random patients of each
 * practice. `SANDBOX_EDGE_CASES` tells tests which patientId shows which case.
 */
import { PRACTICE_SPECS } from './practices.ts';

/** Marks a key that the upstream record leaves out entirely (not null, not ""). */
export const OMITTED: unique symbol = Symbol('omitted');

/** How a patient's encounters are made; fixed patients default to 'some' (at least two). */
export type EncounterPlan = 'random' | 'some' | 'none' | 'many' | 'large-ccd' | 'locked-strings' | 'day-boundary' | CountedPlan;

/** Exactly this many encounters, the earliest `large` of them with a CCD of `largeResultRows` Results rows (extra patients). */
export interface CountedPlan {
  encounters: number;
  large: number;
  largeResultRows: number;
}

/** The kinds of edge case the fixed patients show. */
export type SandboxEdgeCaseName =
  | 'apostrophe-name'
  | 'hyphenated-surname'
  | 'hyphenated-given-name'
  | 'diacritics'
  | 'multi-word-surname'
  | 'shared-surname'
  | 'same-name-same-practice'
  | 'same-name-both-practices'
  | 'middle-name-absent'
  | 'middle-name-null'
  | 'middle-name-empty'
  | 'phone-null'
  | 'phone-absent'
  | 'ssn-null'
  | 'no-encounters'
  | 'large-ccd'
  | 'dob-not-utc-midnight'
  | 'dob-with-offset'
  | 'dob-with-milliseconds'
  | 'chart-number-with-space'
  | 'chart-number-with-slash'
  | 'chart-number-with-hyphen'
  | 'locked-as-string'
  | 'day-boundary-encounters'
  | 'many-encounters';

/** A fixed patient. Fields left undefined are generated from the seed like any other. */
export interface EdgePatientSpec {
  cases: readonly SandboxEdgeCaseName[];
  firstName: string;
  lastName: string;
  middleName?: string | null | typeof OMITTED;
  dob: string;
  chartNumber?: string;
  ssn?: null;
  homePhone?: null | typeof OMITTED;
  encounters?: EncounterPlan;
}

/** One fixture: which patient of which practice shows a case. */
export interface SandboxEdgeCase {
  case: SandboxEdgeCaseName;
  practiceId: string;
  patientId: number;
  /** Name as "First Last", for messages. */
  name: string;
}

const p = (
  first: string,
  last: string,
  dob: string,
  cases: readonly SandboxEdgeCaseName[],
  extra: Partial<EdgePatientSpec> = {},
): EdgePatientSpec => ({ firstName: first, lastName: last, dob, cases, ...extra });
const midnight = (date: string): string => `${date}T00:00:00Z`;

/** Fixed patients of each practice, in placement order. */
export const EDGE_PATIENT_SPECS: Readonly<Record<string, readonly EdgePatientSpec[]>> = {
  '1001': [
    p('Siobhan', "O'Brien", midnight('1958-03-17'), ['apostrophe-name'], { middleName: 'Maeve' }),
    p('Carlo', "D'Angelo", midnight('1971-11-02'), ['apostrophe-name'], { middleName: 'Vincenzo' }),
    p('Rebecca', 'Smith-Jones', midnight('1984-06-09'), ['hyphenated-surname']),
    p('Mary-Kate', 'Fitzgerald', midnight('1992-01-30'), ['hyphenated-given-name', 'middle-name-null'], { middleName: null }),
    p('José', 'Núñez', midnight('1949-08-21'), ['diacritics'], { middleName: 'Luis' }),
    p('Zoë', 'Müller', midnight('1987-04-03'), ['diacritics', 'middle-name-absent'], { middleName: OMITTED }),
    p('John', 'Smith', midnight('1966-04-12'), ['shared-surname', 'same-name-same-practice'], { middleName: 'Robert' }),
    p('John', 'Smith', midnight('1979-10-05'), ['shared-surname', 'same-name-same-practice'], { middleName: 'Allen' }),
    p('Jane', 'Smith', midnight('1990-02-14'), ['shared-surname', 'middle-name-empty'], { middleName: '' }),
    p('Evangeline', 'Thornbury', midnight('1975-09-23'), ['same-name-both-practices'], { middleName: 'Rose' }),
    p('Harold', 'Pemberton', midnight('1944-12-08'), ['phone-null'], { homePhone: null }),
    p('Gloria', 'Vance', midnight('1961-05-27'), ['phone-absent'], { homePhone: OMITTED }),
    p('Dennis', 'Albright', midnight('1953-07-19'), ['ssn-null'], { ssn: null }),
    p('Opal', 'Kingsley', midnight('1938-10-11'), ['no-encounters'], { encounters: 'none' }),
    p('Reuben', 'Castellanos', midnight('2003-03-03'), ['no-encounters'], { encounters: 'none' }),
    p('Beatrice', 'Lindqvist', midnight('1995-08-15'), ['no-encounters'], { encounters: 'none' }),
    p('Cornelius', 'Ashdown', midnight('1947-01-22'), ['large-ccd'], { encounters: 'large-ccd' }),
    p('Nadia', 'Petrova', '1990-05-20T05:00:00Z', ['dob-not-utc-midnight']),
    p('Trevor', 'Ellingham', '1968-12-31T23:30:00Z', ['dob-not-utc-midnight']),
    p('Imani', 'Okoro', '2001-02-28T00:00:00-05:00', ['dob-not-utc-midnight', 'dob-with-offset']),
    p('Felix', 'Marchetti', '2017-12-14T15:08:59.934Z', ['dob-not-utc-midnight', 'dob-with-milliseconds']),
    p('Pieter', 'van der Berg', midnight('1972-09-09'), ['multi-word-surname']),
    p('Grace', 'Holloway', midnight('1983-11-30'), ['chart-number-with-space'], { chartNumber: 'NT 4471' }),
    p('Samuel', 'Okafor', midnight('1958-06-06'), ['chart-number-with-slash'], { chartNumber: '2019/0045' }),
    p('Lucille', 'Brandt', midnight('1940-04-18'), ['chart-number-with-hyphen'], { chartNumber: 'A-2231' }),
    p('Margaret', 'Ashford', midnight('1951-02-02'), ['locked-as-string'], { encounters: 'locked-strings' }),
    p('Vincent', 'Osei', midnight('1980-12-12'), ['day-boundary-encounters'], { encounters: 'day-boundary' }),
    p('Eleanor', 'Whitcombe', midnight('1946-07-25'), ['many-encounters'], { encounters: 'many' }),
  ],
  '1002': [
    p('Patrick', "O'Brien", midnight('1969-03-17'), ['apostrophe-name']),
    p('Gianna', "D'Angelo", midnight('1998-09-01'), ['apostrophe-name', 'middle-name-null'], { middleName: null }),
    p('Oliver', 'Smith-Jones', midnight('1977-05-05'), ['hyphenated-surname']),
    p('Anne-Marie', 'Kowalczyk', midnight('1964-10-31'), ['hyphenated-given-name']),
    p('Françoise', 'Lefèvre', midnight('1959-07-14'), ['diacritics', 'middle-name-absent'], { middleName: OMITTED }),
    p('Zoë', 'Núñez', midnight('2000-01-01'), ['diacritics']),
    p('José', 'Müller', midnight('1982-08-08'), ['diacritics']),
    p('Robert', 'Smith', midnight('1957-11-11'), ['shared-surname']),
    p('Linda', 'Smith', midnight('1963-03-08'), ['shared-surname', 'middle-name-empty'], { middleName: '' }),
    p('Evangeline', 'Thornbury', midnight('1975-09-23'), ['same-name-both-practices'], { middleName: 'Rose' }),
    p('Desmond', 'Achterberg', midnight('1970-06-21'), ['phone-null'], { homePhone: null }),
    p('Rosalind', 'Fairweather', midnight('1985-12-24'), ['phone-absent'], { homePhone: OMITTED }),
    p('Theodore', 'Blackwood', midnight('1948-02-29'), ['ssn-null'], { ssn: null }),
    p('Wilhelmina', 'Soto', midnight('1993-04-04'), ['no-encounters'], { encounters: 'none' }),
    p('Augustin', 'Pryce', midnight('1976-01-15'), ['no-encounters'], { encounters: 'none' }),
    p('Hana', 'Sato', '1988-07-07T05:00:00Z', ['dob-not-utc-midnight']),
    p('Elliot', 'Crane', '1955-01-01T23:30:00Z', ['dob-not-utc-midnight']),
    p('Maya', 'Castillo', '1999-10-10T00:00:00-05:00', ['dob-not-utc-midnight', 'dob-with-offset']),
    p('Owen', 'Tatum', '2015-06-01T09:41:12.250Z', ['dob-not-utc-midnight', 'dob-with-milliseconds']),
    p('Ana', 'De La Cruz', midnight('1991-05-16'), ['multi-word-surname', 'diacritics'], { middleName: 'Sofía' }),
    p('Curtis', 'Langford', midnight('1966-09-30'), ['chart-number-with-space'], { chartNumber: 'DR 0192' }),
    p('Ingrid', 'Halvorsen', midnight('1974-03-25'), ['chart-number-with-slash', 'day-boundary-encounters'], {
      chartNumber: '2018/0311',
      encounters: 'day-boundary',
    }),
    p('Rafael', 'Domingo', midnight('1960-11-19'), ['many-encounters'], { encounters: 'many' }),
  ],
};

/** Where the i-th fixed patient of a practice sits: spread out, not all on page one. */
export function edgePatientId(patientIdBase: number, index: number): number {
  return patientIdBase + 2 + index * 7;
}

/**
 * Every edge case with the patient that shows it (a patient may show several cases and a
 * case may have several patients). The >1 MB CCD is the earliest encounter of the
 * 'large-ccd' patient; 'locked-as-string' has the only `encounterLocked: "True"`.
 */
export const SANDBOX_EDGE_CASES: readonly SandboxEdgeCase[] = PRACTICE_SPECS.flatMap((practice) =>
  (EDGE_PATIENT_SPECS[practice.practiceId] ?? []).flatMap((spec, index) =>
    spec.cases.map((name) => ({
      case: name,
      practiceId: practice.practiceId,
      patientId: edgePatientId(practice.patientIdBase, index),
      name: `${spec.firstName} ${spec.lastName}`,
    })),
  ),
);

/** The fixtures of one case, optionally in one practice. */
export function edgeCases(name: SandboxEdgeCaseName, practiceId?: string): SandboxEdgeCase[] {
  return SANDBOX_EDGE_CASES.filter((e) => e.case === name && (practiceId === undefined || e.practiceId === practiceId));
}
