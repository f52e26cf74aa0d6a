/**
 * Paging links (`first`, `next`, `previous`, and a POST search's `self`) are sealed cursors
 * (src/routes/page-cursors.ts, page-links.ts): no search value reaches a URL a client
 * follows; a link opens only for the caller and practice it was made for, unaltered and
 * until it expires, and what it opens to passes every access check again; clients that
 * follow links with their default settings (fhir-kit-client, fhirclient) keep working.
 * Expected pages are computed from the sandbox's data, not through the facade.
 */
import { randomBytes } from 'node:crypto';
import type { Bundle, DocumentReference, Encounter, OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';
import { createRequire } from 'node:module';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeCases, type SandboxPatient } from '../src/sandbox/index.ts';
import { MAX_URL_LENGTH } from '../src/routes/limits.ts';
import { encounterIdsIn, newestFirst, sandboxPatient } from './helpers/encounters.ts';
import { expectedIds, fold, idsIn, patientsOf } from './helpers/expected.ts';
import { expectOutcome, startTestService, type TestService } from './helpers/service.ts';
import { APP, launch, SMART_ENV, tokenCall, type TokenResponse } from './helpers/smart.ts';
import { assertValidFhir } from './helpers/validator.ts';

/**
 * fhirclient's Node entry (its package `main`), loaded as a Node program loads it. Its own
 * typings pull the DOM library into the whole compilation, so only what is used is typed here.
 */
const { FhirClient } = createRequire(import.meta.url)('fhirclient') as {
  FhirClient: new (fhirBaseUrl: string) => {
    fhirRequest(uri: string, options: RequestInit): Promise<unknown>;
    pages(bundle: unknown): AsyncIterable<unknown>;
  };
};

const P = '1001';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

let svc: TestService;
/** Thirty encounters from 2017 to 2026. */
let many: { patient: SandboxPatient; id: string };
/** Another patient with several encounters. */
let other: { patient: SandboxPatient; id: string };
beforeAll(async () => {
  svc = await startTestService(SMART_ENV);
  many = await located('many-encounters');
  other = await located('day-boundary-encounters');
});
afterAll(() => svc.close());

/** An edge-case patient of practice 1001 and its FHIR id, found by chart number (in a body). */
async function located(name: 'many-encounters' | 'day-boundary-encounters') {
  const patient = sandboxPatient(svc.sandbox, P, edgeCases(name, P)[0]?.patientId ?? 0);
  const { body } = await post('Patient/_search', `identifier=${encodeURIComponent(patient.json.chartNumber)}`);
  const id = body.entry?.[0]?.resource?.id ?? '';
  expect(idsIn(body)).toEqual([patient.patientId]);
  return { patient, id };
}

interface Answer {
  status: number;
  body: Bundle;
  /** The body as sent: links are checked in it too, not only once parsed. */
  text: string;
}

/** A FHIR request, checked like fhirFetch does (media type, valid FHIR), keeping the raw text. */
async function fetchFhir(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  expect(res.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
  const body = JSON.parse(text) as Bundle;
  assertValidFhir(body);
  return { status: res.status, body, text };
}

const post = (path: string, form: string, headers: Record<string, string> = {}) =>
  fetchFhir(`${svc.fhir}/${path}`, { method: 'POST', headers: { ...FORM, ...headers }, body: form });
const bearer = (t: TokenResponse) => ({ authorization: `Bearer ${t.access_token}` });
const linkOf = (b: Bundle, relation: string): string => b.link?.find((l) => l.relation === relation)?.url ?? '';
const cursorIn = (url: string) => new URL(url).searchParams.get('_cursor') ?? '';
/** A link that is nothing but a cursor, at `path` of the base. */
const cursorLink = (base: string, path: string) => new RegExp(`^${base.replace(/[.$]/g, '\\$&')}/${path.replace(/[.$]/g, '\\$&')}\\?_cursor=[A-Za-z0-9_-]+$`);

/**
 * No link of an answer carries any of `values`: in the raw text of its `link` array, in each
 * URL percent-decoded, or in the bytes of its cursor (encrypted, not the query in base64).
 */
function expectNoValues(a: Answer, values: readonly string[]): void {
  const raw = /"link":(\[[^\]]*\])/.exec(a.text)?.[1] ?? '';
  expect(raw).not.toBe('');
  const forms = (a.body.link ?? []).flatMap((l) => [l.url, decodeURIComponent(l.url), Buffer.from(cursorIn(l.url), 'base64url').toString('latin1')]);
  for (const text of [raw, ...forms]) for (const v of values) expect(text.toLowerCase()).not.toContain(v.toLowerCase());
}

