import type { Bundle, Patient } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeCases } from '../src/sandbox/index.ts';
import { nextechIdOf } from './helpers/expected.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.close());

async function findOne(query: string, practiceBase = svc.fhir): Promise<Patient> {
  const { body } = await fhirFetch<Bundle>(`${practiceBase}/Patient?${query}`);
  const p = body.entry?.[0]?.resource as Patient | undefined;
  if (!p) throw new Error(`no patient for ${query}`);
  return p;
}

describe('Patient read', () => {
  it('reads a patient back by id with one upstream call', async () => {
    const found = await findOne('family=smith');
    svc.sandbox.resetCalls();
    const { status, body } = await fhirFetch<Patient>(`${svc.fhir}/Patient/${found.id}`);
    expect(status).toBe(200);
    expect(body).toEqual(found);
    expect(svc.sandbox.calls).toHaveLength(1);
  });

  it.each(['chart-number-with-space', 'chart-number-with-slash', 'chart-number-with-hyphen'] as const)(
    'reads back a patient whose chart number is %s',
    async (edge) => {
      const [c] = edgeCases(edge, '1001');
      const p = svc.sandbox.data.practices[0]?.patients.find((x) => x.patientId === c?.patientId);
      const found = await findOne(`identifier=${encodeURIComponent(p?.json.chartNumber ?? '')}`);
      expect(nextechIdOf(found)).toBe(c?.patientId);
      expect(found.id).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
      const { body } = await fhirFetch<Patient>(`${svc.fhir}/Patient/${found.id}`);
      expect(body.identifier?.[0]?.value).toBe(p?.json.chartNumber);
    },
  );

  it('maps the record as US Core expects', async () => {
    const [c] = edgeCases('dob-with-offset', '1001');
    const p = svc.sandbox.data.practices[0]?.patients.find((x) => x.patientId === c?.patientId);
    const found = await findOne(`identifier=${encodeURIComponent(p?.json.chartNumber ?? '')}`);
    expect(found.birthDate).toBe(p?.json.dob.slice(0, 10));
    expect(found.gender).toBe('unknown');
    expect(found.name?.[0]).toMatchObject({ family: p?.json.lastName, given: [p?.json.firstName, p?.json.middleName].filter(Boolean) });
    expect(found.identifier?.[0]).toMatchObject({ system: 'urn:nextech:practice:1001:chart-number', value: p?.json.chartNumber });
    expect(found.identifier?.[0]?.type?.coding?.[0]?.code).toBe('MR');
    // SSN is not exposed by default.
    expect(JSON.stringify(found)).not.toContain('us-ssn');
    if (p?.json.ssn) expect(JSON.stringify(found)).not.toContain(p.json.ssn);
  });

  it('leaves out a telecom when the phone is null or absent', async () => {
    for (const edge of ['phone-null', 'phone-absent'] as const) {
      const [c] = edgeCases(edge, '1001');
      const p = svc.sandbox.data.practices[0]?.patients.find((x) => x.patientId === c?.patientId);
      const found = await findOne(`identifier=${encodeURIComponent(p?.json.chartNumber ?? '')}`);
      expect(found.telecom).toBeUndefined();
    }
  });

  // Altered ids of every type are in test/resource-ids.test.ts.
  it.each([
    ['an unknown patient in the old format', '99999999-ZZZ'],
    ['a right patient number with another chart number, in the old format', ''],
    ['a malformed id', 'not_an_id'],
    ['a bare patient number', '12345'],
  ])('returns 404 for %s, before any upstream call', async (_label, id) => {
    let target = id;
    if (target === '') {
      const found = await findOne('family=smith');
      target = `${nextechIdOf(found)}-X0000`;
    }
    svc.sandbox.resetCalls();
    const { issue } = await expectOutcome(`${svc.fhir}/Patient/${target}`, 404);
    expect(issue.code).toBe('not-found');
    expect(issue.diagnostics).not.toContain(target);
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it('answers an id with ../ with a 4xx OperationOutcome', async () => {
    const res = await fetch(`${svc.fhir}/Patient/..%2F..%2Fetc%2Fpasswd`);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });
});

describe('practices', () => {
  it('serves each practice at its own base and keeps their patients apart', async () => {
    const a = await fhirFetch<Bundle>(`${svc.origin}/practices/1001/fhir/Patient?name=thornbury`);
    const b = await fhirFetch<Bundle>(`${svc.origin}/practices/1002/fhir/Patient?name=thornbury`);
    const idA = nextechIdOf(a.body.entry?.[0]?.resource as Patient);
    const idB = nextechIdOf(b.body.entry?.[0]?.resource as Patient);
    expect(edgeCases('same-name-both-practices', '1001').map((c) => c.patientId)).toContain(idA);
    expect(edgeCases('same-name-both-practices', '1002').map((c) => c.patientId)).toContain(idB);
    expect(a.body.entry?.[0]?.fullUrl).toMatch(new RegExp(`^${svc.origin}/practices/1001/fhir/Patient/`));
    // A patient of one practice is not readable through the other's base (nor asked for upstream).
    svc.sandbox.resetCalls();
    await expectOutcome(`${svc.origin}/practices/1002/fhir/Patient/${(a.body.entry?.[0]?.resource as Patient).id}`, 404);
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it('takes the practice from the header on /fhir, else from NEXTECH_PRACTICE_ID', async () => {
    const viaHeader = await fhirFetch<Bundle>(`${svc.fhir}/Patient?name=thornbury`, { headers: { 'x-nextech-practice-id': '1002' } });
    expect(edgeCases('same-name-both-practices', '1002').map((c) => c.patientId)).toContain(
      nextechIdOf(viaHeader.body.entry?.[0]?.resource as Patient),
    );
    const viaDefault = await fhirFetch<Bundle>(`${svc.fhir}/Patient?name=thornbury`);
    expect(edgeCases('same-name-both-practices', '1001').map((c) => c.patientId)).toContain(
      nextechIdOf(viaDefault.body.entry?.[0]?.resource as Patient),
    );
  });

  it('returns 400 when the header contradicts the practice in the path', async () => {
    await expectOutcome(`${svc.origin}/practices/1001/fhir/Patient?name=smith`, 400, { headers: { 'x-nextech-practice-id': '1002' } });
  });

  it('returns 400 for a malformed practice id and 403 for one Nextech does not know', async () => {
    await expectOutcome(`${svc.origin}/practices/bad$id/fhir/Patient?name=smith`, 400);
    const { issue } = await expectOutcome(`${svc.origin}/practices/9999/fhir/Patient?name=smith`, 403);
    expect(issue.code).toBe('forbidden');
  });

  it('sends the practice and a bearer token on every upstream call', async () => {
    svc.sandbox.resetCalls();
    await fhirFetch(`${svc.origin}/practices/1002/fhir/Patient?name=smith`);
    expect(svc.sandbox.calls).toHaveLength(1);
    expect(svc.sandbox.calls[0]).toMatchObject({ practiceId: '1002', status: 200 });
  });
});
