/**
 * The patients the benchmark adds to the sandbox (its `extraPatients` option), one role each:
 * six sharing a surname for the Patient search, one with 45 encounters, one with three ~3 MB
 * CCDs, one with ten ~1 MB CCDs, one with 150 encounters to page through. Surnames no
 * generated patient has, so a search by them finds exactly these.
 */
import { ccdFor, type ExtraPatientSpec, type SandboxData } from '../../sandbox/index.ts';

export const BENCH_PRACTICE = '1001';

/** Results rows for a CCD of about 1 MB and about 3 MB (sandbox encounters.ts). */
const ONE_MB_ROWS = 10_000;
const THREE_MB_ROWS = 25_000;

export const ROLES = ['fortyFive', 'threeBy3Mb', 'tenBy1Mb', 'paging'] as const;
export type Role = (typeof ROLES)[number];

const SIX_SURNAME = 'Quillfeather';
const SIX_GIVEN = ['Adela', 'Bertram', 'Corisande', 'Dorian', 'Evadne', 'Fitzroy'];

const ROLE_SPECS: Readonly<Record<Role, Omit<ExtraPatientSpec, 'practiceId'>>> = {
  fortyFive: { firstName: 'Perpetua', lastName: 'Wexcombe', encounters: 45 },
  threeBy3Mb: { firstName: 'Ottoline', lastName: 'Marchbanks', encounters: 3, largeCcds: { count: 3, resultRows: THREE_MB_ROWS } },
  tenBy1Mb: { firstName: 'Benedikt', lastName: 'Harrowgate', encounters: 10, largeCcds: { count: 10, resultRows: ONE_MB_ROWS } },
  paging: { firstName: 'Cressida', lastName: 'Penhaligon', encounters: 150 },
};

/** Every extra patient, in the order they are added. */
export const BENCH_PATIENTS: readonly ExtraPatientSpec[] = [
  ...SIX_GIVEN.map((firstName) => ({ practiceId: BENCH_PRACTICE, firstName, lastName: SIX_SURNAME, encounters: 2 })),
  ...ROLES.map((role) => ({ practiceId: BENCH_PRACTICE, ...ROLE_SPECS[role] })),
];

/** One bench patient as the sandbox built it. */
export interface BenchPatient {
  patientId: number;
  chartNumber: string;
  family: string;
  encounters: number;
  /** UTF-8 bytes of all its CCDs together (what the encounter search sends in `ccd`). */
  ccdBytes: number;
}

export interface BenchFixtures {
  practiceId: string;
  /** The surname six patients share (and nobody else has). */
  sixFamily: string;
  patients: Record<Role, BenchPatient>;
}

/** Finds the bench patients in the built sandbox data and measures their CCDs. */
export function benchFixtures(data: SandboxData): BenchFixtures {
  const practice = data.practices.find((p) => p.practiceId === BENCH_PRACTICE);
  if (!practice) throw new Error(`the sandbox has no practice ${BENCH_PRACTICE}`);
  const find = (role: Role): BenchPatient => {
    const spec = ROLE_SPECS[role];
    const patient = practice.patients.find((p) => p.json.lastName === spec.lastName && p.json.firstName === spec.firstName);
    if (!patient) throw new Error(`the sandbox lacks the bench patient for ${role}`);
    const ccdBytes = patient.encounters.reduce((n, e) => n + Buffer.byteLength(ccdFor(practice, patient, e), 'utf8'), 0);
    return { patientId: patient.patientId, chartNumber: patient.json.chartNumber, family: spec.lastName, encounters: patient.encounters.length, ccdBytes };
  };
  const patients = { fortyFive: find('fortyFive'), threeBy3Mb: find('threeBy3Mb'), tenBy1Mb: find('tenBy1Mb'), paging: find('paging') };
  return { practiceId: BENCH_PRACTICE, sixFamily: SIX_SURNAME, patients };
}
