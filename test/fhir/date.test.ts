// Golden cases for FHIR R4 date search (src/fhir/search/date.ts), kept as data and run by
// one loop, the fhirpath.js way. Every expected instant is written with an explicit `Z`, and
// `Date.parse` of such a string does not depend on the machine's zone, so these cases give
// the same answers under any TZ (vitest runs them under America/New_York).
// Examples marked "R4" are from https://hl7.org/fhir/R4/search.html#date.
import { describe, expect, it } from 'vitest';
import { FhirError } from '../../src/fhir/outcome.ts';
import {
  SINGLE_VALUE_MAX_WIDTH,
  candidateWindow,
  dateValueRange,
  matchesDate,
  parseDateSearchValue,
} from '../../src/fhir/search/date.ts';
import type { DatePrefix, DateRange } from '../../src/fhir/search/date.ts';

/** "now" for `ap`: noon UTC, 15 June 2024. */
const NOW = Date.parse('2024-06-15T12:00:00Z');

/** A stored value, or a Period as [start, end] with null for an open side. */
type Target = string | [string | null, string | null];

type GoldenCase =
  | { kind: 'match'; target: Target; search: string; expected: boolean; why?: string }
  | { kind: 'range'; value: string; expected: [string, string] | undefined }
  | { kind: 'parse'; raw: string; prefix: DatePrefix; value: string; range: [string, string] }
  | { kind: 'error'; raw: string; why: string }
  | {
      kind: 'window';
      values: string[];
      expected: { start?: string; end?: string } | 'empty';
      singleValues?: true;
    };

const match = (target: Target, search: string, expected: boolean, why?: string): GoldenCase => ({
  kind: 'match', target, search, expected, ...(why === undefined ? {} : { why }),
});

