// The Prefer header as FHIR uses it (src/fhir/prefer.ts): respond-async and handling, in one
// header or several (joined by commas), with parameters, quotes and case as clients send them.
import { describe, expect, it } from 'vitest';
import { preferences } from '../../src/fhir/prefer.ts';

const CASES: [string | undefined, ReturnType<typeof preferences>][] = [
  [undefined, { respondAsync: false }],
  ['', { respondAsync: false }],
  ['respond-async', { respondAsync: true }],
  ['Respond-Async', { respondAsync: true }],
  ['respond-async, handling=lenient', { respondAsync: true, handling: 'lenient' }],
  ['respond-async; handling=lenient', { respondAsync: true, handling: 'lenient' }],
  ['handling = "Lenient" , respond-async', { respondAsync: true, handling: 'lenient' }],
  ['respond-async, handling=strict', { respondAsync: true, handling: 'strict' }],
  // The first of a preference given twice counts (RFC 7240 §2); an unknown value is no preference.
  ['handling=strict, handling=lenient', { respondAsync: false, handling: 'strict' }],
  ['handling=sloppy, handling=lenient', { respondAsync: false, handling: 'lenient' }],
  ['return=minimal', { respondAsync: false }],
  ['respond-asynchronously', { respondAsync: false }],
  ['handling', { respondAsync: false }],
];

describe('preferences', () => {
  for (const [header, expected] of CASES) {
    it(`reads ${JSON.stringify(header)}`, () => {
      expect(preferences(header)).toEqual(expected);
    });
  }
});
