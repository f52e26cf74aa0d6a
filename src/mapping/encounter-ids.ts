/**
 * Encounter and DocumentReference id scheme. Nextech reads encounters only per patient and
 * date range, so the id carries the Nextech encounter id, its UTC date and the Patient's
 * FHIR id: `{encounterId}.{yyyymmdd}.{patientId}` — e.g. `4711.20210315.10002-E10050`.
 * Reading it is one upstream call for that patient and that single day, and the Patient
 * reference comes from the id itself.
 *
 * A DocumentReference holding one CCD section (a search with `section`) adds `s` and the
 * first four hex digits of the SHA-1 of the lower-cased section name after the date:
 * `4711.20210315s3fa2.10002-E10050`, so it never shares an id with the whole document.
 * Patient ids are at most 38 characters (see ids.ts), so these stay within FHIR's 64.
 */
import { createHash } from 'node:crypto';
import { parsePatientId, type PatientLocator } from './ids.ts';

export interface EncounterLocator {
  encounterId: number;
  /** The encounter's UTC calendar date, `YYYY-MM-DD`. */
  date: string;
  /** The Patient's FHIR id, and how to find it upstream. */
  patientResourceId: string;
  patient: PatientLocator;
  /** Present on section documents: the section key (see sectionKey). */
  sectionKey?: string;
}

const ID = /^(\d{1,10})\.(\d{4})(\d{2})(\d{2})(?:s([0-9a-f]{4}))?\.([A-Za-z0-9\-.]+)$/;

/** Four hex digits naming a CCD section inside an id. */
export function sectionKey(section: string): string {
  return createHash('sha1').update(section.toLowerCase(), 'utf8').digest('hex').slice(0, 4);
}

/** The id of an encounter (or of its CCD document, with an optional section). */
export function encounterResourceIdOf(
  encounterId: number,
  encounterDate: string,
  patientResourceId: string,
  section?: string,
): string | undefined {
  const ms = Date.parse(encounterDate);
  if (Number.isNaN(ms)) return undefined;
  const day = new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
  const suffix = section === undefined ? '' : `s${sectionKey(section)}`;
  const id = `${encounterId}.${day}${suffix}.${patientResourceId}`;
  return id.length <= 64 ? id : undefined;
}

/** Reads an Encounter or DocumentReference id back; undefined if it cannot be one of ours. */
export function parseEncounterId(id: string): EncounterLocator | undefined {
  const m = ID.exec(id);
  if (!m || id.length > 64) return undefined;
  const [, enc, y, mo, d, key, patientResourceId] = m;
  const date = `${y}-${mo}-${d}`;
  const check = new Date(`${date}T00:00:00Z`);
  if (Number.isNaN(check.getTime()) || check.toISOString().slice(0, 10) !== date) return undefined;
  const patient = parsePatientId(patientResourceId ?? '');
  if (!patient || patientResourceId === undefined) return undefined;
  return { encounterId: Number(enc), date, patientResourceId, patient, ...(key ? { sectionKey: key } : {}) };
}
