/**
 * What every CCD section renderer receives, and the few facts several sections share
 * (age at the visit, the patient's problem list, the reason for the visit). Shared facts
 * are drawn from their own seeded streams so that a section renders the same bytes
 * whether it is requested alone (`section=`) or as part of the full document.
 */
import { DAY_MS, utcMidnight } from './calendar.ts';
import { GENERAL_PROBLEMS, SPECIALTY_PROBLEMS, SPECIALTY_REASONS, type Coded } from './clinical-codes.ts';
import { createRng, hashString, mixSeed, type Rng } from './random.ts';
import type { SandboxEncounter, SandboxPatient, SandboxPractice } from './types.ts';

/** Inputs of one section renderer. */
export interface SectionContext {
  practice: SandboxPractice;
  patient: SandboxPatient;
  encounter: SandboxEncounter;
  /** Seeded per section: from the patient for history sections, else from the encounter. */
  rng: Rng;
}

/** Renders the body of one section (everything after its `<h2>`). */
export type SectionRenderer = (ctx: SectionContext) => string;

/** A random stream for one named fact of a patient or encounter. */
export function streamFor(baseSeed: number, name: string): Rng {
  return createRng(mixSeed(baseSeed, hashString(name)));
}

/** Whole years between the birth date and the instant, by UTC calendar. */
export function ageAt(birthDate: string, instant: number): number {
  const birth = new Date(utcMidnight(birthDate));
  const at = new Date(instant);
  let years = at.getUTCFullYear() - birth.getUTCFullYear();
  const beforeBirthday = at.getUTCMonth() < birth.getUTCMonth()
    || (at.getUTCMonth() === birth.getUTCMonth() && at.getUTCDate() < birth.getUTCDate());
  if (beforeBirthday) years -= 1;
  return Math.max(0, years);
}

/** A problem on the patient's list, with onset date and status. */
export interface ProblemEntry extends Coded {
  onset: number;
  status: 'Active' | 'Resolved';
}

/** The patient's problem list: the same for every encounter of the patient. */
export function patientProblems(practice: SandboxPractice, patient: SandboxPatient): ProblemEntry[] {
  const rng = streamFor(patient.ccdSeed, 'problem-list');
  const pool = [...SPECIALTY_PROBLEMS[practice.specialty]];
  const chosen = new Set<Coded>();
  for (let n = rng.int(1, 3); n > 0; n--) chosen.add(rng.pick(pool));
  for (let n = rng.int(0, 2); n > 0; n--) chosen.add(rng.pick(GENERAL_PROBLEMS));
  const firstSeen = patient.encounters[0]?.instant ?? utcMidnight('2017-01-01');
  const birth = utcMidnight(patient.birthDate);
  return [...chosen].map((problem) => ({
    ...problem,
    onset: Math.max(birth, firstSeen - rng.int(0, 3000) * DAY_MS),
    status: rng.chance(0.85) ? 'Active' : 'Resolved',
  }));
}

/** Why the patient came in: shared by Reason for Visit, Chief Complaint and HPI. */
export function visitReason(ctx: SectionContext): Coded {
  return streamFor(ctx.encounter.ccdSeed, 'visit-reason').pick(SPECIALTY_REASONS[ctx.practice.specialty]);
}
