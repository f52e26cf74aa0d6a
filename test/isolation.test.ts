import type { Bundle, Encounter, Patient } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextechIdOf } from './helpers/expected.ts';
import { fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { launch, SMART_ENV } from './helpers/smart.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService(SMART_ENV);
});
afterAll(() => svc.close());

/** The Nextech patient number of the patient in a token's context (ids are opaque: its PI identifier). */
async function numberOf(base: string, token: { access_token: string; patient?: string }): Promise<number> {
  const { body } = await fhirFetch<Patient>(`${base}/Patient/${token.patient ?? ''}`, { headers: { authorization: `Bearer ${token.access_token}` } });
  return nextechIdOf(body);
}

describe('callers and practices never see each other’s data', () => {
  it('answers two patient-scoped callers of two practices, concurrently, each with only its own data', async () => {
    const a = await launch(svc, 'launch/patient patient/*.rs', { aud: `${svc.origin}/practices/1001/fhir`, pickQuery: 'smith' });
    const b = await launch(svc, 'launch/patient patient/*.rs', { aud: `${svc.origin}/practices/1002/fhir`, pickQuery: 'nguyen' });
    const callers = [
      { base: `${svc.origin}/practices/1001/fhir`, token: a.token },
      { base: `${svc.origin}/practices/1002/fhir`, token: b.token },
    ];
    const numbers = await Promise.all(callers.map((c) => numberOf(c.base, c.token)));
    expect(numbers[0]).not.toBe(numbers[1]);
    // Same queries from both at once: shared caches and coalesced calls must keep them apart.
    const work = Array.from({ length: 30 }, (_, i) => {
      const who = callers[i % 2];
      if (!who) throw new Error('no caller');
      const path = ['Patient?family=s', 'Encounter', 'DocumentReference?_summary=true'][i % 3] ?? '';
      return fhirFetch<Bundle>(`${who.base}/${path}`, { headers: { authorization: `Bearer ${who.token.access_token}` } }).then((r) => ({ who, r }));
    });
    for (const { who, r } of await Promise.all(work)) {
      expect(r.status).toBe(200);
      const own = numbers[callers.indexOf(who)];
      for (const e of r.body.entry ?? []) {
        expect(e.fullUrl?.startsWith(who.base)).toBe(true);
        const res = e.resource as Patient | Encounter;
        if (res.resourceType === 'Patient') {
          expect(res.id).toBe(who.token.patient);
          expect(nextechIdOf(res)).toBe(own);
        } else {
          expect(res.subject?.reference).toBe(`Patient/${who.token.patient ?? ''}`);
        }
      }
    }
  });

  it('answers two pass-through callers of two practices, concurrently, each from its own practice', async () => {
    const pt = await startTestService({ NEXTECH_AUTH: 'passthrough' });
    try {
      const tokens = [pt.sandbox.issueTokens().accessToken, pt.sandbox.issueTokens().accessToken];
      const practices = ['1001', '1002'];
      const ids = (practice: string) =>
        new Set(pt.sandbox.data.practices.find((p) => p.practiceId === practice)?.patients.map((p) => p.patientId));
      const work = Array.from({ length: 24 }, (_, i) => {
        const practice = practices[i % 2] ?? '';
        const token = tokens[Math.floor(i / 2) % 2] ?? '';
        return fhirFetch<Bundle>(`${pt.origin}/practices/${practice}/fhir/Patient?name=thornbury`, {
          headers: { authorization: `Bearer ${token}` },
        }).then((r) => ({ practice, r }));
      });
      for (const { practice, r } of await Promise.all(work)) {
        expect(r.status).toBe(200);
        expect(r.body.total).toBe(1);
        for (const e of r.body.entry ?? []) expect(ids(practice).has(nextechIdOf(e.resource as Patient))).toBe(true);
      }
    } finally {
      await pt.close();
    }
  });
});