const matchCases: GoldenCase[] = [
  // eq: the search range fully contains the target range
  match('1980-05-14', 'eq1980-05-14', true, 'a birthDate matches its own day'),
  match('1980-05-14', '1980-05-14', true, 'no prefix means eq'),
  match('1980', 'eq1980-05', false, 'a year is not inside a month'),
  match('1980-05-14', 'eq1980-05', true, 'a day is inside its month'),
  match('1980-05-14', 'eq1980', true, 'a day is inside its year'),
  match('2013-01-14T00:00:00Z', 'eq2013-01-14', true, 'R4'),
  match('2013-01-14T10:00:00Z', 'eq2013-01-14', true, 'R4'),
  match('2013-01-15T00:00:00Z', 'eq2013-01-14', false, 'R4'),
  match('2013-01-14T23:59:59.999Z', 'eq2013-01-14', true, 'the last millisecond of the day'),
  match('2020-01-01T00:30:00+01:00', 'eq2019', true, 'the offset puts it in 2019 UTC'),
  match('2020-01-01T00:30:00+01:00', 'eq2020', false, 'the offset puts it in 2019 UTC'),
  match('2019-12-31T23:30:00-05:00', 'eq2020-01-01', true, 'the offset puts it in 2020 UTC'),
  match('2013-01-14T10:00:00+02:00', 'eq2013-01-14T08:00Z', true, 'a minute contains its seconds'),
  match('2020-01-02T10:00:30Z', 'eq2020-01-02T05:00-05:00', true, 'the search offset is honoured'),
  match('2020-01-02T10:00:30Z', 'eq2020-01-02T10:00', true, 'a zone-less search time is UTC'),
  match('2020-01-02T10:00:00Z', 'eq2020-01-02T10:00:00Z', true, 'the same second'),
  match('2020-01-02T10:00:00.123Z', 'eq2020-01-02T10:00:00Z', true, 'a second contains its ms'),
  match('2020-01-02T10:00:00Z', 'eq2020-01-02T10:00:00.000Z', false, 'a ms does not contain a second'),
  match('2020', 'eq2020-01-01T00:00Z', false, 'a year is not inside a minute'),
  // ne: not eq
  match('2013-01-15T00:00:00Z', 'ne2013-01-14', true, 'R4'),
  match('2013-01-14T00:00:00Z', 'ne2013-01-14', false, 'R4'),
  match('2013-01-14T10:00:00Z', 'ne2013-01-14', false, 'R4'),
  match('1980', 'ne1980-05', true, 'a year is not fully inside a month'),
  // gt: the range above the search value, [end, ∞), overlaps the target
  match('2020-12-31T23:59:59Z', 'gt2020', false, 'the last second of 2020 is not after 2020'),
  match('2021-01-01T00:00:00Z', 'gt2020', true, 'the first second of 2021'),
  match('2020', 'gt2020', false, 'a year is not after itself'),
  match('2020', 'gt2020-06', true, 'the year runs past June'),
  match('2013-01-14', 'gt2013-01-14T10:00', true, 'R4: the day includes time after 10am'),
  match('2020-12-31T23:59:59-01:00', 'gt2020', true, 'the offset puts it in 2021 UTC'),
  match('2021-01-01T00:30:00+01:00', 'gt2020', false, 'the offset puts it in 2020 UTC'),
  // lt: the range below the search value, (-∞, start), overlaps the target
  match('2013-01-14', 'lt2013-01-14T10:00', true, 'R4: the day includes time before 10am'),
  match('2020-01-01T00:00:00Z', 'lt2020', false, 'the first second of 2020 is not before 2020'),
  match('2019-12-31T23:59:59Z', 'lt2020', true, 'the last second of 2019'),
  match('2020-01-01T00:30:00+01:00', 'lt2020-01-01', true, 'the offset puts it in 2019 UTC'),
  match('1980', 'lt1980-05', true, 'the year begins before May'),
  match('1980-05', 'lt1980-05-14', true, 'the month begins before the 14th'),
  // ge: gt or eq
  match('1980', 'ge1980-05', true, 'R4: the year runs past May (gt), though not inside it'),
  match('1980-05-14', 'ge1980-05', true, 'inside the month (eq)'),
  match('1980-04-30', 'ge1980-05', false, 'before the month'),
  match('2020-01-01T00:00:00Z', 'ge2020-01-01', true, 'the first second of the day'),
  match('2019-12-31T23:59:59.999Z', 'ge2020', false, 'the last ms of 2019'),
  match(['2013-01-21', null], 'ge2013-03-14', true, 'R4: "from 21-Jan 2013 onwards"'),
  match(['2019-06', '2022-06'], 'ge2021', true, 'a Period running past 2021'),
  // le: lt or eq
  match('1980', 'le1980-05', true, 'the year begins before May'),
  match('1980-06-01', 'le1980-05', false, 'after the month'),
  match('1980-05-31T23:59:59Z', 'le1980-05', true, 'the last second of the month'),
  match(['2013-01-21', null], 'le2013-03-14', true, 'R4: "from 21-Jan 2013 onwards"'),
  match(['2019-06', '2022-06'], 'lt2020', true, 'a Period beginning before 2020'),
  // sa: entirely after the search range
  match(['2013-03-15', null], 'sa2013-03-14', true, 'R4: "from 15-Mar 2013 onwards"'),
  match(['2013-01-21', null], 'sa2013-03-14', false, 'R4: "from 21-Jan 2013 onwards"'),
  match([null, '2013-01-21'], 'sa2013-03-14', false, 'R4: "before and including 21-Jan 2013"'),
  match('2021-01-01T00:00:00Z', 'sa2020', true, 'the first second of 2021'),
  match('2020-12-31T23:59:59Z', 'sa2020', false, 'the last second of 2020'),
  match('2020', 'sa2020-06', false, 'the year overlaps June'),
  // eb: entirely before the search range
  match(['2013-03-15', null], 'eb2013-03-14', false, 'R4: "from 15-Mar 2013 onwards"'),
  match(['2013-01-21', null], 'eb2013-03-14', false, 'R4: "from 21-Jan 2013 onwards"'),
  match([null, '2013-01-21'], 'eb2013-03-14', true, 'R4: "before and including 21-Jan 2013"'),
  match([null, '2013-03-14'], 'eb2013-03-14', false, 'a Period end includes its whole day'),
  match('2019-12-31T23:59:59Z', 'eb2020', true, 'the last second of 2019'),
  match('2020-01-01T00:00:00Z', 'eb2020', false, 'the first second of 2020'),
  // ap: overlaps the search range widened by max(1 day, 10% of its distance from now)
  match('2013-03-14', 'ap2013-03-14', true, 'R4: exactly'),
  match('2013-01-21', 'ap2013-03-14', true, 'R4: near (11 years ago, so ~410 days either side)'),
  match('2015-06-15', 'ap2013-03-14', false, 'R4: not near'),
  match('2024-06-16', 'ap2024-06-15', true, 'today widens by the one-day minimum'),
  match('2024-06-17', 'ap2024-06-15', false, 'two days off is beyond the one-day minimum'),
  match('2024-06-14T00:00:00Z', 'ap2024-06-15', true, 'the first second of the day before'),
  match('2024-06-13T23:59:59Z', 'ap2024-06-15', false, 'the last second two days before'),
  match('2033-07-01', 'ap2034-06-15', true, 'ten years ahead, so ~365 days either side'),
  match('2033-06-01', 'ap2034-06-15', false, 'ten years ahead, so ~365 days either side'),
  // instants and crossed bounds
  match('2020-01-02T10:00:00.123-05:00', 'eq2020-01-02T15:00:00.123Z', true, 'the same ms'),
  match('2020-06-01', 'gt2020-06-01T10:00:00Z', true, 'the day runs past 10:00:00'),
  match('2020-06-01', 'lt2020-06-01T10:00:01Z', true, 'the day begins before 10:00:01'),
];

