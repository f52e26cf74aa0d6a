/**
 * UTC calendar helpers shared by the data generator and the CCD writer. Everything here
 * works on epoch milliseconds and UTC fields only, so output never depends on the
 * machine's time zone (tests run under TZ=America/New_York to prove it).
 */

export const DAY_MS = 86_400_000;

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `YYYY-MM-DD` of the UTC day containing the instant. */
export function utcDate(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/**
 * An ISO UTC date-time as Nextech writes it: milliseconds only when there are some
 * (`2021-03-15T14:30:00Z`, `2021-03-15T14:30:27.125Z`).
 */
export function utcDateTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

/** Epoch milliseconds of midnight UTC on a `YYYY-MM-DD` date. */
export function utcMidnight(date: string): number {
  return Date.parse(`${date}T00:00:00Z`);
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August',
  'September', 'October', 'November', 'December'];

/** A reader-friendly UTC date, e.g. `March 15, 2021`. */
export function longDate(ms: number): string {
  const d = new Date(ms);
  return `${MONTHS[d.getUTCMonth()] ?? ''} ${d.getUTCDate()}, ${d.getUTCFullYear()}`;
}

/** A reader-friendly UTC time, e.g. `14:30 UTC`. */
export function utcClock(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}
