/**
 * Builds the whole `SandboxData` from one seed: both practices, their doctors, patients
 * (random plus the fixed edge cases, then any extra patients asked for) and encounters.
 * Each patient draws from its own random stream, so adding or moving one patient never
 * reshuffles the others. CCD documents are not stored; `ccd.ts` rebuilds them on demand
 * from the stored seeds.
 */
import { utcMidnight } from './calendar.ts';
import { EDGE_PATIENT_SPECS, edgePatientId, type EdgePatientSpec } from './edge-cases.ts';
import { generateEncounters } from './encounters.ts';
import { assertExtraPatients, extraPatientSpec, type ExtraPatientSpec } from './extra-patients.ts';
import { edgePatient, randomPatient } from './patients.ts';
import { PRACTICE_SPECS, type PracticeSpec } from './practices.ts';
import { createRng, mixSeed } from './random.ts';
import type { SandboxData, SandboxPatient, SandboxPractice } from './types.ts';

/** The seed used when none is given; any fixed number would do. */
export const DEFAULT_SEED = 20_240_601;

function fixedPatientsById(practice: PracticeSpec): Map<number, EdgePatientSpec> {
  const specs = EDGE_PATIENT_SPECS[practice.practiceId] ?? [];
  return new Map(specs.map((spec, i) => [edgePatientId(practice.patientIdBase, i), spec]));
}

/** Shapes of the data beyond the seed; every field has a default. */
export interface SandboxDataOptions {
  /** Results rows in the 'large-ccd' patient's big CCD (default 10,000: just over 1 MB; 25,000 is about 3 MB). */
  largeCcdResultRows?: number;
  /** Patients added after each practice's generated ones (default none); see extra-patients.ts. */
  extraPatients?: readonly ExtraPatientSpec[];
}

function buildPractice(seed: number, practice: PracticeSpec, options: SandboxDataOptions): SandboxPractice {
  const fixed = fixedPatientsById(practice);
  const extras = (options.extraPatients ?? []).filter((e) => e.practiceId === practice.practiceId).map(extraPatientSpec);
  let encounterId = practice.encounterIdBase;
  const patients: SandboxPatient[] = [];
  for (let index = 0; index < practice.patientCount + extras.length; index++) {
    const patientId = practice.patientIdBase + index + 1;
    const rng = createRng(mixSeed(seed, patientId));
    const spec = fixed.get(patientId) ?? extras[index - practice.patientCount];
    const json = spec
      ? edgePatient(rng, practice, index, patientId, spec)
      : randomPatient(rng, practice, index, patientId);
    // The calendar date as written, whatever time or offset follows it.
    const birthDate = json.dob.slice(0, 10);
    const encounters = generateEncounters(rng, {
      seed,
      practice,
      birthDay: utcMidnight(birthDate),
      plan: spec ? (spec.encounters ?? 'some') : 'random',
      nextEncounterId: () => ++encounterId,
      ...(options.largeCcdResultRows === undefined ? {} : { largeResultRows: options.largeCcdResultRows }),
    });
    patients.push({ patientId, json, birthDate, ccdSeed: mixSeed(seed, patientId, 7), encounters });
  }
  return {
    practiceId: practice.practiceId,
    name: practice.name,
    specialty: practice.specialty,
    departments: practice.departments,
    locations: practice.locations,
    doctors: practice.doctors.map((d) => ({ ...d })),
    patients,
  };
}

/** All sandbox data for a seed; the same seed (and options) always gives identical data. */
export function buildSandboxData(seed: number = DEFAULT_SEED, options: SandboxDataOptions = {}): SandboxData {
  assertExtraPatients(options.extraPatients ?? [], PRACTICE_SPECS.map((p) => p.practiceId));
  return { seed, practices: PRACTICE_SPECS.map((practice) => buildPractice(seed, practice, options)) };
}

/** A practice by id, or undefined. */
export function findPractice(data: SandboxData, practiceId: string): SandboxPractice | undefined {
  return data.practices.find((p) => p.practiceId === practiceId);
}

/** A patient of one practice by id, or undefined (patients never leak across practices). */
export function findPatient(data: SandboxData, practiceId: string, patientId: number): SandboxPatient | undefined {
  return findPractice(data, practiceId)?.patients.find((p) => p.patientId === patientId);
}