const range = (value: string, expected: [string, string] | undefined): GoldenCase => ({
  kind: 'range', value, expected,
});

const rangeCases: GoldenCase[] = [
  range('1980', ['1980-01-01T00:00:00Z', '1981-01-01T00:00:00Z']),
  range('1980-02', ['1980-02-01T00:00:00Z', '1980-03-01T00:00:00Z']),
  range('1980-02-29', ['1980-02-29T00:00:00Z', '1980-03-01T00:00:00Z']),
  range('1980-12', ['1980-12-01T00:00:00Z', '1981-01-01T00:00:00Z']),
  range('0001', ['0001-01-01T00:00:00Z', '0002-01-01T00:00:00Z']),
  range('0099-03-01', ['0099-03-01T00:00:00Z', '0099-03-02T00:00:00Z']),
  range('9999-12', ['9999-12-01T00:00:00Z', '+010000-01-01T00:00:00Z']),
  range('2020-01-02T10:00:00Z', ['2020-01-02T10:00:00Z', '2020-01-02T10:00:01Z']),
  range('2020-01-02T10:00:00.123-05:00', ['2020-01-02T15:00:00.123Z', '2020-01-02T15:00:00.124Z']),
  range('2020-01-02T10:00:00.1Z', ['2020-01-02T10:00:00.100Z', '2020-01-02T10:00:00.101Z']),
  range('2020-01-02T10:00:00.123456Z', ['2020-01-02T10:00:00.123Z', '2020-01-02T10:00:00.124Z']),
  range('2020-01-01T00:30:00+01:00', ['2019-12-31T23:30:00Z', '2019-12-31T23:30:01Z']),
  range('2020-03-01T00:00:00+14:00', ['2020-02-29T10:00:00Z', '2020-02-29T10:00:01Z']),
  range('2020-01-02T10:00Z', ['2020-01-02T10:00:00Z', '2020-01-02T10:01:00Z']),
  range('2020-01-02T10:00:00', ['2020-01-02T10:00:00Z', '2020-01-02T10:00:01Z']),
  range('1980-13', undefined),
  range('1981-02-29', undefined),
  range('0000', undefined),
  range('2020-01-02T24:00:00Z', undefined),
  range('2020-01-02 10:00:00Z', undefined),
  range('', undefined),
];

const parse = (raw: string, prefix: DatePrefix, value: string, r: [string, string]): GoldenCase => ({
  kind: 'parse', raw, prefix, value, range: r,
});

const parseCases: GoldenCase[] = [
  parse('2021', 'eq', '2021', ['2021-01-01T00:00:00Z', '2022-01-01T00:00:00Z']),
  parse('ge2020-01', 'ge', '2020-01', ['2020-01-01T00:00:00Z', '2020-02-01T00:00:00Z']),
  parse('lt2020-03-04T10:00:00+02:00', 'lt', '2020-03-04T10:00:00+02:00',
    ['2020-03-04T08:00:00Z', '2020-03-04T08:00:01Z']),
  // The same value after form decoding turned its unescaped `+` into a space.
  parse('lt2020-03-04T10:00:00 02:00', 'lt', '2020-03-04T10:00:00+02:00',
    ['2020-03-04T08:00:00Z', '2020-03-04T08:00:01Z']),
  parse('sa2020-03-04T10:00-14:00', 'sa', '2020-03-04T10:00-14:00',
    ['2020-03-05T00:00:00Z', '2020-03-05T00:01:00Z']),
  parse('ap2000-02-29', 'ap', '2000-02-29', ['2000-02-29T00:00:00Z', '2000-03-01T00:00:00Z']),
  parse('ne2020-12-31T23:59:59.999Z', 'ne', '2020-12-31T23:59:59.999Z',
    ['2020-12-31T23:59:59.999Z', '2021-01-01T00:00:00.000Z']),
];

