/**
 * What Encounter and DocumentReference ids hold. Nextech lists encounters only per patient
 * and date range, so the id carries the Nextech encounter id, its UTC day and the patient's
 * locator (patient-ids.ts): a read is one upstream listing of that patient on that day, and
 * the `subject` is recomputed from the locator — the same id a Patient search returns.
 *
 * Plaintext: varint(encounterId) + varint(days since 1970-01-01 × 2 + hasSection)
 * + [2 bytes: the section key, with hasSection] + varint(patientId) + term.
 * A document holding one CCD section (a search with `section`) carries the first two bytes
 * of the SHA-1 of the lower-cased section name, so it never shares an id with the whole
 * document; the name itself is found again among Nextech's section list.
 */
import { createHash } from 'node:crypto';
import { patientPlaintext, readPatientPlaintext, type PatientLocator } from './patient-ids.ts';
import { ByteReader, isVarintValue, writeVarint } from './varint.ts';

/** What an encounter (or one of its CCD documents) id is made from. */
export interface EncounterKey {
  encounterId: number;
  /** The encounter's UTC calendar day, `YYYY-MM-DD`. */
  date: string;
  patient: PatientLocator;
}

/** An encounter's CCD, whole or one section of it. */
export interface DocumentKey extends EncounterKey {
  section?: string | undefined;
}

/** What an opened encounter or document id says. */
export interface EncounterContent {
  encounterId: number;
  date: string;
  patient: PatientLocator;
  /** On section documents: four hex digits naming the section (see sectionKey). */
  sectionKey?: string;
}

const DAY_MS = 86_400_000;
/** 9999-12-31: later days have no `YYYY-MM-DD`. */
const LAST_DAY = 2_932_896;
const SECTION_KEY_BYTES = 2;

const sectionKeyBytes = (section: string): Buffer =>
  createHash('sha1').update(section.toLowerCase(), 'utf8').digest().subarray(0, SECTION_KEY_BYTES);

/** Four hex digits naming a CCD section inside a document id. */
export const sectionKey = (section: string): string => sectionKeyBytes(section).toString('hex');

/** Days since 1970-01-01 of a `YYYY-MM-DD` UTC day; undefined for anything else (or before 1970). */
function dayNumber(date: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return new Date(ms).toISOString().slice(0, 10) === date && ms >= 0 ? ms / DAY_MS : undefined;
}

const dayText = (day: number): string => new Date(day * DAY_MS).toISOString().slice(0, 10);

/** The plaintext of an encounter or document; undefined when the key cannot make one. */
export function encounterPlaintext(key: DocumentKey): number[] | undefined {
  const day = dayNumber(key.date);
  const patient = patientPlaintext(key.patient);
  if (day === undefined || patient === undefined || !isVarintValue(key.encounterId)) return undefined;
  const out: number[] = [];
  writeVarint(key.encounterId, out);
  writeVarint(day * 2 + (key.section === undefined ? 0 : 1), out);
  if (key.section !== undefined) out.push(...sectionKeyBytes(key.section));
  out.push(...patient);
  return out;
}

/** Reads an encounter or document plaintext; undefined when malformed. */
export function readEncounterPlaintext(bytes: Uint8Array): EncounterContent | undefined {
  const reader = new ByteReader(bytes);
  const encounterId = reader.varint();
  const dayAndFlag = reader.varint();
  if (encounterId === undefined || dayAndFlag === undefined) return undefined;
  const day = Math.floor(dayAndFlag / 2);
  if (day > LAST_DAY) return undefined;
  const hasSection = dayAndFlag % 2 === 1;
  const section = hasSection ? reader.take(SECTION_KEY_BYTES) : undefined;
  if (hasSection && section === undefined) return undefined;
  const patient = readPatientPlaintext(reader);
  if (!patient) return undefined;
  return { encounterId, date: dayText(day), patient, ...(section ? { sectionKey: Buffer.from(section).toString('hex') } : {}) };
}
