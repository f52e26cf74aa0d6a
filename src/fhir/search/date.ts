/**
 * FHIR R4 date search semantics: parsing a `date` search value (prefix + partial date or
 * dateTime), the implicit range of a stored date/dateTime/instant, whether a target range
 * matches a prefixed search value, and the window an upstream query can be narrowed to.
 * https://hl7.org/fhir/R4/search.html#date and https://hl7.org/fhir/R4/search.html#prefix
 *
 * Every value is a half-open range [start, end) of epoch milliseconds: `2013-01-14` is all
 * of that day, a dateTime to the second is that second, with a fraction that millisecond.
 *
 * Time zones. R4 says "Dates do not have time zones, and time zones should not be
 * considered. Where both search parameters and resource element date times do not have time
 * zones, the servers local time zone should be assumed." This facade's "local zone" is UTC,
 * on both sides: a date-only value (`1980-05-14`, stored or searched) is that calendar day in
 * UTC, so a birthDate `1980-05-14` always matches `eq1980-05-14` whatever zone the host runs
 * in. A time with an offset (`Z`, `+hh:mm`, `-hh:mm`) is honoured exactly. Nothing here
 * reads the machine's zone; there is no `Date` parsing at all, only arithmetic.
 */
import { invalidParam } from '../outcome.ts';

export type DatePrefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

/**
 * A half-open instant range [start, end) in epoch milliseconds (UTC). An open side of a
 * Period is `-Infinity` / `Infinity`.
 */
export interface DateRange {
  start: number;
  end: number;
}

export interface DateSearchValue {
  prefix: DatePrefix;
  /** the value as written, without prefix (a zone offset's `+` restored if it arrived as a space) */
  value: string;
  range: DateRange;
}

const PREFIXES: ReadonlySet<string> = new Set<DatePrefix>([
  'eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap',
]);
const isPrefix = (s: string): s is DatePrefix => PREFIXES.has(s);

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * The widest range `dateValueRange` can return: a leap year. Pass it as `maxTargetWidth`
 * to `candidateWindow` when the targets are single date/dateTime values, not Periods.
 */
export const SINGLE_VALUE_MAX_WIDTH = 366 * DAY_MS;

/**
 * `yyyy[-mm[-dd[Thh:mm[:ss[.fff]][zone]]]]`, "populated from the left ... the minutes SHALL
 * be present if an hour is present" (R4 search.html#date). The fraction may be 1-9 digits,
 * as in the dateTime type (datatypes.html#dateTime); only milliseconds are kept.
 */
const DATE_PATTERN =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

const FORMAT_HINT =
  'expected a date as YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.sss]][Z|+hh:mm|-hh:mm]';

type Parsed = { ok: true; range: DateRange } | { ok: false; why: string };
const ok = (start: number, end: number): Parsed => ({ ok: true, range: { start, end } });
const fail = (why: string): Parsed => ({ ok: false, why });

