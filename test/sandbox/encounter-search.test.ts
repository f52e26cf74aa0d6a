import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_CATEGORIES } from '../../src/sandbox/categories.ts';
import { ccdFor } from '../../src/sandbox/ccd.ts';
import { findPatient, findPractice } from '../../src/sandbox/data.ts';
import { edgeCases, type SandboxEdgeCaseName } from '../../src/sandbox/edge-cases.ts';
import type { NextechEncounter, SandboxPatient, SandboxPractice } from '../../src/sandbox/types.ts';
import { anyString, startTestSandbox, type TestSandbox } from './helpers.ts';

describe('GET /ehr/api/{patientId}/encounters/search', () => {
  // "Now" falls on the boundary patient's second day, so an omitted end cuts there.
  const now = new Date('2021-03-15T12:00:00Z');
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await startTestSandbox({ now: () => now });
  });
  afterAll(() => sb.close());

  function fixture(name: SandboxEdgeCaseName, practiceId = '1001'): { practice: SandboxPractice; patient: SandboxPatient } {
    const [edge] = edgeCases(name, practiceId);
    const practice = findPractice(sb.sandbox.data, practiceId);
    const patient = edge && findPatient(sb.sandbox.data, practiceId, edge.patientId);
    if (!practice || !patient) throw new Error(`no ${name} fixture in ${practiceId}`);
    return { practice, patient };
  }

  async function encounters(patientId: number, query = '', practiceId = '1001'): Promise<NextechEncounter[]> {
    const res = await sb.get(`/${patientId}/encounters/search${query}`, { practiceId });
    expect(res.status).toBe(200);
    return (await res.json()) as NextechEncounter[];
  }
  const dates = (list: NextechEncounter[]): string[] => list.map((e) => e.summary.encounterDate);
  const boundary = (): number => fixture('day-boundary-encounters').patient.patientId;

  it('returns every encounter up to now with exact summaries and CCDs, oldest first', async () => {
    const { practice, patient } = fixture('many-encounters');
    const expected = patient.encounters.filter((e) => e.instant <= now.getTime());
    const body = await encounters(patient.patientId);
    expect(body.map((e) => e.summary)).toEqual(expected.map((e) => e.summary));
    expect(body.map((e) => e.ccd)).toEqual(expected.map((e) => ccdFor(practice, patient, e)));
    expect(expected.length).toBeLessThan(patient.encounters.length);
  });

  it('ends at the injected now when end is omitted', async () => {
    expect(dates(await encounters(boundary()))).toEqual(['2021-03-14T23:59:59.999Z', '2021-03-15T00:00:00Z', '2021-03-15T04:30:00Z']);
  });

  it('includes the whole UTC day of a date-only end', async () => {
    const body = await encounters(boundary(), '?start=2021-03-15&end=2021-03-15');
    expect(dates(body)).toEqual(['2021-03-15T00:00:00Z', '2021-03-15T04:30:00Z', '2021-03-15T23:59:59.999Z']);
  });

  it('reads M-D-YYYY dates, padded or not', async () => {
    expect(dates(await encounters(boundary(), '?start=3-15-2021&end=03-15-2021'))).toHaveLength(3);
  });

  it('uses a date-time as an exact, inclusive instant, honouring its offset', async () => {
    expect(dates(await encounters(boundary(), '?end=2021-03-15T04:30:00Z')).at(-1)).toBe('2021-03-15T04:30:00Z');
    const offset = encodeURIComponent('2021-03-15T00:00:00-05:00');
    expect(dates(await encounters(boundary(), `?start=${offset}&end=2030-01-01`))).toEqual([
      '2021-03-15T23:59:59.999Z', '2021-03-16T00:00:00Z', '2024-02-29T15:00:00Z',
    ]);
  });

  it('returns an empty array when start is after end', async () => {
    expect(await encounters(boundary(), '?start=2021-03-16&end=2021-03-14')).toEqual([]);
  });

  it('returns an empty array for a patient with no encounters', async () => {
    expect(await encounters(fixture('no-encounters').patient.patientId, '?end=2030-01-01')).toEqual([]);
  });

  it('returns only the named section, matched case-insensitively, after the header', async () => {
    const { practice, patient } = fixture('day-boundary-encounters');
    const body = await encounters(patient.patientId, '?section=vital%20SIGNS');
    expect(body).toHaveLength(3);
    body.forEach((e, i) => {
      const encounter = patient.encounters[i];
      if (!encounter) throw new Error('missing encounter');
      expect(e.ccd).toBe(ccdFor(practice, patient, encounter, 'Vital Signs'));
      expect([...e.ccd.matchAll(/<h2>([^<]*)<\/h2>/g)].map((m) => m[1])).toEqual(['Vital Signs']);
      expect(e.ccd).toContain(patient.json.chartNumber);
    });
  });

  it('sends a CCD over 1 MB intact', async () => {
    const { practice, patient } = fixture('large-ccd');
    const [first] = await encounters(patient.patientId, '?end=2030-01-01');
    const encounter = patient.encounters[0];
    if (!first || !encounter) throw new Error('missing large encounter');
    expect(Buffer.byteLength(first.ccd, 'utf8')).toBeGreaterThan(1024 * 1024);
    expect(first.ccd).toBe(ccdFor(practice, patient, encounter));
  });

  it('keeps diacritics intact in the CCD header', async () => {
    const { patient } = fixture('middle-name-absent');
    const [first] = await encounters(patient.patientId, '?end=2030-01-01');
    expect(first?.ccd).toContain('<td>Zoë Müller</td>');
  });

  it('returns 400 for a patientId that is not a positive integer', async () => {
    for (const id of ['0', '-5', 'abc', '1.5', '99999999999']) {
      const res = await sb.get(`/${id}/encounters/search`);
      expect(res.status, id).toBe(400);
    }
  });

  it('returns 404 for an unknown patient and for a patient of another practice', async () => {
    expect((await sb.get('/99999/encounters/search')).status).toBe(404);
    const other = fixture('many-encounters', '1002').patient.patientId;
    expect((await sb.get(`/${other}/encounters/search`, { practiceId: '1001' })).status).toBe(404);
    expect((await sb.get(`/${other}/encounters/search`, { practiceId: '1002' })).status).toBe(200);
  });

  it('returns 400 for a bad date, an unknown section or a repeated parameter', async () => {
    const queries = ['?start=2021-02-29', '?end=tomorrow', '?start=2021-03-15T10:00:00', '?end=2021-03-15T10:00:00+05:00',
      '?section=Vitals', '?start=2020-01-01&start=2021-01-01'];
    for (const query of queries) {
      const res = await sb.get(`/${boundary()}/encounters/search${query}`);
      expect(res.status, query).toBe(400);
      expect(await res.json()).toEqual({ message: anyString });
    }
  });
});

describe('GET /ehr/api/encounters/categories', () => {
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await startTestSandbox();
  });
  afterAll(() => sb.close());

  it('returns the section names', async () => {
    const res = await sb.get('/encounters/categories');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([...SANDBOX_CATEGORIES]);
  });
});
