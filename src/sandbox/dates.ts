/**
 * Parsing of the encounter search's `start` and `end` query values. Nextech documents
 * them only as "date-time" ("Earliest/Latest date included in the search"), so the
 * sandbox accepts exactly these forms and answers 400 for anything else:
 *
 * - ISO date `2020-01-15`;
 * - ISO date-time with `Z` or a `±HH:MM` offset, `2020-01-15T14:30Z`,
 *   `2020-01-15T14:30:00.5-05:00` (a date-time without a zone is refused rather than
 *   guessed in some server zone; an unencoded `+` arrives as a space and is refused too);
 * - US `M-D-YYYY`, `1-15-2020` or `01-15-2020`.
 *
 * A date-only start means 00:00:00.000Z of that UTC day; a date-only end means the last
 * millisecond of that UTC day, because the end date is "included". A date-time is the
 * exact instant, included. Calendar checks are strict: `2021-02-29` is an error.
 */
import { DAY_MS } from './calendar.ts';

/** Which end of the range a value is for. */
export type BoundKind = 'start' | 'end';

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const US_DATE = /^(\d{1,2})-(\d{1,2})-(\d{4})$/;
const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

/** Midnight UTC of a real calendar date, or undefined (e.g. 2021-02-29). */
function utcDay(year: number, month: number, day: number): number | undefined {
  const ms = Date.UTC(year, month - 1, day);
  const d = new Date(ms);
  const valid = year >= 1 && d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day;
  return valid ? ms : undefined;
}

/** Offset of `Z` / `±HH:MM` in milliseconds east of UTC, or undefined if out of range. */
function offsetMs(zone: string): number | undefined {
  if (zone === 'Z') return 0;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (hours > 14 || minutes > 59) return undefined;
  return (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}

function parseDateTime(m: RegExpExecArray): number | undefined {
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const day = utcDay(Number(y), Number(mo), Number(d));
  const offset = offsetMs(zone ?? '');
  const [hours, minutes, seconds] = [Number(h), Number(mi), Number(s ?? '0')];
  if (day === undefined || offset === undefined || hours > 23 || minutes > 59 || seconds > 59) return undefined;
  // Sub-millisecond digits are dropped: encounter instants have millisecond precision.
  const millis = Number((frac ?? '0').padEnd(3, '0').slice(0, 3));
  return day + ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis - offset;
}

/**
 * The instant (epoch ms) a `start` or `end` value stands for, inclusive, or undefined
 * when the value is not one of the accepted forms.
 */
export function parseBound(value: string, kind: BoundKind): number | undefined {
  const dateTime = ISO_DATE_TIME.exec(value);
  if (dateTime) return parseDateTime(dateTime);
  const iso = ISO_DATE.exec(value);
  const us = iso ? undefined : US_DATE.exec(value);
  const day = iso
    ? utcDay(Number(iso[1]), Number(iso[2]), Number(iso[3]))
    : us
      ? utcDay(Number(us[3]), Number(us[1]), Number(us[2]))
      : undefined;
  if (day === undefined) return undefined;
  return kind === 'start' ? day : day + DAY_MS - 1;
}