/** Every page from `first` on, following `next`. */
async function pagesFrom(first: Answer, headers: Record<string, string> = {}): Promise<Answer[]> {
  const pages = [first];
  for (let next = linkOf(first.body, 'next'); next !== ''; next = linkOf(pages.at(-1)?.body ?? first.body, 'next')) {
    pages.push(await fetchFhir(next, { headers }));
  }
  return pages;
}

/** A refusal as an OperationOutcome that never repeats the cursor presented. */
async function refused(url: string, status: number, headers: Record<string, string> = {}): Promise<OperationOutcomeIssue> {
  const res = await expectOutcome(url, status, { headers });
  const cursor = cursorIn(url);
  if (cursor.length > 16) expect(JSON.stringify(res.body)).not.toContain(cursor.slice(8, 24));
  return (res.body as unknown as OperationOutcome).issue[0] ?? { severity: 'error', code: 'unknown' };
}

const smithsFrom1970 = () => expectedIds(svc.sandbox, P, (p) => fold(p.json.lastName).startsWith('smith') && p.birthDate >= '1970-01-01');

describe('POST _search keeps its values out of every link', () => {
  it('writes only cursors for a search by chart number, and its self and first links open the same page', async () => {
    const patient = patientsOf(svc.sandbox, P).find((p) => /^[A-Z]\d{4,}$/.test(p.json.chartNumber));
    const chart = patient?.json.chartNumber ?? '';
    const a = await post('Patient/_search', `identifier=${chart}`);
    expect(a.status).toBe(200);
    expect(idsIn(a.body)).toEqual(expectedIds(svc.sandbox, P, (p) => p.json.chartNumber.trim() === chart));
    expect(a.body.link?.map((l) => l.relation)).toEqual(['self', 'first']);
    for (const l of a.body.link ?? []) expect(l.url).toMatch(cursorLink(svc.fhir, 'Patient'));
    expectNoValues(a, [chart, 'identifier']);
    for (const relation of ['self', 'first']) {
      const again = await fetchFhir(linkOf(a.body, relation));
      expect(again.status).toBe(200);
      expect(again.body.entry).toEqual(a.body.entry);
      expectNoValues(again, [chart, 'identifier']);
    }
  });

  it('pages a search by name and birth date with next, previous and first links that carry none of its values', async () => {
    const want = smithsFrom1970();
    expect(want.length).toBeGreaterThan(2);
    const pages = await pagesFrom(await post('Patient/_search', 'family=smith&birthdate=ge1970&_count=2'));
    expect(pages).toHaveLength(Math.ceil(want.length / 2));
    expect(pages.flatMap((p) => idsIn(p.body)).sort((x, y) => x - y)).toEqual(want);
    for (const p of pages) {
      expect(p.status).toBe(200);
      expect(p.body.total).toBe(want.length);
      expectNoValues(p, ['smith', 'ge1970', '1970', 'family', 'birthdate']);
    }
    const [one, two] = pages;
    if (!one || !two) throw new Error('two pages expected');
    // A page reached by a link is named by that link.
    expect(linkOf(two.body, 'self')).toBe(linkOf(one.body, 'next'));
    expect((await fetchFhir(linkOf(two.body, 'previous'))).body.entry).toEqual(one.body.entry);
    expect((await fetchFhir(linkOf(pages.at(-1)?.body ?? two.body, 'first'))).body.entry).toEqual(one.body.entry);
  });

  it('pages an Encounter search with _sort, _offset, _revinclude and _elements, from the listing already read (no upstream call)', async () => {
    // Oldest first, from the second: what the sandbox holds, independently of the facade.
    const want = newestFirst(many.patient).reverse().slice(1).map((e) => e.summary.encounterId);
    const first = await post('Encounter/_search', `patient=${many.id}&_sort=date&_offset=1&_count=4&_revinclude=DocumentReference:encounter&_elements=identifier,status,period`);
    expect(first.status).toBe(200);
    svc.sandbox.resetCalls();
    const pages = await pagesFrom(first);
    expect(svc.sandbox.calls).toEqual([]);
    expect(pages.map((p) => encounterIdsIn(p.body))).toEqual(Array.from({ length: Math.ceil(want.length / 4) }, (_, i) => want.slice(4 * i, 4 * i + 4)));
    for (const p of pages) {
      expectNoValues(p, [many.id, 'patient=', '_offset', 'identifier,status']);
      const matches = (p.body.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as Encounter);
      expect(matches.every((e) => e.subject === undefined && e.meta?.tag?.some((t) => t.code === 'SUBSETTED'))).toBe(true);
      const docs = (p.body.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource as DocumentReference);
      expect(docs.map((d) => d.context?.encounter?.[0]?.reference).sort()).toEqual(matches.map((e) => `Encounter/${e.id ?? ''}`).sort());
    }
    // Previous from the second page is the first page, _offset included.
    expect((await fetchFhir(linkOf(pages[1]?.body ?? first.body, 'previous'))).body.entry).toEqual(first.body.entry);
  });

  it('pages $docref by POST with cursors for the operation, reusing the listing', async () => {
    const inRange = many.patient.encounters.filter((e) => e.instant >= Date.parse('2017-01-01') && e.instant < Date.parse('2027-01-01'));
    const first = await post('DocumentReference/$docref', `patient=${many.id}&start=2017-01-01&end=2026-12-31&_count=12&_summary=true`);
    expect(first.status).toBe(200);
    svc.sandbox.resetCalls();
    const pages = await pagesFrom(first);
    expect(svc.sandbox.calls).toEqual([]);
    expect(pages).toHaveLength(Math.ceil(inRange.length / 12));
    const ids = pages.flatMap((p) => (p.body.entry ?? []).map((e) => e.resource?.id));
    expect(new Set(ids).size).toBe(inRange.length);
    for (const p of pages) {
      expect(p.body.total).toBe(inRange.length);
      for (const l of p.body.link ?? []) expect(l.url).toMatch(cursorLink(svc.fhir, 'DocumentReference/$docref'));
      expectNoValues(p, [many.id, '2017', '2026-12-31', 'start=']);
    }
  });
});