/** Midnight UTC of a calendar day; `setUTCFullYear` keeps years 1-99 literal (unlike Date.UTC). */
const utcMidnight = (year: number, month: number, day: number): number =>
  new Date(0).setUTCFullYear(year, month - 1, day);

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeap(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** The implicit range of a date or dateTime string, or why it is not one. */
function parseRange(text: string): Parsed {
  const m = DATE_PATTERN.exec(text);
  if (!m) return fail(FORMAT_HINT);
  const [, y, mo, d, hh, mi, ss, frac, zone] = m;
  const year = Number(y);
  if (year < 1) return fail('the year must be 0001-9999');
  if (mo === undefined) return ok(utcMidnight(year, 1, 1), utcMidnight(year + 1, 1, 1));
  const month = Number(mo);
  if (month < 1 || month > 12) return fail('the month must be 01-12');
  if (d === undefined) return ok(utcMidnight(year, month, 1), utcMidnight(year, month + 1, 1));
  const day = Number(d);
  if (day < 1 || day > daysInMonth(year, month)) return fail('that day does not exist in that month');
  const midnight = utcMidnight(year, month, day);
  if (hh === undefined || mi === undefined) return ok(midnight, midnight + DAY_MS);
  return timeRange(midnight, { hh, mi, ss, frac, zone });
}

interface TimeParts {
  hh: string;
  mi: string;
  ss: string | undefined;
  frac: string | undefined;
  zone: string | undefined;
}

/** The range of a time on a given UTC day: the minute, second or millisecond written. */
function timeRange(midnight: number, t: TimeParts): Parsed {
  const hour = Number(t.hh);
  const minute = Number(t.mi);
  // 24:00 is not a FHIR time (datatypes.html#time: hours 00-23).
  if (hour > 23) return fail('the hour must be 00-23');
  if (minute > 59) return fail('the minutes must be 00-59');
  const offset = zoneOffset(t.zone);
  if (offset === null) return fail('the time zone must be Z or +hh:mm/-hh:mm, at most 14:00');
  let start = midnight + (hour * 60 + minute) * MINUTE_MS - offset;
  if (t.ss === undefined) return ok(start, start + MINUTE_MS);
  const second = Number(t.ss);
  // No leap seconds: FHIR's time grammar allows 00-59 only.
  if (second > 59) return fail('the seconds must be 00-59');
  start += second * 1000;
  if (t.frac === undefined) return ok(start, start + 1000);
  start += Number(t.frac.slice(0, 3).padEnd(3, '0'));
  return ok(start, start + 1);
}

/**
 * Milliseconds to subtract from a local time to reach UTC; null for an impossible offset.
 * No zone at all counts as UTC: R4 only says a search time SHOULD carry one and leaves the
 * zone-less case to the server ("the servers local time zone should be assumed"), and this
 * server's zone is UTC (see the module header).
 */
function zoneOffset(zone: string | undefined): number | null {
  if (zone === undefined || zone === 'Z') return 0;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  // Same bounds as the dateTime regex: -14:00 .. +14:00.
  if (minutes > 59 || hours > 14 || (hours === 14 && minutes > 0)) return null;
  const sign = zone.startsWith('-') ? -1 : 1;
  return sign * (hours * 60 + minutes) * MINUTE_MS;
}

/** Splits off the two-letter prefix; "If no prefix is present, the prefix eq is assumed." */
function splitPrefix(paramName: string, raw: string): { prefix: DatePrefix; rest: string } {
  const letters = /^[A-Za-z]+/.exec(raw)?.[0];
  if (letters === undefined) return { prefix: 'eq', rest: raw };
  // A date never starts with a letter, so any leading letters must be exactly a prefix.
  if (!isPrefix(letters)) {
    throw invalidParam(
      paramName,
      `unknown prefix; expected one of ${[...PREFIXES].join(', ')}`,
    );
  }
  return { prefix: letters, rest: raw.slice(2) };
}

/**
 * Parses one date search value such as `ge2020-01`, `2021`, `lt2020-03-04T10:00:00+02:00`.
 * Throws invalidParam(paramName, why) for anything malformed: unknown prefix (e.g. `xx2020`),
 * impossible dates (2021-02-30, month 13), bad time, bad zone, empty value, trailing junk.
 * The diagnostics describe the fault without echoing the value (it may be a birth date).
 */
export function parseDateSearchValue(paramName: string, raw: string): DateSearchValue {
  const { prefix, rest } = splitPrefix(paramName, raw);
  // An unescaped `+02:00` in a query string decodes to ` 02:00` (form encoding); the space
  // cannot mean anything else there, so read it as the `+` the client wrote.
  const value = rest.replace(/(T[\d:.]+) (\d{2}:\d{2})$/, '$1+$2');
  if (value === '') throw invalidParam(paramName, `a date is required; ${FORMAT_HINT}`);
  const parsed = parseRange(value);
  if (!parsed.ok) throw invalidParam(paramName, parsed.why);
  return { prefix, value, range: parsed.range };
}

/**
 * The implicit range of a stored FHIR date/dateTime/instant value (`1980`, `1980-05`,
 * `1980-05-14`, `2020-01-02T10:00:00Z`, `2020-01-02T10:00:00.123-05:00`): a date covers its
 * whole period; a dateTime to the second covers that second (to the millisecond if ms are
 * given). Returns undefined if unparseable.
 */
export function dateValueRange(value: string): DateRange | undefined {
  const parsed = parseRange(value);
  return parsed.ok ? parsed.range : undefined;
}

const contains = (outer: DateRange, inner: DateRange): boolean =>
  outer.start <= inner.start && inner.end <= outer.end;

const overlaps = (a: DateRange, b: DateRange): boolean => a.start < b.end && b.start < a.end;

/**
 * The `ap` margin. R4 recommends "10% of the gap between now and the date" and leaves the
 * value to the system; here the gap runs from `now` to the nearest edge of the search range
 * (zero if `now` falls inside it), and the margin is never less than one day.
 */
function approxMargin(search: DateRange, now: number): number {
  const gap = now < search.start ? search.start - now : Math.max(0, now - search.end);
  return Math.max(DAY_MS, gap / 10);
}

/**
 * Whether a target range matches one search value, per the R4 prefix definitions
 * (search.html#prefix). `now` (epoch ms) is used by `ap`. "The range above the search
 * value" is read as [search.end, ∞) and "the range below" as (-∞, search.start), so `gt2020`
 * needs some of the target to lie in 2021 or later, and `ge` = `gt` or `eq` literally.
 */
export function matchesDate(target: DateRange, search: DateSearchValue, now: number): boolean {
  // R4 gives an instant "an effective width of 0"; give a degenerate range its millisecond
  // so that it still overlaps the range it sits in.
  const t = target.end > target.start ? target : { start: target.start, end: target.start + 1 };
  const s = search.range;
  switch (search.prefix) {
    case 'eq': // "the range of the search value fully contains the range of the target value"
      return contains(s, t);
    case 'ne': // "... does not fully contain the range of the target value"
      return !contains(s, t);
    case 'gt': // "the range above the search value intersects (i.e. overlaps) with the range of the target"
      return t.end > s.end;
    case 'lt': // "the range below the search value intersects (i.e. overlaps) with the range of the target"
      return t.start < s.start;
    case 'ge': // gt, "or the range of the search value fully contains the range of the target value"
      return t.end > s.end || contains(s, t);
    case 'le': // lt, "or the range of the search value fully contains the range of the target value"
      return t.start < s.start || contains(s, t);
    case 'sa': // no overlap, "and the range above the search value contains the range of the target"
      return t.start >= s.end;
    case 'eb': // no overlap, and the range below the search value contains the range of the target
      return t.end <= s.start;
    case 'ap': {
      const m = approxMargin(s, now);
      return overlaps({ start: s.start - m, end: s.end + m }, t);
    }
  }
}

/** Necessary conditions on a matching target [ts, te), gathered over AND-ed values. */
interface Bounds {
  endsAfter: number; // te > endsAfter
  startsBefore: number; // ts < startsBefore
  startsAtOrAfter: number; // ts >= startsAtOrAfter
  endsAtOrBefore: number; // te <= endsAtOrBefore
}

/** Tightens the bounds by what one value requires of any target it matches. */
function tighten(b: Bounds, v: DateSearchValue, now: number): void {
  const { start, end } = v.range;
  const endsAfter = (x: number) => void (b.endsAfter = Math.max(b.endsAfter, x));
  const startsBefore = (x: number) => void (b.startsBefore = Math.min(b.startsBefore, x));
  const startsAtOrAfter = (x: number) => void (b.startsAtOrAfter = Math.max(b.startsAtOrAfter, x));
  const endsAtOrBefore = (x: number) => void (b.endsAtOrBefore = Math.min(b.endsAtOrBefore, x));
  switch (v.prefix) {
    case 'eq':
      startsAtOrAfter(start);
      return endsAtOrBefore(end);
    case 'ne':
      return;
    case 'gt':
      return endsAfter(end);
    case 'lt':
      return startsBefore(start);
    case 'ge': // gt (te > end) or eq (start <= ts < te): either way te > start
      return endsAfter(start);
    case 'le': // lt (ts < start) or eq (ts < te <= end): either way ts < end
      return startsBefore(end);
    case 'sa':
      return startsAtOrAfter(end);
    case 'eb':
      return endsAtOrBefore(start);
    case 'ap': {
      const m = approxMargin(v.range, now);
      endsAfter(start - m);
      return startsBefore(end + m);
    }
  }
}

/** Options for `candidateWindow`. */
export interface CandidateWindowOptions {
  /**
   * The widest range a target can have. Default `Infinity`, right for Period targets;
   * pass `SINGLE_VALUE_MAX_WIDTH` when targets are single date/dateTime values, which lets
   * e.g. `ge2021&lt2020` be recognised as empty (only a Period can span both).
   */
  maxTargetWidth?: number;
}

/**
 * The smallest window [start, end) (either side may be unbounded: undefined) that a target
 * must overlap to possibly match ALL the given AND-ed values; used to narrow the upstream
 * query. `ne` adds no bound. Returns { empty: true } when the values cannot all match
 * anything (e.g. `eq2020&eq2021`, `sa2021&eb2020`; `ge2021&lt2020` only with
 * `maxTargetWidth`, since a Period from 2019 to 2022 matches both per R4).
 *
 * When the bounds cross (`gt2020-06-01T10:00Z&lt2020-06-01T10:01Z` is matched by the day
 * `2020-06-01`), only a target spanning the gap between them can match, and the window is
 * that gap.
 */
export function candidateWindow(
  values: DateSearchValue[],
  now: number,
  options: CandidateWindowOptions = {},
): { start?: number; end?: number; empty?: boolean } {
  const b: Bounds = {
    endsAfter: -Infinity,
    startsBefore: Infinity,
    startsAtOrAfter: -Infinity,
    endsAtOrBefore: Infinity,
  };
  for (const v of values) tighten(b, v, now);
  const { endsAfter: a, startsBefore: z, startsAtOrAfter: x, endsAtOrBefore: y } = b;
  const maxWidth = options.maxTargetWidth ?? Infinity;
  // Empty when no [ts, te) can meet all four bounds, or the target must span a gap wider
  // than any target can be.
  if (x >= z || a >= y || x >= y || (a >= z && a - z >= maxWidth)) return { empty: true };
  const [start, end] = a >= z ? [z, a + 1] : [Math.max(a, x), Math.min(z, y)];
  return {
    ...(Number.isFinite(start) ? { start } : {}),
    ...(Number.isFinite(end) ? { end } : {}),
  };
}
