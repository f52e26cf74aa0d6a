/**
 * Patients as the other resources need them: a Patient by id (one upstream search by the
 * term its id carries, once per request), used to check a `patient` reference and for
 * `_include`; and the mapping of source patients to FHIR. The Patient module serves its
 * read and search with the same pieces.
 */
import type { Patient } from 'fhir/r4';
import { notFound } from '../fhir/outcome.ts';
import type { SourcePatient } from '../source/ehr-source.ts';
import { mappingContext, once, practiceIds, type RequestContext } from './context.ts';

/** Source patients as FHIR Patients, mapped for this request's practice. */
export function patientsOf(ctx: RequestContext, rows: SourcePatient[]): Patient[] {
  const mctx = mappingContext(ctx);
  return rows.map((row) => ctx.services.mappings.patient(row, mctx));
}

/**
 * Reads a Patient by id: one upstream search by the term the id carries, once per request
 * (other resources use it to check a `patient` reference and for `_include`). An id that
 * does not open (src/ids) is a 404 without any upstream call.
 */
export function readPatient(ctx: RequestContext, id: string): Promise<Patient> {
  return once(ctx, `Patient/${id}`, () => read(ctx, id));
}

async function read(ctx: RequestContext, id: string): Promise<Patient> {
  const loc = practiceIds(ctx).patient.open(id);
  if (!loc) throw notFound('Patient');
  const rows = await searchTerm(ctx, loc.term);
  const row = rows.find((r) => r.patientId === loc.patientId);
  const [patient] = row ? patientsOf(ctx, [row]) : [];
  // Only the id we issued for this record reads it back: another key for the same patientId is not an alias.
  if (!patient || patient.id !== id) throw notFound('Patient');
  return patient;
}

/** The source's patients for a search term, asked once per request. */
export const searchTerm = (ctx: RequestContext, term: string) =>
  once(ctx, `patient-search\u0000${term}`, () => ctx.services.source.findPatients(ctx.call, term));

