import { describe, expect, it } from 'vitest';
import { createSandbox, SANDBOX_PRACTICE_IDS } from '../../src/sandbox/app.ts';
import { SANDBOX_CATEGORIES } from '../../src/sandbox/categories.ts';
import { ccdFor } from '../../src/sandbox/ccd.ts';
import { buildSandboxData } from '../../src/sandbox/data.ts';
import { edgeCases, SANDBOX_EDGE_CASES, type SandboxEdgeCaseName } from '../../src/sandbox/edge-cases.ts';
import type { SandboxPatient, SandboxPractice } from '../../src/sandbox/types.ts';

const data = buildSandboxData();
const allPatients = data.practices.flatMap((practice) => practice.patients.map((patient) => ({ practice, patient })));
const patientById = new Map(allPatients.map((entry) => [entry.patient.patientId, entry]));

function fixture(name: SandboxEdgeCaseName, practiceId?: string): { practice: SandboxPractice; patient: SandboxPatient }[] {
  return edgeCases(name, practiceId).map((e) => {
    const entry = patientById.get(e.patientId);
    if (!entry || entry.practice.practiceId !== e.practiceId) throw new Error(`missing fixture ${name} ${e.patientId}`);
    return entry;
  });
}

describe('sandbox data', () => {
  it('has two practices with at least 200 patients each, sorted by patientId', () => {
    expect(data.practices.map((p) => p.practiceId)).toEqual([...SANDBOX_PRACTICE_IDS]);
    for (const practice of data.practices) {
      expect(practice.patients.length).toBeGreaterThanOrEqual(200);
      const ids = practice.patients.map((p) => p.patientId);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      expect(practice.doctors.length).toBeGreaterThanOrEqual(5);
    }
  });

  it('keeps patientIds, encounterIds and per-practice chart numbers unique', () => {
    expect(patientById.size).toBe(allPatients.length);
    const encounterIds = allPatients.flatMap(({ patient }) => patient.encounters.map((e) => e.summary.encounterId));
    expect(new Set(encounterIds).size).toBe(encounterIds.length);
    for (const practice of data.practices) {
      const charts = practice.patients.map((p) => p.json.chartNumber);
      expect(new Set(charts).size).toBe(charts.length);
    }
  });

  it('writes patients in the documented shape with synthetic identifiers', () => {
    for (const { patient } of allPatients) {
      const { json } = patient;
      expect(Object.keys(json).filter((k) => k !== 'middleName' && k !== 'homePhone')).toEqual(
        ['patientId', 'chartNumber', 'firstName', 'lastName', 'dob', 'ssn'],
      );
      expect(json.patientId).toBe(patient.patientId);
      expect(json.dob.slice(0, 10)).toBe(patient.birthDate);
      expect(Number.isNaN(Date.parse(json.dob))).toBe(false);
      if (json.ssn !== null) expect(json.ssn).toMatch(/^9\d{2}-\d{2}-\d{4}$/);
      if (typeof json.homePhone === 'string') expect(json.homePhone.replace(/\D/g, '')).toMatch(/^55555501\d{2}$/);
    }
  });

  it('lists every edge case on a patient of the named practice', () => {
    const names = new Set(SANDBOX_EDGE_CASES.map((e) => e.case));
    expect(names.size).toBe(25);
    for (const e of SANDBOX_EDGE_CASES) {
      const entry = patientById.get(e.patientId);
      expect(entry?.practice.practiceId).toBe(e.practiceId);
      expect(`${entry?.patient.json.firstName} ${entry?.patient.json.lastName}`).toBe(e.name);
    }
  });

  it('has the promised names, middle names, phones and chart numbers', () => {
    const lastNames = (name: SandboxEdgeCaseName) => fixture(name).map((f) => f.patient.json.lastName);
    expect(lastNames('apostrophe-name')).toEqual(expect.arrayContaining(["O'Brien", "D'Angelo"]));
    expect(lastNames('hyphenated-surname')).toContain('Smith-Jones');
    expect(fixture('hyphenated-given-name').map((f) => f.patient.json.firstName)).toContain('Mary-Kate');
    const names = fixture('diacritics').map((f) => `${f.patient.json.firstName} ${f.patient.json.lastName}`).join(' ');
    for (const part of ['Zoë', 'Núñez', 'José', 'Müller', 'Françoise']) expect(names).toContain(part);
    for (const { patient } of fixture('middle-name-absent')) expect('middleName' in patient.json).toBe(false);
    for (const { patient } of fixture('middle-name-null')) expect(patient.json.middleName).toBeNull();
    for (const { patient } of fixture('middle-name-empty')) expect(patient.json.middleName).toBe('');
    for (const { patient } of fixture('phone-null')) expect(patient.json.homePhone).toBeNull();
    for (const { patient } of fixture('phone-absent')) expect('homePhone' in patient.json).toBe(false);
    for (const { patient } of fixture('ssn-null')) expect(patient.json.ssn).toBeNull();
    expect(fixture('chart-number-with-space').every((f) => f.patient.json.chartNumber.includes(' '))).toBe(true);
    expect(fixture('chart-number-with-slash').every((f) => f.patient.json.chartNumber.includes('/'))).toBe(true);
    expect(fixture('chart-number-with-hyphen').map((f) => f.patient.json.chartNumber)).toEqual(['A-2231']);
  });

  it('has many patients sharing common surnames in each practice', () => {
    for (const practice of data.practices) {
      const smiths = practice.patients.filter((p) => p.json.lastName === 'Smith');
      expect(smiths.length).toBeGreaterThanOrEqual(3);
    }
    const johnSmiths = fixture('same-name-same-practice').map((f) => f.patient);
    expect(new Set(johnSmiths.map((p) => p.birthDate)).size).toBe(2);
  });

  it('puts the same name in both practices under different patientIds', () => {
    const [a, b] = fixture('same-name-both-practices');
    expect(a?.practice.practiceId).not.toBe(b?.practice.practiceId);
    expect(a?.patient.json.firstName).toBe(b?.patient.json.firstName);
    expect(a?.patient.json.lastName).toBe(b?.patient.json.lastName);
  });

  it('has dobs off UTC midnight whose written date is the birth date', () => {
    const dobs = fixture('dob-not-utc-midnight').map((f) => f.patient.json.dob);
    expect(dobs).toEqual(expect.arrayContaining(['1990-05-20T05:00:00Z', '1968-12-31T23:30:00Z',
      '2001-02-28T00:00:00-05:00', '2017-12-14T15:08:59.934Z']));
    for (const f of fixture('dob-not-utc-midnight')) expect(f.patient.birthDate).toBe(f.patient.json.dob.slice(0, 10));
  });

  it('gives encounter counts from 0 to 30 and several patients none', () => {
    for (const { patient } of allPatients) expect(patient.encounters.length).toBeLessThanOrEqual(30);
    for (const { patient } of fixture('no-encounters')) expect(patient.encounters).toEqual([]);
    expect(fixture('no-encounters').length).toBeGreaterThanOrEqual(3);
    for (const { patient } of fixture('many-encounters')) expect(patient.encounters).toHaveLength(30);
  });

  it('dates encounters between 2017-01-01 and 2026-10-31, sorted, after the birth date', () => {
    for (const { patient } of allPatients) {
      const instants = patient.encounters.map((e) => Date.parse(e.summary.encounterDate));
      expect(instants).toEqual(patient.encounters.map((e) => e.instant));
      expect(instants).toEqual([...instants].sort((a, b) => a - b));
      for (const e of patient.encounters) {
        expect(e.summary.encounterDate).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/);
        expect(e.summary.encounterDate >= '2017-01-01' && e.summary.encounterDate < '2026-11-01').toBe(true);
        expect(e.summary.encounterDate.slice(0, 10) >= patient.birthDate).toBe(true);
      }
    }
  });

  it('sends encounterLocked mostly as a boolean, sometimes as a string, once as "True"', () => {
    const values = allPatients.flatMap(({ patient }) => patient.encounters.map((e) => e.summary.encounterLocked));
    const strings = values.filter((v) => typeof v === 'string');
    expect(strings.length).toBeGreaterThan(0);
    expect(strings.length).toBeLessThan(values.length / 10);
    expect(strings.filter((v) => v === 'True')).toHaveLength(1);
    expect(new Set(strings)).toEqual(new Set(['True', 'true', 'false']));
  });

  it('leaves some departments and a designation null', () => {
    const summaries = allPatients.flatMap(({ patient }) => patient.encounters.map((e) => e.summary));
    expect(summaries.some((s) => s.department === null)).toBe(true);
    expect(summaries.some((s) => s.doctorProfessionalDesignation === null)).toBe(true);
    expect(new Set(summaries.map((s) => s.type))).toEqual(new Set(['New Patient', 'Office Visit', 'Follow-Up',
      'Consultation', 'Procedure', 'Post-Op', 'Telehealth']));
  });

  it('makes the large-ccd patient’s first encounter CCD larger than 1 MB', () => {
    const [large] = fixture('large-ccd');
    const encounter = large?.patient.encounters[0];
    if (!large || !encounter) throw new Error('no large-ccd encounter');
    const ccd = ccdFor(large.practice, large.patient, encounter);
    expect(Buffer.byteLength(ccd, 'utf8')).toBeGreaterThan(1024 * 1024);
  });

  it('grows only that CCD to about 3 MB with largeCcdResultRows: 25000, leaving everything else as it was', () => {
    const big = createSandbox({ largeCcdResultRows: 25_000 }).data;
    const [large] = fixture('large-ccd');
    const practice = big.practices.find((p) => p.practiceId === large?.practice.practiceId);
    const patient = practice?.patients.find((p) => p.patientId === large?.patient.patientId);
    const encounter = patient?.encounters[0];
    if (!practice || !patient || !encounter) throw new Error('no large-ccd encounter');
    const bytes = Buffer.byteLength(ccdFor(practice, patient, encounter), 'utf8');
    expect(bytes).toBeGreaterThan(2.5 * 1024 * 1024);
    expect(bytes).toBeLessThan(3.5 * 1024 * 1024);
    const rows = (d: typeof data) => d.practices.flatMap((p) => p.patients.flatMap((x) => x.encounters.map((e) => e.resultRows)));
    const before = rows(data);
    expect(rows(big).filter((r, i) => r !== before[i])).toEqual([25_000]);
  });

  it('is identical for two sandboxes with the default seed and differs for another seed', () => {
    const a = createSandbox().data;
    const b = createSandbox().data;
    expect(b).toEqual(a);
    const other = createSandbox({ seed: 42 }).data;
    expect(other).not.toEqual(a);
    // Fixtures keep their ids and names whatever the seed.
    for (const e of SANDBOX_EDGE_CASES) {
      const patient = other.practices.find((p) => p.practiceId === e.practiceId)?.patients.find((p) => p.patientId === e.patientId);
      expect(`${patient?.json.firstName} ${patient?.json.lastName}`).toBe(e.name);
    }
  });

  it('builds a sandbox in well under 300 ms', () => {
    createSandbox();
    const started = performance.now();
    createSandbox({ seed: 7 });
    expect(performance.now() - started).toBeLessThan(300);
  });

  it('uses only category names as CCD section headings', () => {
    const categories = new Set<string>(SANDBOX_CATEGORIES);
    for (const practice of data.practices) {
      for (const patient of practice.patients.slice(0, 40)) {
        for (const encounter of patient.encounters.slice(0, 2)) {
          const headings = [...ccdFor(practice, patient, encounter).matchAll(/<h2>([^<]*)<\/h2>/g)].map((m) => m[1]);
          expect(headings).toEqual([...SANDBOX_CATEGORIES]);
          for (const h of headings) expect(categories.has(h ?? '')).toBe(true);
        }
      }
    }
  });
});