describe('GET search', () => {
  it('names its page by the parameters its client sent, and pages with cursors', async () => {
    const want = expectedIds(svc.sandbox, P, (p) => fold(p.json.lastName).startsWith('smith'));
    const first = await fetchFhir(`${svc.fhir}/Patient?family=smith&_count=3`);
    // R4 search.html: the self link of a RESTful search lists the parameters applied.
    expect(linkOf(first.body, 'self')).toBe(`${svc.fhir}/Patient?family=smith&_count=3`);
    for (const relation of ['first', 'next']) expect(linkOf(first.body, relation)).toMatch(cursorLink(svc.fhir, 'Patient'));
    const pages = await pagesFrom(first);
    expect(pages.flatMap((p) => idsIn(p.body)).sort((x, y) => x - y)).toEqual(want);
    for (const p of pages.slice(1)) expectNoValues(p, ['smith', 'family']);
  });
});

describe('a cursor opens only for its caller and practice, unaltered', () => {
  it('refuses another practice, another resource type or operation, an altered, cut or extended cursor, or one with other parameters, with 400 and no upstream call', async () => {
    const a = await post('Patient/_search', 'family=smith&_count=1');
    const next = linkOf(a.body, 'next');
    const cursor = cursorIn(next);
    // The same practice by the other base works (links are bound to the practice, not the base's spelling).
    expect((await fetchFhir(`${svc.origin}/practices/1001/fhir/Patient?_cursor=${cursor}`)).status).toBe(200);
    svc.sandbox.resetCalls();
    const flip = (i: number) => `${cursor.slice(0, i)}${cursor[i] === 'A' ? 'B' : 'A'}${cursor.slice(i + 1)}`;
    const cases: [string, Record<string, string>?][] = [
      [`${svc.origin}/practices/1002/fhir/Patient?_cursor=${cursor}`],
      [next, { 'x-nextech-practice-id': '1002' }],
      [`${svc.fhir}/Encounter?_cursor=${cursor}`],
      [`${svc.fhir}/DocumentReference/$docref?_cursor=${cursor}`],
      [`${svc.fhir}/Patient?_cursor=${flip(Math.floor(cursor.length / 2))}`],
      [`${svc.fhir}/Patient?_cursor=${flip(3)}`],
      [`${svc.fhir}/Patient?_cursor=${cursor.slice(0, -2)}`],
      [`${svc.fhir}/Patient?_cursor=${cursor}AAAA`],
      [`${svc.fhir}/Patient?_cursor=`],
      [`${next}&family=jones`],
      [`${next}&_cursor=${cursor}`],
    ];
    for (const [url, headers] of cases) {
      const issue = await refused(url, 400, headers);
      expect(issue.code).toBe('invalid');
      expect(issue.expression).toEqual(['_cursor']);
    }
    expect(svc.sandbox.calls).toEqual([]);
  });

  it('refuses another caller\'s cursor with 400, and keeps one working for its own sign-in across a token refresh', async () => {
    const { token: one } = await launch(svc, 'user/*.rs offline_access');
    const { token: two } = await launch(svc, 'user/*.rs');
    const mine = await post('Patient/_search', 'family=smith&_count=1', bearer(one));
    const next = linkOf(mine.body, 'next');
    expect((await fetchFhir(next, { headers: bearer(one) })).status).toBe(200);
    expect((await refused(next, 400, bearer(two))).code).toBe('invalid');
    expect((await refused(next, 400)).code).toBe('invalid');
    const anonymous = await post('Patient/_search', 'family=smith&_count=1');
    await refused(linkOf(anonymous.body, 'next'), 400, bearer(one));
    // The caller is the sign-in, not one access token: a refreshed token follows the same link.
    const refreshed = await tokenCall(svc, { grant_type: 'refresh_token', refresh_token: one.refresh_token ?? '', client_id: APP.clientId });
    expect(refreshed.status).toBe(200);
    const renewed = (await refreshed.json()) as TokenResponse;
    expect((await fetchFhir(next, { headers: bearer(renewed) })).body.entry).toEqual((await fetchFhir(next, { headers: bearer(one) })).body.entry);
  });

  it('applies the patient compartment to what a cursor opens to: a token narrowed to its patient cannot follow its own link to another patient', async () => {
    const { token } = await launch(svc, 'launch/patient patient/*.rs user/*.rs offline_access', { pickQuery: many.patient.json.chartNumber });
    expect(token.patient).toBe(many.id);
    // With user/ scopes, another patient's encounters page.
    const theirs = await post('Encounter/_search', `patient=${other.id}&_count=1`, bearer(token));
    expect(theirs.status).toBe(200);
    const next = linkOf(theirs.body, 'next');
    expect(next).toMatch(cursorLink(svc.fhir, 'Encounter'));
    const res = await tokenCall(svc, { grant_type: 'refresh_token', refresh_token: token.refresh_token ?? '', client_id: APP.clientId, scope: 'launch/patient patient/*.rs' });
    expect(res.status).toBe(200);
    const narrowed = (await res.json()) as TokenResponse;
    expect(narrowed.scope).not.toContain('user/');
    svc.sandbox.resetCalls();
    expect((await refused(next, 403, bearer(narrowed))).code).toBe('forbidden');
    expect(svc.sandbox.calls).toEqual([]);
    // Its own patient's pages: a search naming nobody is about the patient in context, page after page.
    const own = await pagesFrom(await post('Encounter/_search', '_count=8', bearer(narrowed)), bearer(narrowed));
    expect(own.flatMap((p) => encounterIdsIn(p.body))).toEqual(newestFirst(many.patient).map((e) => e.summary.encounterId));
    for (const p of own) expectNoValues(p, [many.id]);
  });
});

