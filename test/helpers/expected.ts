/**
 * Independent expectations computed straight from the sandbox's data (not through the
 * facade's code), so a test compares what the service answered with what is true.
 */
import type { Bundle, Patient } from 'fhir/r4';
import type { Sandbox, SandboxPatient } from '../../src/sandbox/index.ts';

export const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

export function patientsOf(sandbox: Sandbox, practiceId: string): SandboxPatient[] {
  const practice = sandbox.data.practices.find((p) => p.practiceId === practiceId);
  if (!practice) throw new Error(`no practice ${practiceId}`);
  return practice.patients;
}

/** Nextech patient ids of the sandbox patients that satisfy `pred`, sorted. */
export function expectedIds(sandbox: Sandbox, practiceId: string, pred: (p: SandboxPatient) => boolean): number[] {
  return patientsOf(sandbox, practiceId)
    .filter(pred)
    .map((p) => p.patientId)
    .sort((a, b) => a - b);
}

/** The Nextech patient id a FHIR Patient carries (its PI identifier). */
export function nextechIdOf(p: Patient): number {
  const pi = p.identifier?.find((i) => i.type?.coding?.[0]?.code === 'PI');
  return Number(pi?.value);
}

/** Nextech patient ids in a searchset, sorted. */
export function idsIn(bundle: Bundle): number[] {
  return (bundle.entry ?? [])
    .filter((e) => e.search?.mode === 'match')
    .map((e) => nextechIdOf(e.resource as Patient))
    .sort((a, b) => a - b);
}
