/**
 * How often the facade asks Nextech for a patient's encounters (each answer carries every
 * CCD, so each call is expensive): once per patient and range while the cache window
 * lasts, never shared across practices or callers, and not at all for a request that is
 * wrong before it starts. Counted from the sandbox's own record of the calls it answered.
 */
import type { Bundle, DocumentReference, Encounter } from 'fhir/r4';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { docFetch, edgePatient, encounterSearches, idsOf, linkOf, matchesOf, type DocPatient } from './helpers/documents.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';

const ENCOUNTERS_2020 = 'date=ge2020-01-01&date=le2020-12-31';
const UPSTREAM_2020 = { start: '2020-01-01T00:00:00.000Z', end: '2020-12-31T23:59:59.999Z' };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const included = <T>(bundle: Bundle, type: string): T[] =>
  (bundle.entry ?? []).filter((e) => e.search?.mode === 'include' && e.resource?.resourceType === type).map((e) => e.resource as T);

describe('with the default cache window', () => {
  let svc: TestService;
  let many: DocPatient;
  beforeAll(async () => {
    svc = await startTestService();
    many = await edgePatient(svc.sandbox, svc.fhir, 'many-encounters');
  });
  afterAll(() => svc.close());
  beforeEach(() => svc.sandbox.resetCalls());
  const calls = () => encounterSearches(svc.sandbox.calls);

  it('follows next links and repeats a search with no upstream call at all: the patient check and the listing are both reused', async () => {
    const first = await fhirFetch<Bundle>(`${svc.fhir}/Encounter?patient=${many.id}&_count=10`);
    expect(first.status).toBe(200);
    const before = svc.sandbox.calls.length;
    expect(before).toBeGreaterThan(0);
    let next = linkOf(first.body, 'next');
    let pages = 0;
    while (next) {
      const page = await fhirFetch<Bundle>(next);
      expect(page.status).toBe(200);
      next = linkOf(page.body, 'next');
      pages++;
    }
    expect(pages).toBe(2);
    const again = await Promise.all(Array.from({ length: 20 }, () => fhirFetch<Bundle>(`${svc.fhir}/Encounter?patient=${many.id}&_count=10`)));
    expect(again.every((r) => r.status === 200)).toBe(true);
    expect(svc.sandbox.calls.length).toBe(before);
  });

  it('makes one encounter search for an Encounter search with its _revinclude, narrowed to the range', async () => {
    const { body } = await fhirFetch<Bundle>(
      `${svc.fhir}/Encounter?patient=${many.id}&date=ge2019-01-01&date=le2019-12-31&_revinclude=DocumentReference:encounter&_count=50`,
    );
    const inYear = many.patient.encounters.filter((e) => new Date(e.instant).getUTCFullYear() === 2019);
    expect(matchesOf<Encounter>(body)).toHaveLength(inYear.length);
    const docs = included<DocumentReference>(body, 'DocumentReference');
    expect(docs).toHaveLength(inYear.length);
    expect(calls()).toHaveLength(1);
    expect(calls()[0]?.query).toEqual({ start: '2019-01-01T00:00:00.000Z', end: '2019-12-31T23:59:59.999Z' });
  });

  it('shares one encounter search between Encounter search, DocumentReference search and $docref for the same range', async () => {
    const enc = await fhirFetch<Bundle>(
      `${svc.fhir}/Encounter?patient=${many.id}&${ENCOUNTERS_2020}&_revinclude=DocumentReference:encounter&_count=50`,
    );
    const search = await fhirFetch<Bundle>(`${svc.fhir}/DocumentReference?patient=${many.id}&${ENCOUNTERS_2020}&_count=50`);
    const op = await fhirFetch<Bundle>(`${svc.fhir}/DocumentReference/$docref`, {
      method: 'POST',
      headers: FORM,
      body: `patient=${many.id}&start=2020-01-01&end=2020-12-31&_count=50`,
    });
    const revIds = included<DocumentReference>(enc.body, 'DocumentReference').map((d) => d.id);
    expect(revIds.length).toBeGreaterThan(0);
    expect(idsOf(search.body)).toEqual(revIds);
    expect(idsOf(op.body)).toEqual(revIds);
    expect(calls()).toHaveLength(1);
    expect(calls()[0]?.query).toEqual(UPSTREAM_2020);
  });

  it('follows next pages of a DocumentReference search without calling Nextech again', async () => {
    let url: string | undefined = `${svc.fhir}/DocumentReference?patient=${many.id}&date=ge2017-06`;
    const seen: string[] = [];
    while (url) {
      const { body }: { body: Bundle } = await fhirFetch<Bundle>(url);
      seen.push(...idsOf(body));
      url = linkOf(body, 'next');
    }
    expect(seen).toHaveLength(many.patient.encounters.filter((e) => e.instant >= Date.parse('2017-06-01')).length);
    expect(seen.length).toBeGreaterThan(20);
    expect(calls()).toHaveLength(1);
  });

  it('never serves one practice what was fetched for another', async () => {
    const viaPath = (practice: string) =>
      fhirFetch<Bundle>(`${svc.origin}/practices/${practice}/fhir/DocumentReference?patient=${many.id}&date=2021`);
    const mine = await viaPath('1001');
    expect(mine.body.total).toBeGreaterThan(0);
    expect(calls().map((c) => c.practiceId)).toEqual(['1001']);
    // The same patient id through practice 1002 names nobody there (ids are sealed to their
    // practice): an empty answer, and nothing asked of Nextech for either practice.
    const other = await viaPath('1002');
    expect(other.status).toBe(200);
    expect(other.body.total).toBe(0);
    expect(calls().map((c) => c.practiceId)).toEqual(['1001']);
    const byHeader = await fhirFetch<Bundle>(`${svc.fhir}/DocumentReference?patient=${many.id}&date=2021`, {
      headers: { 'x-nextech-practice-id': '1002' },
    });
    expect(byHeader.body.total).toBe(0);
    expect(calls().every((c) => c.practiceId === '1001' || c.practiceId === '1002')).toBe(true);
    // And practice 1001 still gets its own answer back, from its own cache entry.
    expect((await viaPath('1001')).body.entry).toEqual(mine.body.entry);
    expect(calls().filter((c) => c.practiceId === '1001')).toHaveLength(1);
  });

  it.each([
    ['an invalid date', `DocumentReference?patient={p}&date=2021-02-30`, 'invalid'],
    ['an unknown date prefix', `Encounter?patient={p}&date=xx2021`, 'invalid'],
    ['a missing patient', `DocumentReference?date=ge2021`, 'required'],
    ['a missing patient on Encounter', `Encounter?date=ge2021&_revinclude=DocumentReference:encounter`, 'required'],
    ['_count=-1', `DocumentReference?patient={p}&_count=-1`, 'invalid'],
    ['a $docref start that is not a date', `DocumentReference/$docref?patient={p}&start=2021-02-30`, 'invalid'],
  ])('makes no upstream call at all for %s', async (_label, path, code) => {
    const { issue } = await expectOutcome(`${svc.fhir}/${path.replace('{p}', many.id)}`, 400);
    expect(issue.code).toBe(code);
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it('asks only for the section list, never for encounters, when the section is unknown', async () => {
    const { issue } = await expectOutcome(`${svc.fhir}/DocumentReference?patient=${many.id}&section=Tarot`, 400);
    expect(issue.diagnostics).toContain('Allergies');
    expect(calls()).toHaveLength(0);
    expect(svc.sandbox.calls.every((c) => c.path.endsWith('/encounters/categories'))).toBe(true);
  });
});

describe('with ENCOUNTER_CACHE_SECONDS=0', () => {
  let svc: TestService;
  let many: DocPatient;
  beforeAll(async () => {
    svc = await startTestService({ ENCOUNTER_CACHE_SECONDS: '0' });
    many = await edgePatient(svc.sandbox, svc.fhir, 'many-encounters');
  });
  afterAll(() => svc.close());
  beforeEach(() => svc.sandbox.resetCalls());
  const calls = () => encounterSearches(svc.sandbox.calls);

  it('calls Nextech again for the next page, so reuse really is the cache', async () => {
    const first = await fhirFetch<Bundle>(`${svc.fhir}/DocumentReference?patient=${many.id}`);
    expect(calls()).toHaveLength(1);
    await fhirFetch<Bundle>(linkOf(first.body, 'next') ?? '');
    expect(calls()).toHaveLength(2);
    expect(calls()[1]?.query).toEqual(calls()[0]?.query);
  });

  it('still makes one call per request, _revinclude included', async () => {
    const { body } = await fhirFetch<Bundle>(
      `${svc.fhir}/Encounter?patient=${many.id}&${ENCOUNTERS_2020}&_revinclude=DocumentReference:encounter&_include=Encounter:patient`,
    );
    expect(included(body, 'DocumentReference').length).toBeGreaterThan(0);
    expect(calls()).toHaveLength(1);
    await docFetch<Bundle>(`${svc.fhir}/DocumentReference/$docref?patient=${many.id}&start=2020-01-01&end=2020-12-31`);
    expect(calls()).toHaveLength(2);
  });
});

describe('in pass-through mode', () => {
  let svc: TestService;
  let many: DocPatient;
  const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
  let alice: string;
  let bob: string;
  beforeAll(async () => {
    svc = await startTestService({ NEXTECH_AUTH: 'passthrough' });
    alice = svc.sandbox.issueTokens().accessToken;
    bob = svc.sandbox.issueTokens().accessToken;
    many = await edgePatient(svc.sandbox, svc.fhir, 'many-encounters', '1001', as(alice));
  });
  afterAll(() => svc.close());
  beforeEach(() => svc.sandbox.resetCalls());
  const calls = () => encounterSearches(svc.sandbox.calls);
  const docs = (token: string) => fhirFetch<Bundle>(`${svc.fhir}/DocumentReference?patient=${many.id}&date=2022`, as(token));

  it('gives each caller token its own upstream call for the same query', async () => {
    expect(alice).not.toBe(bob);
    const a = await docs(alice);
    expect(a.status).toBe(200);
    expect(a.body.total).toBeGreaterThan(0);
    expect(calls()).toHaveLength(1);
    await docs(alice);
    expect(calls()).toHaveLength(1);
    const b = await docs(bob);
    expect(b.body.entry).toEqual(a.body.entry);
    expect(calls()).toHaveLength(2);
  });

  it("answers 401 to an invalid token even right after a valid caller's identical request was cached", async () => {
    expect((await docs(alice)).status).toBe(200);
    const res = await fetch(`${svc.fhir}/DocumentReference?patient=${many.id}&date=2022`, as('not-a-real-token'));
    const text = await res.text();
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(JSON.parse(text)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'login' }] });
    expect(text).not.toContain('DocumentReference/');
    const none = await fetch(`${svc.fhir}/DocumentReference?patient=${many.id}&date=2022`);
    expect(none.status).toBe(401);
  });

  it("answers 401 to an invalid token asking for a section, although a valid caller's section list is cached", async () => {
    expect((await fhirFetch<Bundle>(`${svc.fhir}/DocumentReference?patient=${many.id}&date=2022&section=Allergies`, as(alice))).status).toBe(200);
    const res = await fetch(`${svc.fhir}/DocumentReference?patient=${many.id}&section=Tarot`, as('not-a-real-token'));
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain('Allergies');
    expect(calls()).toHaveLength(1);
  });
});