describe('link size', () => {
  it('compresses a search longer than a URL into links that fit one and work', async () => {
    const values = Array.from({ length: 40 }, (_, i) => `gender:not=${'a'.repeat(200)}${i}`).join('&');
    expect(values.length).toBeGreaterThan(MAX_URL_LENGTH);
    const want = expectedIds(svc.sandbox, P, (p) => fold(p.json.lastName).startsWith('smith'));
    const pages = await pagesFrom(await post('Patient/_search', `family=smith&${values}&_count=4`));
    expect(pages.flatMap((p) => idsIn(p.body)).sort((x, y) => x - y)).toEqual(want);
    for (const p of pages) for (const l of p.body.link ?? []) expect(l.url.length).toBeLessThanOrEqual(MAX_URL_LENGTH - 1024);
  });

  it('refuses, before any upstream call, a search whose links could not fit a URL, without repeating its values', async () => {
    const values = Array.from({ length: 40 }, () => `gender:not=${randomBytes(150).toString('base64url')}`);
    svc.sandbox.resetCalls();
    const res = await expectOutcome(`${svc.fhir}/Patient/_search`, 400, { method: 'POST', headers: FORM, body: `family=smith&${values.join('&')}` });
    expect(res.issue.code).toBe('too-long');
    expect(res.issue.diagnostics).toContain(`${MAX_URL_LENGTH - 1024} characters`);
    expect(JSON.stringify(res.body)).not.toContain(values[0]?.slice(11, 40));
    expect(svc.sandbox.calls).toEqual([]);
  });

  it('refuses, before any upstream call, a $docref whose links could not fit a URL', async () => {
    const profile = randomBytes(6000).toString('base64url');
    svc.sandbox.resetCalls();
    const res = await expectOutcome(`${svc.fhir}/DocumentReference/$docref`, 400, { method: 'POST', headers: FORM, body: `patient=${many.id}&start=2017-01-01&profile=${profile}` });
    expect(res.issue.code).toBe('too-long');
    expect(JSON.stringify(res.body)).not.toContain(profile.slice(0, 30));
    expect(svc.sandbox.calls).toEqual([]);
  });
});

