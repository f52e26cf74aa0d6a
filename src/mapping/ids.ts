/**
 * Resource id schemes. Nextech has no read-by-id endpoint, so an id carries what one
 * upstream call needs to find the record again, and the service keeps no state.
 *
 * Patient id = `{patientId}-{key}` when the key is plain (letters, digits, `-`, `.`), else
 * `{patientId}.{hex of the key's UTF-8 bytes}`. The key is the chart number (or, for a
 * patient without one, the last name). Reading it back searches Nextech with `term=key`
 * and keeps the row whose patientId matches; the key is only a locator, so a key shortened
 * to fit FHIR's 64-character id limit still works (Nextech matches names by substring).
 * The first non-digit character tells the two forms apart, so they never collide.
 */

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
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
}

function isPatientLike(x: unknown): x is PatientLike {
  return typeof x === 'object' && x !== null && typeof (x as { patientId?: unknown }).patientId === 'number';
}

/** The FHIR id of a Nextech patient record (see the module comment for the scheme). */
export function patientResourceId(record: unknown): string | undefined {
  if (!isPatientLike(record)) return undefined;
  const head = String(record.patientId);
  const key = (record.chartNumber ?? record.lastName ?? '').trim();
  if (key === '') return head;
  const room = 64 - head.length - 1;
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
