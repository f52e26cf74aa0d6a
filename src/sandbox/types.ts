/**
 * The shape of the sandbox's synthetic data. Patient and encounter-summary objects are
 * stored exactly as the Nextech API returns them (including documented quirks such as a
 * missing `middleName` key or `encounterLocked: "true"`), so tests can compare what went
 * over the wire with what the data says, byte for byte.
 */

/** A patient exactly as `GET /ehr/api/search` returns it. */
export interface NextechPatient {
  patientId: number;
  chartNumber: string;
  firstName: string;
  lastName: string;
  /** Some records omit the key entirely, some send null, some send "". */
  middleName?: string | null;
  /** ISO date-time; the calendar date as written is the birth date. */
  dob: string;
  ssn: string | null;
  /** Some records omit the key entirely, some send null. */
  homePhone?: string | null;
}

/** `summary` of one encounter, exactly as the encounter search returns it. */
export interface NextechEncounterSummary {
  encounterId: number;
  doctorId: number;
  doctorFirstName: string;
  doctorLastName: string;
  doctorProfessionalDesignation: string | null;
  department: string | null;
  location: string;
  /** ISO UTC date-time, sometimes with seconds or milliseconds. */
  encounterDate: string;
  type: string;
  /** Documented as a string; mostly sent as a boolean, sometimes as "true"/"false"/"True". */
  encounterLocked: boolean | string;
}

/** One element of the encounter search response. */
export interface NextechEncounter {
  summary: NextechEncounterSummary;
  ccd: string;
}

/** An encounter plus what the CCD generator needs to rebuild its document on demand. */
export interface SandboxEncounter {
  summary: NextechEncounterSummary;
  /** The encounterDate as epoch milliseconds, for range filtering and sorting. */
  instant: number;
  /** Seeds this encounter's visit-level CCD sections. */
  ccdSeed: number;
  /** Rows in the CCD's Results section (thousands for the one >1 MB CCD). */
  resultRows: number;
}

/** A patient of one practice with its encounters, sorted by encounterDate ascending. */
export interface SandboxPatient {
  patientId: number;
  /** The object the patient search returns, key order and omissions included. */
  json: NextechPatient;
  /** The intended birth date (YYYY-MM-DD): the calendar date written in `dob`. */
  birthDate: string;
  /** Seeds the patient-level CCD sections (allergies, medications, history...). */
  ccdSeed: number;
  encounters: SandboxEncounter[];
}

/** A clinician encounters can be attributed to. */
export interface SandboxDoctor {
  doctorId: number;
  firstName: string;
  lastName: string;
  professionalDesignation: string | null;
}

/** What kind of practice it is; steers the CCD's clinical content. */
export type SandboxSpecialty = 'ophthalmology' | 'dermatology';

/** One practice (one `x-nextech-practice-id`) and everything in it. */
export interface SandboxPractice {
  practiceId: string;
  name: string;
  specialty: SandboxSpecialty;
  departments: readonly string[];
  locations: readonly string[];
  doctors: SandboxDoctor[];
  /** Sorted by patientId. */
  patients: SandboxPatient[];
}

/** Everything the sandbox serves, generated from one seed. */
export interface SandboxData {
  seed: number;
  practices: SandboxPractice[];
}