describe('clients that follow links, with their default settings', () => {
  it('fhir-kit-client pages a POST search with nextPage and prevPage', async () => {
    const client = new Client({ baseUrl: svc.fhir });
    // The library's own Bundle type and ours (@types/fhir) differ only in typing.
    type KitBundle = Parameters<Client['nextPage']>[0]['bundle'];
    const asBundle = (r: unknown) => r as Bundle | undefined;
    const kit = (b: Bundle) => b as unknown as KitBundle;
    const first = asBundle(await client.search({ resourceType: 'Patient', searchParams: { family: 'smith', birthdate: 'ge1970', _count: 2 }, options: { postSearch: true } }));
    if (!first) throw new Error('no bundle');
    const pages: Bundle[] = [first];
    for (let page = asBundle(await client.nextPage({ bundle: kit(first) })); page; page = asBundle(await client.nextPage({ bundle: kit(page) }))) {
      pages.push(page);
    }
    expect(pages.flatMap(idsIn).sort((x, y) => x - y)).toEqual(smithsFrom1970());
    const back = asBundle(await client.prevPage({ bundle: kit(pages[1] ?? first) }));
    expect(back?.entry).toEqual(first.entry);
    for (const p of pages) for (const l of p.link ?? []) expect(l.url).toMatch(cursorLink(svc.fhir, 'Patient'));
  });

  it('fhirclient (its FhirClient, in Node) crawls every page of a POST search', async () => {
    const client = new FhirClient(svc.fhir);
    const first = (await client.fhirRequest('Patient/_search', { method: 'POST', headers: FORM, body: 'family=smith&birthdate=ge1970&_count=2' })) as Bundle;
    const ids: number[] = [];
    let pages = 0;
    for await (const page of client.pages(first)) {
      ids.push(...idsIn(page as Bundle));
      for (const l of (page as Bundle).link ?? []) expect(l.url).toMatch(cursorLink(svc.fhir, 'Patient'));
      pages++;
    }
    expect(pages).toBeGreaterThan(1);
    expect(ids.sort((x, y) => x - y)).toEqual(smithsFrom1970());
  });
});

describe('expiry', () => {
  let clocked: TestService;
  /** The service's clock runs this far ahead, so a link can expire without waiting. */
  let ahead = 0;
  beforeAll(async () => {
    clocked = await startTestService({}, { now: () => Date.now() + ahead });
  });
  afterAll(() => clocked.close());

  it('follows a link for an hour, then answers 410 without repeating it', async () => {
    const res = await fetchFhir(`${clocked.fhir}/Patient/_search`, { method: 'POST', headers: FORM, body: 'family=smith&_count=1' });
    const next = linkOf(res.body, 'next');
    ahead = 50 * 60_000;
    expect((await fetchFhir(next)).status).toBe(200);
    ahead = 61 * 60_000;
    clocked.sandbox.resetCalls();
    const res410 = await expectOutcome(next, 410);
    expect(res410.issue.code).toBe('not-found');
    expect(res410.issue.diagnostics).toContain('expired');
    expect(JSON.stringify(res410.body)).not.toContain(cursorIn(next).slice(8, 24));
    expect(clocked.sandbox.calls).toEqual([]);
  });
});
