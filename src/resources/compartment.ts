/**
 * Building blocks of the modules' compartment declarations: the upstream patient number
 * behind a `Patient/{id}` reference, opened with the practice's id codec (an altered id, or
 * one of another practice, belongs to nobody).
 */
import type { PracticeIds } from '../ids/resource-ids.ts';

/** The patient number a `Patient/{id}` reference names, if it opens. */
export function patientOfReference(ids: PracticeIds, ref: string | undefined): number | undefined {
  return ref?.startsWith('Patient/') ? ids.patient.open(ref.slice('Patient/'.length))?.patientId : undefined;
}
