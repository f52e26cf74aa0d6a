/**
 * zod schemas of the Nextech EHR API's JSON, tolerant of the documented quirks:
 * - `encounterLocked` is documented as a string but shown as a boolean: both are accepted
 *   and normalised to boolean;
 * - optional fields may be absent or null; empty strings are normalised to undefined;
 * - unknown extra fields are ignored (zod objects strip them).
 * Anything else that does not fit is an upstream fault (502), never a crash.
 */
import { z } from 'zod';

/** Optional upstream text: absent, null and "" all mean "no value". */
const optionalText = z
  .string()
  .nullish()
  .transform((v) => (v === null || v === undefined || v.trim() === '' ? undefined : v));

/** Integers documented as `integer`; tolerate numeric strings. */
const integerId = z.union([z.number().int(), z.string().regex(/^\d{1,15}$/).transform(Number)]);

/** An ISO-8601 date or date-time string, kept as written (callers decide how to read it). */
const isoDateText = z.string().regex(/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/, 'ISO date');

const lockedFlag = z.union([
  z.boolean(),
  z
    .string()
    .regex(/^(true|false)$/i)
    .transform((v) => v.toLowerCase() === 'true'),
]);

export const EhrPatientSchema = z.object({
  patientId: integerId,
  chartNumber: optionalText,
  firstName: optionalText,
  lastName: optionalText,
  middleName: optionalText,
  dob: isoDateText.nullish().transform((v) => v ?? undefined),
  ssn: optionalText,
  homePhone: optionalText,
});
export type EhrPatient = z.infer<typeof EhrPatientSchema>;

export const EhrEncounterSummarySchema = z.object({
  encounterId: integerId,
  doctorId: integerId.nullish().transform((v) => v ?? undefined),
  doctorFirstName: optionalText,
  doctorLastName: optionalText,
  doctorProfessionalDesignation: optionalText,
  department: optionalText,
  location: optionalText,
  encounterDate: isoDateText,
  type: optionalText,
  encounterLocked: lockedFlag.nullish().transform((v) => v ?? undefined),
});
export type EhrEncounterSummary = z.infer<typeof EhrEncounterSummarySchema>;

export const EhrEncounterSchema = z.object({
  summary: EhrEncounterSummarySchema,
  ccd: z.string().nullish().transform((v) => v ?? ''),
});
export type EhrEncounter = z.infer<typeof EhrEncounterSchema>;

export const EhrPatientListSchema = z.array(EhrPatientSchema);
export const EhrEncounterListSchema = z.array(EhrEncounterSchema);
export const EhrCategoryListSchema = z.array(z.string().min(1));
