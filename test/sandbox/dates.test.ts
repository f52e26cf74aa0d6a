import { describe, expect, it } from 'vitest';
import { parseBound, type BoundKind } from '../../src/sandbox/dates.ts';

// [value, kind, expected ISO instant or undefined for a 400]
const cases: [string, BoundKind, string | undefined][] = [
  ['2020-01-15', 'start', '2020-01-15T00:00:00.000Z'],
  ['2020-01-15', 'end', '2020-01-15T23:59:59.999Z'],
  ['1-15-2020', 'start', '2020-01-15T00:00:00.000Z'],
  ['01-15-2020', 'end', '2020-01-15T23:59:59.999Z'],
  ['2-29-2024', 'start', '2024-02-29T00:00:00.000Z'],
  ['2020-01-15T14:30:00Z', 'start', '2020-01-15T14:30:00.000Z'],
  ['2020-01-15T14:30:00Z', 'end', '2020-01-15T14:30:00.000Z'],
  ['2020-01-15T14:30Z', 'end', '2020-01-15T14:30:00.000Z'],
  ['2020-01-15T14:30:00.5Z', 'start', '2020-01-15T14:30:00.500Z'],
  ['2020-01-15T14:30:00.123456Z', 'start', '2020-01-15T14:30:00.123Z'],
  ['2020-01-15T00:00:00-05:00', 'start', '2020-01-15T05:00:00.000Z'],
  ['2020-01-15T00:00:00+05:30', 'end', '2020-01-14T18:30:00.000Z'],
  ['2021-02-29', 'start', undefined],
  ['2020-13-01', 'start', undefined],
  ['13-1-2020', 'start', undefined],
  ['2020-01-15T14:30:00', 'start', undefined],
  ['2020-01-15T24:00:00Z', 'start', undefined],
  ['2020-01-15T00:00:00 05:00', 'start', undefined],
  ['2020-01-15T00:00:00+15:00', 'start', undefined],
  ['2020/01/15', 'start', undefined],
  ['20200115', 'start', undefined],
  ['yesterday', 'end', undefined],
  ['1579046400000', 'end', undefined],
];

describe('parseBound', () => {
  it.each(cases)('reads %j as a %s bound of %s', (value, kind, expected) => {
    const parsed = parseBound(value, kind);
    expect(parsed === undefined ? undefined : new Date(parsed).toISOString()).toBe(expected);
  });
});