const error = (raw: string, why: string): GoldenCase => ({ kind: 'error', raw, why });

const errorCases: GoldenCase[] = [
  error('xx2020', 'an unknown prefix'),
  error('GE2020', 'an upper-case prefix'),
  error('e2020', 'a one-letter prefix'),
  error('greater2020', 'a word for a prefix'),
  error('', 'an empty value'),
  error('ge', 'a prefix with no date'),
  error('ge 2020', 'a space after the prefix'),
  error('2021-02-30', 'a day that does not exist'),
  error('2021-02-29', '29 February outside a leap year'),
  error('2021-04-31', 'the 31st of a 30-day month'),
  error('2021-13', 'month 13'),
  error('2021-00', 'month 00'),
  error('2021-01-00', 'day 00'),
  error('0000', 'year 0000'),
  error('10000', 'a five-digit year'),
  error('20201', 'trailing digits'),
  error('2020-1-2', 'single-digit month and day'),
  error('2020-01-02x', 'trailing junk'),
  error('2020-01-02 ', 'a trailing space'),
  error('2020-01-02Z', 'a zone on a date'),
  error('2020-01-02T10', 'an hour without minutes'),
  error('2020-01-02T24:00', 'hour 24'),
  error('2020-01-02T23:60', 'minute 60'),
  error('2020-01-02T23:59:60Z', 'second 60'),
  error('2020-01-02T10:00:00.Z', 'an empty fraction'),
  error('2020-01-02T10:00:00Y', 'an unknown zone letter'),
  error('2020-01-02T10:00+2:00', 'a one-digit offset hour'),
  error('2020-01-02T10:00+0200', 'an offset without a colon'),
  error('2020-01-02T10:00+15:00', 'an offset beyond 14:00'),
  error('2020-01-02T10:00+14:30', 'an offset beyond 14:00'),
  error('2020-01-02T10:00+05:60', 'offset minutes of 60'),
];

const window = (
  values: string[],
  expected: { start?: string; end?: string } | 'empty',
  singleValues?: true,
): GoldenCase => ({ kind: 'window', values, expected, ...(singleValues ? { singleValues } : {}) });

const windowCases: GoldenCase[] = [
  window(['ge2020-01-01', 'lt2021-01-01'], { start: '2020-01-01T00:00:00Z', end: '2021-01-01T00:00:00Z' }),
  window(['gt2020'], { start: '2021-01-01T00:00:00Z' }),
  window(['ge2020'], { start: '2020-01-01T00:00:00Z' }),
  window(['lt2020'], { end: '2020-01-01T00:00:00Z' }),
  window(['le2020'], { end: '2021-01-01T00:00:00Z' }),
  window(['sa2020'], { start: '2021-01-01T00:00:00Z' }),
  window(['eb2020'], { end: '2020-01-01T00:00:00Z' }),
  window(['eq2020-05'], { start: '2020-05-01T00:00:00Z', end: '2020-06-01T00:00:00Z' }),
  window(['ne2020'], {}),
  window([], {}),
  window(['ne2020', 'ge2019'], { start: '2019-01-01T00:00:00Z' }),
  window(['sa2019', 'eb2021'], { start: '2020-01-01T00:00:00Z', end: '2021-01-01T00:00:00Z' }),
  window(['ge2020', 'le2020', 'ne2020-06'], { start: '2020-01-01T00:00:00Z', end: '2021-01-01T00:00:00Z' }),
  window(['ge2020', 'ge2022', 'lt2025', 'le2023'], { start: '2022-01-01T00:00:00Z', end: '2024-01-01T00:00:00Z' }),
  window(['ap2024-06-15'], { start: '2024-06-14T00:00:00Z', end: '2024-06-17T00:00:00Z' }),
  window(['eq2020-01-02T10:00:00+02:00'], { start: '2020-01-02T08:00:00Z', end: '2020-01-02T08:00:01Z' }),
  window(['eq2020', 'eq2021'], 'empty'),
  window(['sa2021', 'eb2020'], 'empty'),
  window(['sa2020', 'lt2020'], 'empty'),
  window(['ge2021', 'eb2021'], 'empty'),
  window(['gt2020', 'eq2020-06'], 'empty'),
  window(['ge2021', 'lt2020'], 'empty', true),
  // Only a Period spanning all of 2020 can match both (see the ['2019-06', '2022-06'] cases).
  window(['ge2021', 'lt2020'], { start: '2020-01-01T00:00:00Z', end: '2021-01-01T00:00:00.001Z' }),
  // A single day can span the gap between the bounds (see the '2020-06-01' match cases).
  window(['gt2020-06-01T10:00:00Z', 'lt2020-06-01T10:00:01Z'],
    { start: '2020-06-01T10:00:01Z', end: '2020-06-01T10:00:01.001Z' }, true),
];

