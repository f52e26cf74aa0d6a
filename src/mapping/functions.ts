/**
 * The whitelist of named functions a mapping may call. Each takes the selected value (or the
 * whole record when the node has no `from`) and the per-request context, and returns a
 * value or undefined. Adding a function here is the only way to add logic to mappings.
 */
import type { PatientRecord } from '../ids/resource-ids.ts';
import * as directory from './directory-functions.ts';
import * as encounter from './encounter-functions.ts';
import type { MappingContext } from './context.ts';

export type { MappingContext } from './context.ts';

export type MappingFunction = (value: unknown, ctx: MappingContext) => unknown;

const DATE = /^(\d{4})-(\d{2})-(\d{2})/;

/** The calendar date as written at the start of an ISO date/date-time, never shifted by a zone. */
export function calendarDate(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = DATE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d] = m.map(Number) as [number, number, number, number];
  const check = new Date(Date.UTC(y, mo - 1, d));
  const valid = check.getUTCFullYear() === y && check.getUTCMonth() === mo - 1 && check.getUTCDate() === d;
  return valid && y >= 1 ? m[0] : undefined;
}

/** A FHIR instant (UTC, `Z`) from an ISO date-time; a value without a zone is read as UTC. */
export function instant(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(value) ? value : `${value}Z`;
  const ms = Date.parse(zoned);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function isPatientRecord(x: unknown): x is PatientRecord {
  return typeof x === 'object' && x !== null && typeof (x as { patientId?: unknown }).patientId === 'number';
}

/** The Patient id of a Nextech patient record (src/ids/patient-ids.ts). */
export function patientResourceId(record: unknown, ctx: MappingContext): string | undefined {
  return isPatientRecord(record) ? ctx.ids.patient.issue(record) : undefined;
}

export const mappingFunctions: Readonly<Record<string, MappingFunction>> = {
  calendarDate,
  instant,
  string: (v) => (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? String(v) : undefined),
  trim: (v) => (typeof v === 'string' ? v.trim() || undefined : undefined),
  patientResourceId,
  encounterResourceId: encounter.encounterResourceId,
  documentResourceId: encounter.documentResourceId,
  encounterReference: encounter.encounterReference,
  encounterStatus: encounter.encounterStatus,
  doctorDisplay: encounter.doctorDisplay,
  binaryUrl: encounter.binaryUrl,
  documentTitle: encounter.documentTitle,
  lockedDocStatus: encounter.lockedDocStatus,
  base64: encounter.base64,
  utf8Size: encounter.utf8Size,
  sha1Base64: encounter.sha1Base64,
  practitionerReference: directory.practitionerReference,
  locationReference: directory.locationReference,
  departmentReference: directory.departmentReference,
  practiceReference: directory.practiceReference,
  practitionerResourceId: directory.practitionerResourceId,
  locationResourceId: directory.locationResourceId,
  organizationResourceId: directory.organizationResourceId,
};
