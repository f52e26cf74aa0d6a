/**
 * What a Patient id holds. Nextech has no read-by-id: it finds patients only by a search
 * `term` matched against the chart number (exactly) or the names (by substring), so the id
 * carries the Nextech patientId and a term that finds the row again — the chart number when
 * it fits, else the last name (or first name) cut to whole characters; a read keeps the row
 * whose patientId matches. Plaintext: varint(patientId) + the term's UTF-8 bytes.
 *
 * Every Encounter and DocumentReference id of the patient holds the same plaintext after
 * its own prefix (encounter-ids.ts), so the term is kept short enough for the longest
 * prefix (ENCOUNTER_PREFIX_BYTES) to fit too.
 */
import { MAX_PLAINTEXT_BYTES } from './sealer.ts';
import { isVarintValue, varintLength, writeVarint, type ByteReader } from './varint.ts';

export interface PatientLocator {
  patientId: number;
  /** The upstream search term that finds this patient ('' when there is none). */
  term: string;
}

/** The fields of a Nextech patient record an id is made from. */
export interface PatientRecord {
  patientId: number;
  chartNumber?: string | undefined;
  lastName?: string | undefined;
  firstName?: string | undefined;
}

/**
 * The longest prefix an encounter id puts before the patient's plaintext: varint of an
 * int32 encounter id (5) + varint of day×2+flag (3, until the year 4840) + section key (2).
 */
export const ENCOUNTER_PREFIX_BYTES = 5 + 3 + 2;

/** UTF-8 bytes the term may take for this patientId. */
export const termBudget = (patientId: number): number => MAX_PLAINTEXT_BYTES - ENCOUNTER_PREFIX_BYTES - varintLength(patientId);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const byteLength = (s: string) => encoder.encode(s).length;
const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** The longest prefix of `text` within `budget` UTF-8 bytes that ends on a character boundary. */
function cut(text: string, budget: number): string {
  let taken = '';
  for (const { segment } of graphemes.segment(text)) {
    if (byteLength(taken + segment) > budget) break;
    taken += segment;
  }
  if (taken !== '') return taken;
  // One user-perceived character longer than the budget (a long emoji sequence): whole code points.
  for (const ch of text) {
    if (byteLength(taken + ch) > budget) break;
    taken += ch;
  }
  return taken;
}

/** The locator of a record: its patientId and the term that finds it. Undefined without a usable patientId. */
export function locatePatient(record: PatientRecord): PatientLocator | undefined {
  const { patientId } = record;
  if (!isVarintValue(patientId)) return undefined;
  const budget = termBudget(patientId);
  const chart = record.chartNumber?.trim() ?? '';
  // A chart number must be whole (Nextech matches it exactly); a name may be cut (substring match).
  if (chart !== '' && byteLength(chart) <= budget) return { patientId, term: chart };
  const name = [record.lastName, record.firstName].map((n) => n?.trim() ?? '').find((n) => n !== '');
  // Nothing to search by: the id cannot be read back (documented; Nextech records have names).
  return { patientId, term: name === undefined ? '' : cut(name, budget) };
}

/** The plaintext of a locator; undefined when it cannot be one (an id would not fit). */
export function patientPlaintext(loc: PatientLocator): number[] | undefined {
  if (!isVarintValue(loc.patientId) || byteLength(loc.term) > termBudget(loc.patientId)) return undefined;
  const out: number[] = [];
  writeVarint(loc.patientId, out);
  out.push(...encoder.encode(loc.term));
  return out;
}

/** Reads a patient plaintext (the rest of `reader`); undefined when malformed or without a term. */
export function readPatientPlaintext(reader: ByteReader): PatientLocator | undefined {
  const patientId = reader.varint();
  if (patientId === undefined) return undefined;
  try {
    const term = decoder.decode(reader.rest());
    return term === '' ? undefined : { patientId, term };
  } catch {
    return undefined;
  }
}
