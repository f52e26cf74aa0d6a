import { describe, expect, it } from 'vitest';
import { termMatcher } from '../../src/sandbox/matching.ts';
import type { NextechPatient } from '../../src/sandbox/types.ts';

const nunez: NextechPatient = {
  patientId: 1, chartNumber: 'NT 4471', firstName: 'José', lastName: 'Núñez', middleName: 'Luis',
  dob: '1949-08-21T00:00:00Z', ssn: null, homePhone: null,
};
const obrien: NextechPatient = {
  patientId: 2, chartNumber: 'A10023', firstName: 'Siobhan', lastName: "O'Brien",
  dob: '1958-03-17T00:00:00Z', ssn: null,
};

// [term, patient, matches?]
const cases: [string, NextechPatient, boolean][] = [
  ['Nunez', nunez, true],
  ['NÚÑEZ', nunez, true],
  ['jose', nunez, true],
  ['uñe', nunez, true],
  ['luis', nunez, true],
  ['José Núñez', nunez, true],
  ['Nunez, Jose', nunez, true],
  ['nunez jose', nunez, true],
  ['  jose   nunez  ', nunez, true],
  ['Jose Luis Nunez', nunez, false],
  ['nt 4471', nunez, true],
  ['NT 447', nunez, false],
  ['4471', nunez, false],
  ["o'brien", obrien, true],
  ['OBrien', obrien, false],
  ['A10023', obrien, true],
  ['a10023', obrien, true],
  ['A1002', obrien, false],
  ['Siobhan O', obrien, true],
];

describe('termMatcher', () => {
  it.each(cases)('term %j against %s gives %s', (term, patient, expected) => {
    expect(termMatcher(term)?.(patient)).toBe(expected);
  });

  it('returns undefined for a blank term', () => {
    expect(termMatcher('')).toBeUndefined();
    expect(termMatcher('   ')).toBeUndefined();
  });
});
