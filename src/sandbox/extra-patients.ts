/**
 * Patients added on request after a practice's generated ones, for load tests that need a
 * known shape: six patients sharing a surname, one with 45 encounters, one whose every
 * encounter carries a 1 MB or 3 MB CCD. They take the patient and encounter ids after the
 * practice's last generated ones, so every other patient, encounter and CCD stays exactly
 * as it was without them.
 */
import type { EdgePatientSpec } from './edge-cases.ts';

/** One extra patient. */
export interface ExtraPatientSpec {
  practiceId: string;
  firstName: string;
  lastName: string;
  /** ISO date-time of birth (default 1965-06-15, UTC midnight). */
  dob?: string;
  /** How many encounters it has, dated as usual (2017–2026). */
  encounters: number;
  /**
   * How many of them, the earliest first, carry a large CCD, and that CCD's Results rows
   * (10,000 is just over 1 MB, 25,000 about 3 MB); the others get ordinary CCDs.
   */
  largeCcds?: { count: number; resultRows: number };
}

const DEFAULT_DOB = '1965-06-15T00:00:00Z';
/** More than any load test needs, small enough that a typo cannot build gigabytes of CCDs. */
const MAX_ENCOUNTERS = 2_000;
const MAX_RESULT_ROWS = 500_000;

const isCount = (n: number, max: number): boolean => Number.isInteger(n) && n >= 0 && n <= max;

/** Throws a clear Error unless every spec can be built as written. */
export function assertExtraPatients(specs: readonly ExtraPatientSpec[], practiceIds: readonly string[]): void {
  for (const spec of specs) {
    const where = `Extra patient ${spec.firstName} ${spec.lastName}`;
    if (!practiceIds.includes(spec.practiceId)) throw new Error(`${where}: unknown practice ${spec.practiceId}.`);
    if (spec.firstName.trim() === '' || spec.lastName.trim() === '') throw new Error(`${where}: needs a first and a last name.`);
    if (!isCount(spec.encounters, MAX_ENCOUNTERS)) throw new Error(`${where}: encounters must be an integer from 0 to ${MAX_ENCOUNTERS}.`);
    const large = spec.largeCcds;
    if (large && (!isCount(large.count, spec.encounters) || !isCount(large.resultRows, MAX_RESULT_ROWS))) {
      throw new Error(`${where}: largeCcds.count must be at most its encounters, resultRows at most ${MAX_RESULT_ROWS}.`);
    }
  }
}

/** The fixed-patient spec and counted encounter plan an extra patient is built from. */
export function extraPatientSpec(spec: ExtraPatientSpec): EdgePatientSpec {
  return {
    cases: [],
    firstName: spec.firstName,
    lastName: spec.lastName,
    dob: spec.dob ?? DEFAULT_DOB,
    encounters: {
      encounters: spec.encounters,
      large: spec.largeCcds?.count ?? 0,
      largeResultRows: spec.largeCcds?.resultRows ?? 0,
    },
  };
}
