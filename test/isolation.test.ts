import type { Bundle, Encounter, Patient } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { launch, SMART_ENV } from './helpers/smart.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService(SMART_ENV);
});
afterAll(() => svc.close());

/** The Nextech patient number in a Patient id or reference. */
const numberOf = (ref: string) => Number(/(?:^|Patient\/)(\d+)/.exec(ref)?.[1]);

describe('callers and practices never see each other’s data', () => {
  it('answers two patient-scoped callers of two practices, concurrently, each with only its own data', async () => {
    const a = await launch(svc, 'launch/patient patient/*.rs', { aud: `${svc.origin}/practices/1001/fhir`, pickQuery: 'smith' });
    const b = await launch(svc, 'launch/patient patient/*.rs', { aud: `${svc.origin}/practices/1002/fhir`, pickQuery: 'nguyen' });
    const callers = [
      { base: `${svc.origin}/practices/1001/fhir`, token: a.token },
      { base: `${svc.origin}/practices/1002/fhir`, token: b.token },
    ];
    expect(numberOf(a.token.patient ?? '')).not.toBe(numberOf(b.token.patient ?? ''));
    // Same queries from both at once: shared caches and coalesced calls must keep them apart.
    const work = Array.from({ length: 30 }, (_, i) => {
      const who = callers[i % 2];
      if (!who) throw new Error('no caller');
      const path = ['Patient?family=s', 'Encounter', 'DocumentReference?_summary=true'][i % 3] ?? '';
      return fhirFetch<Bundle>(`${who.base}/${path}`, { headers: { authorization: `Bearer ${who.token.access_token}` } }).then((r) => ({ who, r }));
    });
    for (const { who, r } of await Promise.all(work)) {
      expect(r.status).toBe(200);
      const own = numberOf(who.token.patient ?? '');
      for (const e of r.body.entry ?? []) {
        expect(e.fullUrl?.startsWith(who.base)).toBe(true);
        const res = e.resource as Patient | Encounter;
        const ref = res.resourceType === 'Patient' ? (res.id ?? '') : (res.subject?.reference ?? '');
        expect(numberOf(ref)).toBe(own);
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
        for (const e of r.body.entry ?? []) expect(ids(practice).has(numberOf((e.resource as Patient).id ?? ''))).toBe(true);
      }
    } finally {
      await pt.close();
    }
  });
});
