// Accept-Encoding negotiation (src/routes/accept-encoding.ts) as a table: the header → the
// coding sent when br and gzip are offered (br preferred), and when only gzip is (static assets).
// https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3
import { describe, expect, it } from 'vitest';
import { chooseCoding, parseAcceptEncoding } from '../../src/routes/accept-encoding.ts';

/** [Accept-Encoding, coding of br+gzip, coding of gzip alone]; undefined: as it is. */
const cases: [string | undefined, string | undefined, string | undefined][] = [
  // No header, an empty one, identity alone: nothing.
  [undefined, undefined, undefined],
  ['', undefined, undefined],
  ['identity', undefined, undefined],
  // Equal weights: br, the first offered.
  ['gzip, br', 'br', 'gzip'],
  ['br, gzip', 'br', 'gzip'],
  ['gzip, deflate, br, zstd', 'br', 'gzip'],
  ['gzip, deflate', 'gzip', 'gzip'],
  ['x-gzip', 'gzip', 'gzip'],
  ['deflate', undefined, undefined],
  ['zstd, compress', undefined, undefined],
  // Weights decide.
  ['br;q=0.5, gzip', 'gzip', 'gzip'],
  ['br;q=1, gzip;q=0.999', 'br', 'gzip'],
  ['gzip;q=0.8, br;q=0.9', 'br', 'gzip'],
  ['br;q=0.001', 'br', undefined],
  // q=0 refuses.
  ['gzip;q=0', undefined, undefined],
  ['br;q=0, gzip', 'gzip', 'gzip'],
  ['br;q=0, gzip;q=0', undefined, undefined],
  ['br;q=0.000, gzip;q=0.0', undefined, undefined],
  // Listed twice: the refusal holds.
  ['gzip, gzip;q=0', undefined, undefined],
  // `*` stands for what is not listed.
  ['*', 'br', 'gzip'],
  ['*;q=0.5, br;q=0', 'gzip', 'gzip'],
  ['br;q=0, *', 'gzip', 'gzip'],
  ['*;q=0', undefined, undefined],
  ['*;q=0, identity', undefined, undefined],
  ['gzip, *;q=0', 'gzip', 'gzip'],
  // identity preferred over every offered coding: nothing.
  ['gzip;q=0.5, identity', undefined, undefined],
  ['gzip;q=0.5, identity;q=0.5', 'gzip', 'gzip'],
  ['br, identity;q=0', 'br', undefined],
  // Case, spaces, other parameters.
  ['GZIP;Q=1', 'gzip', 'gzip'],
  [' br ; q=0.7 ,  gzip ; q=0.6 ', 'br', 'gzip'],
  // Malformed weights drop the entry, not the header.
  ['br;q=2, gzip', 'gzip', 'gzip'],
  ['br;q=abc, gzip;q=0.5', 'gzip', 'gzip'],
  ['br;q=0.5000', undefined, undefined],
  ['br;q=-1', undefined, undefined],
  [',, ,', undefined, undefined],
];

describe('chooseCoding', () => {
  it.each(cases)('Accept-Encoding %j → %j (br, gzip offered), %j (gzip alone)', (header, both, gzipOnly) => {
    expect(chooseCoding(header, ['br', 'gzip'])).toBe(both);
    expect(chooseCoding(header, ['gzip'])).toBe(gzipOnly);
  });
});

describe('parseAcceptEncoding', () => {
  it('reads each coding with its weight, lower-cased, x-gzip as gzip', () => {
    expect(parseAcceptEncoding('br;q=0.5, X-GZIP, identity;q=0, *;q=0.1')).toEqual(
      new Map([
        ['br', 0.5],
        ['gzip', 1],
        ['identity', 0],
        ['*', 0.1],
      ]),
    );
  });
});
