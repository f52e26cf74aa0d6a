/**
 * Synthetic patient records: random ones from the name pools and fixed edge-case ones
 * from `edge-cases.ts`, both returned as the exact JSON object the patient search sends.
 * Identifiers are synthetic by construction: SSNs in the never-issued 9XX area and phone
 * numbers in the fictional 555-01XX block.
 */
import { DAY_MS, utcDate, utcMidnight } from './calendar.ts';
import { OMITTED, type EdgePatientSpec } from './edge-cases.ts';
import { GIVEN_NAMES, MIDDLE_NAMES, SURNAMES } from './names.ts';
import type { PracticeSpec } from './practices.ts';
import type { Rng } from './random.ts';
import type { NextechPatient } from './types.ts';

type Omittable<T> = T | typeof OMITTED;

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const EARLIEST_BIRTH = utcMidnight('1932-01-01');
const LATEST_BIRTH = utcMidnight('2020-12-31');

/** A 9XX-XX-XXXX number: the 900-999 area has never been issued. */
function syntheticSsn(rng: Rng): string {
  return `9${pad(rng.int(0, 99), 2)}-${pad(rng.int(1, 99), 2)}-${pad(rng.int(1, 9999), 4)}`;
}

/** A fictional 555-01XX number in one of the formats seen in real charts. */
function syntheticPhone(rng: Rng): string {
  const line = `01${pad(rng.int(0, 99), 2)}`;
  const formats = [`(555) 555-${line}`, `555-555-${line}`, `555.555.${line}`, `555555${line}`];
  return rng.pick(formats);
}

/**
 * A chart number unique within the practice: the index picks a disjoint numeric range,
 * then either a letter prefix (`A10023`) or a trailing digit (`100234`) is added.
 */
function chartNumber(rng: Rng, practice: PracticeSpec, index: number): string {
  const core = 10_000 + index * 41 + rng.int(0, 40);
  return rng.chance(0.6) ? `${rng.pick(practice.chartPrefixes)}${core}` : `${core}${rng.int(0, 9)}`;
}

/** Which of the four documented shapes a random patient's middle name takes. */
function randomMiddleName(rng: Rng): Omittable<string | null> {
  const r = rng.next();
  if (r < 0.55) return rng.pick(MIDDLE_NAMES);
  if (r < 0.75) return null;
  if (r < 0.88) return '';
  return OMITTED;
}

function randomPhone(rng: Rng): Omittable<string | null> {
  const r = rng.next();
  if (r < 0.84) return syntheticPhone(rng);
  return r < 0.93 ? null : OMITTED;
}

/** Builds the JSON object in the documented key order, leaving out OMITTED keys. */
function patientJson(fields: {
  patientId: number;
  chartNumber: string;
  firstName: string;
  lastName: string;
  middleName: Omittable<string | null>;
  dob: string;
  ssn: string | null;
  homePhone: Omittable<string | null>;
}): NextechPatient {
  const { middleName, homePhone } = fields;
  const json: NextechPatient = {
    patientId: fields.patientId,
    chartNumber: fields.chartNumber,
    firstName: fields.firstName,
    lastName: fields.lastName,
    middleName: middleName === OMITTED ? null : middleName,
    dob: fields.dob,
    ssn: fields.ssn,
    homePhone: homePhone === OMITTED ? null : homePhone,
  };
  if (middleName === OMITTED) delete json.middleName;
  if (homePhone === OMITTED) delete json.homePhone;
  return json;
}

/** A random patient: common names, a UTC-midnight dob, mostly complete identifiers. */
export function randomPatient(rng: Rng, practice: PracticeSpec, index: number, patientId: number): NextechPatient {
  const birth = EARLIEST_BIRTH + rng.int(0, (LATEST_BIRTH - EARLIEST_BIRTH) / DAY_MS) * DAY_MS;
  return patientJson({
    patientId,
    chartNumber: chartNumber(rng, practice, index),
    firstName: rng.pick(GIVEN_NAMES),
    lastName: rng.pick(SURNAMES),
    middleName: randomMiddleName(rng),
    dob: `${utcDate(birth)}T00:00:00Z`,
    ssn: rng.chance(0.92) ? syntheticSsn(rng) : null,
    homePhone: randomPhone(rng),
  });
}

/** A fixed edge-case patient; whatever the spec leaves open comes from the seed. */
export function edgePatient(
  rng: Rng,
  practice: PracticeSpec,
  index: number,
  patientId: number,
  spec: EdgePatientSpec,
): NextechPatient {
  const generatedChart = chartNumber(rng, practice, index);
  const ssn = syntheticSsn(rng);
  const phone = syntheticPhone(rng);
  return patientJson({
    patientId,
    chartNumber: spec.chartNumber ?? generatedChart,
    firstName: spec.firstName,
    lastName: spec.lastName,
    middleName: spec.middleName === undefined ? rng.pick(MIDDLE_NAMES) : spec.middleName,
    dob: spec.dob,
    ssn: spec.ssn === null ? null : ssn,
    homePhone: spec.homePhone === undefined ? phone : spec.homePhone,
  });
}