const goldenCases: GoldenCase[] = [
  ...matchCases, ...rangeCases, ...parseCases, ...errorCases, ...windowCases,
];

const at = (iso: string): number => Date.parse(iso);
const span = ([start, end]: [string, string]): DateRange => ({ start: at(start), end: at(end) });

/** The range of a stored value, or of a Period: its start's start to its end's end. */
function targetRange(target: Target): DateRange {
  const must = (v: string): DateRange => {
    const r = dateValueRange(v);
    if (r === undefined) throw new Error(`bad fixture ${v}`);
    return r;
  };
  if (typeof target === 'string') return must(target);
  const [start, end] = target;
  return {
    start: start === null ? -Infinity : must(start).start,
    end: end === null ? Infinity : must(end).end,
  };
}

function title(c: GoldenCase): string {
  switch (c.kind) {
    case 'match': {
      const t = typeof c.target === 'string' ? c.target : `Period ${JSON.stringify(c.target)}`;
      return `${c.search} ${c.expected ? 'matches' : 'does not match'} ${t}${c.why ? ` (${c.why})` : ''}`;
    }
    case 'range':
      return c.expected ? `dateValueRange('${c.value}') covers [${c.expected.join(', ')})` : `dateValueRange('${c.value}') is undefined`;
    case 'parse':
      return `parses '${c.raw}' as ${c.prefix} [${c.range.join(', ')})`;
    case 'error':
      return `rejects '${c.raw}' (${c.why}) with 400`;
    case 'window':
      return `candidateWindow(${c.values.join('&') || 'nothing'}${c.singleValues ? ', single values' : ''}) is ${JSON.stringify(c.expected)}`;
  }
}

function run(c: GoldenCase): void {
  switch (c.kind) {
    case 'match':
      expect(matchesDate(targetRange(c.target), parseDateSearchValue('date', c.search), NOW)).toBe(c.expected);
      return;
    case 'range':
      expect(dateValueRange(c.value)).toEqual(c.expected && span(c.expected));
      return;
    case 'parse':
      expect(parseDateSearchValue('date', c.raw)).toEqual({ prefix: c.prefix, value: c.value, range: span(c.range) });
      return;
    case 'error': {
      const thrown: unknown = (() => {
        try {
          parseDateSearchValue('birthdate', c.raw);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(thrown).toBeInstanceOf(FhirError);
      expect((thrown as FhirError).status).toBe(400);
      expect((thrown as FhirError).outcome.issue[0]?.expression).toEqual(['birthdate']);
      return;
    }
    case 'window': {
      const values = c.values.map((v) => parseDateSearchValue('date', v));
      const options = c.singleValues ? { maxTargetWidth: SINGLE_VALUE_MAX_WIDTH } : {};
      const expected = c.expected === 'empty' ? { empty: true } : {
        ...(c.expected.start ? { start: at(c.expected.start) } : {}),
        ...(c.expected.end ? { end: at(c.expected.end) } : {}),
      };
      expect(candidateWindow(values, NOW, options)).toEqual(expected);
      return;
    }
  }
}

describe('FHIR R4 date search', () => {
  for (const c of goldenCases) it(title(c), () => run(c));
});
