// Micro-benchmarks of the facade's per-request hot paths (`npm run bench:unit`, i.e. `vitest
// bench --run`; `npm test` does not run them): the compiled mappings of mappings/*.map.yaml
// applied to sandbox records as the resources apply them, and the in-memory search filter
// (src/fhir/search/match.ts) over the mapped resources. Inputs are built once, outside the
// timed functions; each result is checked once before timing so a benchmark never measures
// a path that fails.
import type { Encounter, Patient } from 'fhir/r4';
import { bench, describe, expect } from 'vitest';
import { matchesAll } from '../../src/fhir/search/match.ts';
import { parseSearch } from '../../src/fhir/search/parse.ts';
import type { SearchParamDef } from '../../src/fhir/search/types.ts';
import { createResourceIds } from '../../src/ids/resource-ids.ts';
import type { MappingContext } from '../../src/mapping/functions.ts';
import { loadMappings } from '../../src/mapping/load.ts';
import { encounterSearchParams } from '../../src/resources/encounter/params.ts';
import { patientSearchParams } from '../../src/resources/patient/params.ts';
import { ccdFor, createSandbox, edgeCases } from '../../src/sandbox/index.ts';
import { EhrEncounterSchema, EhrPatientSchema } from '../../src/source/nextech/schemas.ts';

const PRACTICE = '1001';
const BASE = 'http://fhir.test/practices/1001/fhir';
const mappings = loadMappings();
const ids = createResourceIds('bench-only-resource-id-key-of-32-characters-or-more').forPractice(PRACTICE);
const data = createSandbox().data;
const practice = data.practices.find((p) => p.practiceId === PRACTICE);
if (!practice) throw new Error('no sandbox practice 1001');

const system = (kind: string) => `urn:nextech:practice:${PRACTICE}:${kind}`;
const base: MappingContext = {
  practiceId: PRACTICE,
  values: {
    practiceId: PRACTICE,
    chartNumberSystem: system('chart-number'),
    patientIdSystem: system('patient-id'),
    encounterIdSystem: system('encounter-id'),
    doctorIdSystem: system('doctor-id'),
    baseUrl: BASE,
    now: Date.parse('2026-11-30T12:00:00Z'),
    exposeSsn: false,
  },
  ids,
};

// Patients as the Nextech client hands them over (parsed by its zod schema).
const patientRows = practice.patients.map((p) => EhrPatientSchema.parse(p.json));
const sixRows = patientRows.slice(0, 6);

// The 30 encounters (with their CCDs) of the 'many-encounters' patient, and its context.
const manyId = edgeCases('many-encounters', PRACTICE)[0]?.patientId;
const many = practice.patients.find((p) => p.patientId === manyId);
if (!many) throw new Error('no many-encounters patient');
const encounterRows = many.encounters.map((e) => EhrEncounterSchema.parse({ summary: e.summary, ccd: ccdFor(practice, many, e) }));
const tenRows = encounterRows.slice(0, 10);
const patientId = ids.patient.issue(EhrPatientSchema.parse(many.json)) ?? '';
const locator = ids.patient.open(patientId);
if (!locator) throw new Error('the patient id does not open');
const encounterContext = (includeData: boolean): MappingContext => ({
  ...base,
  patient: locator,
  values: { ...base.values, patientResourceId: patientId, patientReference: `Patient/${patientId}`, includeData },
});
const withData = encounterContext(true);
const withoutData = encounterContext(false);

const defs = (list: readonly SearchParamDef[]) => new Map(list.map((d) => [d.name, d]));
const search = (type: string, list: readonly SearchParamDef[], query: [string, string][]) =>
  parseSearch(type, defs(list), query, { strict: false, baseUrl: BASE });

const allPatients: Patient[] = patientRows.map((r) => mappings.patient(r, base));
const familySearch = search('Patient', patientSearchParams, [['family', 'Smith']]);
const nameAndBirth = search('Patient', patientSearchParams, [['name', 'jo'], ['birthdate', 'ge1960-01-01'], ['gender', 'male,female,unknown']]);
const allEncounters: Encounter[] = encounterRows.map((r) => mappings.encounter(r, withData));
const dateWindow = search('Encounter', encounterSearchParams, [['patient', patientId], ['date', 'ge2019-01-01'], ['date', 'lt2024-07-01']]);
const NOW = Date.parse('2026-11-30T12:00:00Z');

// Each path answers as a search would, before it is timed.
expect(allPatients.filter((p) => matchesAll(p, familySearch.request.params, NOW)).length).toBeGreaterThan(0);
expect(allEncounters.filter((e) => matchesAll(e, dateWindow.request.params, NOW)).length).toBeGreaterThan(0);
expect(mappings.documentReference(tenRows[0], withData).content[0]?.attachment.data).toBeTypeOf('string');

describe('mapping (compiled mappings/*.map.yaml)', () => {
  bench('Patient: 6 rows (a search page)', () => {
    for (const r of sixRows) mappings.patient(r, base);
  });
  bench(`Patient: all ${patientRows.length} rows of a practice`, () => {
    for (const r of patientRows) mappings.patient(r, base);
  });
  bench('Encounter: 10 records (a page)', () => {
    for (const r of tenRows) mappings.encounter(r, withData);
  });
  bench(`Encounter: all ${encounterRows.length} records of a listing`, () => {
    for (const r of encounterRows) mappings.encounter(r, withData);
  });
  bench('DocumentReference: 10 records with the CCD as base64 data', () => {
    for (const r of tenRows) mappings.documentReference(r, withData);
  });
  bench('DocumentReference: 10 records without data (_summary)', () => {
    for (const r of tenRows) mappings.documentReference(r, withoutData);
  });
});

describe('search filter (src/fhir/search/match.ts)', () => {
  bench(`family=Smith over ${allPatients.length} Patients`, () => {
    for (const p of allPatients) matchesAll(p, familySearch.request.params, NOW);
  });
  bench(`name + birthdate + gender over ${allPatients.length} Patients`, () => {
    for (const p of allPatients) matchesAll(p, nameAndBirth.request.params, NOW);
  });
  bench(`patient + date window over ${allEncounters.length} Encounters`, () => {
    for (const e of allEncounters) matchesAll(e, dateWindow.request.params, NOW);
  });
  bench('parse a Patient search query', () => {
    search('Patient', patientSearchParams, [['family', 'Smith'], ['birthdate', 'ge1960-01-01'], ['_count', '10']]);
  });
});
