/**
 * Resource id schemes. Nextech has no read-by-id endpoint, so an id carries what one
 * upstream call needs to find the record again, and the service keeps no state.
 *
 * Patient id = `{patientId}-{key}` when the key is plain (letters, digits, `-`, `.`), else
 * `{patientId}.{hex of the key's UTF-8 bytes}`. The key is the chart number (or, for a
 * patient without one, the last name). Reading it back searches Nextech with `term=key`
 * and keeps the row whose patientId matches; the key is only a locator, so a key shortened
 * to fit still works when it is a name (Nextech matches names by substring). Patient ids are
 * kept to 38 characters so that Encounter and DocumentReference ids, which embed them, fit
 * FHIR's 64 (see encounter-ids.ts); a chart number too long for that is replaced by the
 * last name.
 * The first non-digit character tells the two forms apart, so they never collide.
 */

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** The longest Patient id issued. */
export const MAX_PATIENT_ID_LENGTH = 38;
const PLAIN_KEY = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

export interface PatientLocator {
  patientId: number;
  /** The upstream search term that finds this patient. */
  term: string;
}

interface PatientLike {
  patientId: number;
  chartNumber?: string | undefined;
  lastName?: string | undefined;
  firstName?: string | undefined;
}

function isPatientLike(x: unknown): x is PatientLike {
  return typeof x === 'object' && x !== null && typeof (x as { patientId?: unknown }).patientId === 'number';
}

/** The FHIR id of a Nextech patient record (see the module comment for the scheme). */
export function patientResourceId(record: unknown): string | undefined {
  if (!isPatientLike(record)) return undefined;
  const head = String(record.patientId);
  const room = MAX_PATIENT_ID_LENGTH - head.length - 1;
  const chart = record.chartNumber?.trim() ?? '';
  // A chart number must fit whole (Nextech matches it exactly); a name may be cut short.
  const chartFits = chart !== '' && (PLAIN_KEY.test(chart) ? chart.length : Buffer.byteLength(chart, 'utf8') * 2) <= room;
  const key = chartFits ? chart : [record.lastName, record.firstName].map((k) => k?.trim() ?? '').find((k) => k !== '');
  // Nothing to search by: the id cannot be read back (documented; Nextech records have names).
  if (key === undefined) return head;
  if (PLAIN_KEY.test(key)) return `${head}-${key.slice(0, room)}`;
  // Keep whole characters, as many as fit.
  let taken = '';
  for (const ch of key) {
    if (Buffer.byteLength(taken + ch, 'utf8') * 2 > room) break;
    taken += ch;
  }
  return `${head}.${Buffer.from(taken, 'utf8').toString('hex')}`;
}

/** Reads a Patient id back into its locator; undefined if it cannot be one of ours. */
export function parsePatientId(id: string): PatientLocator | undefined {
  if (!FHIR_ID.test(id)) return undefined;
  const m = /^(\d{1,15})(?:([-.])(.+))?$/.exec(id);
  if (!m) return undefined;
  const patientId = Number(m[1]);
  const [sep, rest] = [m[2], m[3]];
  if (sep === undefined || rest === undefined) return undefined;
  if (sep === '-') return PLAIN_KEY.test(rest) ? { patientId, term: rest } : undefined;
  if (!/^(?:[0-9a-f]{2})+$/.test(rest)) return undefined;
  try {
    const term = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(rest, 'hex'));
    return term.trim() === '' ? undefined : { patientId, term };
  } catch {
    return undefined;
  }
}
