/**
 * The per-request values a mapping may read with `{ $context: name }`, declared once: the
 * loader accepts exactly these names (CONTEXT_KEYS), mapping functions read them typed
 * (MappingContext.values), and src/resources/context.ts builds a value of this type.
 */
import { z } from 'zod';
import type { PatientLocator, PracticeIds } from '../ids/resource-ids.ts';

export const MappingValuesSchema = z.object({
  practiceId: z.string(),
  /** Identifier systems, with the practice filled in. */
  chartNumberSystem: z.string(),
  patientIdSystem: z.string(),
  encounterIdSystem: z.string(),
  doctorIdSystem: z.string(),
  /** Whether the SSN is mapped at all (EXPOSE_SSN). */
  exposeSsn: z.boolean(),
  /** This request's FHIR base. */
  baseUrl: z.string(),
  /** The request's clock, ms since the epoch. */
  now: z.number(),
  // Per search, for encounter-based resources:
  patientResourceId: z.string().optional(),
  patientReference: z.string().optional(),
  section: z.string().optional(),
  includeData: z.boolean().optional(),
});
export type MappingValues = z.infer<typeof MappingValuesSchema>;

/** The names a mapping's `$context` may use. */
export const CONTEXT_KEYS: ReadonlySet<string> = new Set(Object.keys(MappingValuesSchema.shape));

/** What a mapping function is handed with each value: the request's values, its practice's ids. */
export interface MappingContext {
  practiceId: string;
  /** Named per-request values mappings may read with `{ $context: name }` (MappingValuesSchema). */
  values: Readonly<MappingValues>;
  /** This practice's resource ids (src/ids): the id functions issue them. */
  ids: PracticeIds;
  /** For encounter-based mappings: the patient the records belong to. */
  patient?: PatientLocator;
  /**
   * Set when the response streams its large values (fhir/deferred-base64.ts): `base64` hands
   * the text over and writes the marker returned, encoded only as the response is written.
   */
  deferBase64?: (text: string) => string;
}
