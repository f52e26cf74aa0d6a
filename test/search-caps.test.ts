/**
 * Bodies count like URLs (issue 18, item 1). A POST `_search` form of 64 KiB holds 9,355
 * parameters (`family=a,e,i,o,u&name=a&name=a…`): before the caps, every one of them was
 * matched against every patient the upstream search returned, at any door, a patient-scoped
 * token included. Now the query and the body obey one set of caps (SEARCH_CAPS), counted
 * together before any value is parsed: such a body is a 400 OperationOutcome with no
 * upstream call and no record matched, and the largest body the caps allow does bounded work.
 *
 * The work is counted, never timed: `facade_search_match_evaluations_total` (values compared
 * with records) and the sandbox's record of upstream calls.
 */
import type { Bundle } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FORM_BYTES } from '../src/auth/form-body.ts';
import { SANDBOX_RESOURCE_ID_KEY } from '../src/config.ts';
import { SEARCH_CAPS } from '../src/fhir/search/caps.ts';
import { createPageCursors, type CursorBinding } from '../src/routes/page-cursors.ts';
import { clientKeyPair, signAssertion, tokenForm, type ClientKeyPair } from './helpers/backend.ts';
import { delta, metricsText } from './helpers/metrics.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { launch, SMART_ENV } from './helpers/smart.ts';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const FHIR_JSON = { 'content-type': 'application/fhir+json' };
const EVALUATIONS = 'facade_search_match_evaluations_total';

/** The issue's body: `family=a,e,i,o,u` and 9,354 × `name=a`, 9,355 parameters in just under 64 KiB. */
const ATTACK = ['family=a,e,i,o,u', ...Array.from({ length: 9354 }, () => 'name=a')].join('&');

let svc: TestService;
let keys: ClientKeyPair;

beforeAll(async () => {
  keys = await clientKeyPair('ES384');
  svc = await startTestService({
    ...SMART_ENV,
    BACKEND_CLIENTS: JSON.stringify([{ client_id: 'hie', jwks: keys.jwks, practices: ['1001'], scope: 'system/*.rs' }]),
    // Every search asks Nextech: the rows matched are those it returns, each time.
    PATIENT_CACHE_SECONDS: '0',
  });
});
afterAll(() => svc.close());

async function systemToken(): Promise<string> {
  const assertion = await signAssertion({ clientId: 'hie', tokenEndpoint: `${svc.origin}/auth/token`, privateKey: keys.privateKey, kid: keys.kid, alg: keys.alg });
  const res = await fetch(`${svc.origin}/auth/token`, { method: 'POST', body: tokenForm(assertion, 'system/*.rs') });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Runs `send` and reports the values matched against records and the upstream calls it caused. */
async function work<T>(send: () => Promise<T>): Promise<{ result: T; evaluations: number; upstream: number }> {
  const before = await metricsText(svc.origin);
  svc.sandbox.resetCalls();
  const result = await send();
  const upstream = svc.sandbox.calls.length;
  return { result, evaluations: delta(before, await metricsText(svc.origin), EVALUATIONS), upstream };
}

/** Sends the request (a POST unless `init` says otherwise) and expects the caps' refusal: 400 too-costly, no upstream call, nothing matched. */
async function expectRefused(url: string, init: RequestInit): Promise<string> {
  const { result, evaluations, upstream } = await work(() => expectOutcome(url, 400, { method: 'POST', ...init }));
  expect(result.issue.code).toBe('too-costly');
  expect(evaluations).toBe(0);
  expect(upstream).toBe(0);
  return result.issue.diagnostics ?? '';
}

describe('the caps on parameters, whatever the door', () => {
  it('refuses the 64 KiB body of 9,355 parameters with 400 too-costly before any upstream call or match', async () => {
    expect(ATTACK.length).toBeLessThanOrEqual(MAX_FORM_BYTES);
    expect(ATTACK.split('&')).toHaveLength(9355);
    const diagnostics = await expectRefused(`${svc.fhir}/Patient/_search`, { headers: FORM, body: ATTACK });
    expect(diagnostics).toContain(`At most ${SEARCH_CAPS.parameters} parameters`);
  });

  it('refuses it from a patient-scoped SMART token and a Backend Services token alike', async () => {
    const { token } = await launch(svc, 'launch/patient patient/*.rs');
    expect(token.patient).toBeDefined();
    for (const bearer of [token.access_token, await systemToken()]) {
      await expectRefused(`${svc.fhir}/Patient/_search`, { headers: { ...FORM, authorization: `Bearer ${bearer}` }, body: ATTACK });
      await expectRefused(`${svc.origin}/practices/1001/fhir/Encounter/_search`, { headers: { ...FORM, authorization: `Bearer ${bearer}` }, body: ATTACK });
    }
  });

  it('refuses it as a $docref form or Parameters body', async () => {
    await expectRefused(`${svc.fhir}/DocumentReference/$docref`, { headers: FORM, body: ATTACK });
    // A Parameters resource with as many parameters…
    const many = { resourceType: 'Parameters', parameter: Array.from({ length: 1000 }, () => ({ name: 'patient', valueString: 'a' })) };
    await expectRefused(`${svc.fhir}/DocumentReference/$docref`, { headers: FHIR_JSON, body: JSON.stringify(many) });
    // …or with one parameter of a thousand comma-separated values.
    const wide = { resourceType: 'Parameters', parameter: [{ name: 'type', valueString: Array.from({ length: 1000 }, () => 'a').join(',') }] };
    await expectRefused(`${svc.fhir}/DocumentReference/$docref`, { headers: FHIR_JSON, body: JSON.stringify(wide) });
  });

  it('counts the queries inside $export _typeFilters too', async () => {
    const headers = { ...FHIR_JSON, authorization: `Bearer ${await systemToken()}`, prefer: 'respond-async' };
    const filter = `Patient?${Array.from({ length: 120 }, () => 'name=a').join('&')}`;
    const body = { resourceType: 'Parameters', parameter: [{ name: '_typeFilter', valueString: filter }] };
    await expectRefused(`${svc.fhir}/Group/any/$export`, { headers, body: JSON.stringify(body) });
  });

  it('counts the URL and the body together', async () => {
    const half = Array.from({ length: 60 }, () => 'name=a').join('&');
    // 60 in the URL alone are fine…
    expect((await fhirFetch<Bundle>(`${svc.fhir}/Patient?${half}`)).status).toBe(200);
    // …60 in the URL and 60 in the body are not.
    await expectRefused(`${svc.fhir}/Patient/_search?${half}`, { headers: FORM, body: half });
  });

  it('refuses more comma-separated values in one parameter, or in all, than the caps allow (URL or body)', async () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => `v${i}`).join(',');
    const { result, evaluations, upstream } = await work(() => expectOutcome(`${svc.fhir}/Patient?name=a&given=${values(SEARCH_CAPS.valuesPerParameter + 1)}`, 400));
    expect(result.issue.code).toBe('too-costly');
    expect([evaluations, upstream]).toEqual([0, 0]);
    // Escaped commas are part of a value, not separators.
    expect((await fhirFetch(`${svc.fhir}/Patient?name=a&given=${encodeURIComponent(Array.from({ length: 80 }, () => 'x\\,').join(''))}`)).status).toBe(200);
    const perParameter = SEARCH_CAPS.valuesPerParameter;
    const total = Array.from({ length: Math.ceil(SEARCH_CAPS.values / perParameter) + 1 }, () => `given=${values(perParameter)}`).join('&');
    await expectRefused(`${svc.fhir}/Patient/_search`, { headers: FORM, body: `name=a&${total}` });
  });
});

describe('the largest search the caps allow', () => {
  it('is answered, and matches each record against at most SEARCH_CAPS.values values', async () => {
    // 100 parameters, 200 values: `name=a` drives one upstream search; every other value must be checked.
    const wide = Array.from({ length: SEARCH_CAPS.valuesPerParameter }, (_, i) => `a${i}`);
    const pairs = [
      'name=a,a,a',
      `given:contains=${[...wide.slice(1), 'a'].join(',')}`,
      `family:contains=${[...wide.slice(1), 'a'].join(',')}`,
      ...Array.from({ length: SEARCH_CAPS.parameters - 3 }, () => 'name=a'),
    ];
    expect(pairs).toHaveLength(SEARCH_CAPS.parameters);
    const body = pairs.join('&');
    const { result, evaluations, upstream } = await work(() => fhirFetch<Bundle>(`${svc.fhir}/Patient/_search`, { method: 'POST', headers: FORM, body }));
    expect(result.status).toBe(200);
    // One upstream search (the term `a`), whose rows are all the records matched.
    expect(upstream).toBe(1);
    // `name=a` alone compares one value with each row the same upstream search returns: it counts the rows.
    const one = await work(() => fhirFetch<Bundle>(`${svc.fhir}/Patient/_search`, { method: 'POST', headers: FORM, body: 'name=a' }));
    expect([one.result.status, one.upstream]).toEqual([200, 1]);
    const patients = svc.sandbox.data.practices.find((p) => p.practiceId === '1001')?.patients.length ?? 0;
    expect(one.evaluations).toBeGreaterThan(0);
    expect(one.evaluations).toBeLessThanOrEqual(patients);
    // At most SEARCH_CAPS.values per row, where the issue's body would have cost each row up to 9,355.
    expect(evaluations).toBeGreaterThan(one.evaluations);
    expect(evaluations).toBeLessThanOrEqual(one.evaluations * SEARCH_CAPS.values);
  });
});

describe('a paging link', () => {
  /**
   * The sandbox's RESOURCE_ID_KEY is public (src/config.ts), and anonymous access is on by
   * default there: anyone can seal a cursor for `anonymous`. 347 characters of it opened to
   * 18,001 parameters, every one matched against every record, because the caps were checked
   * only where a URL or a body is read.
   */
  const forge = (query: string, binding: Partial<CursorBinding> = {}) =>
    createPageCursors(SANDBOX_RESOURCE_ID_KEY, Date.now).seal(query, { practiceId: '1001', callerKey: 'anonymous', path: 'Patient', ...binding });
  const FORGED = ['family=a,e,i,o,u', ...Array.from({ length: 18_000 }, () => 'name=a')].join('&');

  it('opens to a search that obeys the caps: a forged cursor of 18,001 parameters is 400 too-costly, with no upstream call or match', async () => {
    const cursor = forge(FORGED);
    expect(cursor.length).toBeLessThan(1000);
    const diagnostics = await expectRefused(`${svc.fhir}/Patient?_cursor=${cursor}`, { method: 'GET' });
    expect(diagnostics).toContain(`At most ${SEARCH_CAPS.parameters} parameters`);
    // Presented in a POST _search form, or to an operation, it is the same search.
    await expectRefused(`${svc.fhir}/Patient/_search`, { headers: FORM, body: `_cursor=${cursor}` });
    const docref = ['patient=x', ...Array.from({ length: 5000 }, () => 'type=a')].join('&');
    await expectRefused(`${svc.fhir}/DocumentReference/$docref?_cursor=${forge(docref, { path: 'DocumentReference/$docref' })}`, { method: 'GET' });
  });

  it('pages a search at the caps to its end: the links it writes stand for a search within them', async () => {
    const search = [...Array.from({ length: SEARCH_CAPS.parameters }, () => 'name=a'), '_count=7'].join('&');
    const rows = svc.sandbox.data.practices.find((p) => p.practiceId === '1001')?.patients ?? [];
    let page = await fhirFetch<Bundle>(`${svc.fhir}/Patient/_search`, { method: 'POST', headers: FORM, body: search });
    expect(page.status).toBe(200);
    const total = page.body.total ?? 0;
    expect(total).toBeGreaterThan(14);
    const ids = (page.body.entry ?? []).map((e) => e.resource?.id);
    for (let pages = 1; pages <= rows.length; pages++) {
      const next = page.body.link?.find((l) => l.relation === 'next')?.url;
      if (next === undefined) break;
      // `_count` and `_offset` are added to the 100 parameters sent: the cursor still opens.
      page = await fhirFetch<Bundle>(next);
      expect(page.status).toBe(200);
      ids.push(...(page.body.entry ?? []).map((e) => e.resource?.id));
    }
    expect(new Set(ids).size).toBe(total);
  });

  it('refuses up front a patient-scoped search whose links, naming the patient in context, would be over the caps', async () => {
    const { token } = await launch(svc, 'launch/patient patient/*.rs');
    const headers = { ...FORM, authorization: `Bearer ${token.access_token}` };
    const classes = (n: number) => Array.from({ length: n }, () => 'class=AMB').join('&');
    const { result, evaluations, upstream } = await work(() => expectOutcome(`${svc.fhir}/Encounter/_search`, 400, { method: 'POST', headers, body: classes(SEARCH_CAPS.parameters) }));
    expect(result.issue.code).toBe('too-costly');
    expect(result.issue.diagnostics).toContain('too large to page');
    expect([evaluations, upstream]).toEqual([0, 0]);
    // One parameter fewer: its links, with the patient in context, are within the caps and open.
    const served = await fhirFetch<Bundle>(`${svc.fhir}/Encounter/_search`, { method: 'POST', headers, body: classes(SEARCH_CAPS.parameters - 1) });
    expect(served.status).toBe(200);
    const first = served.body.link?.find((l) => l.relation === 'first')?.url ?? '';
    const again = await fhirFetch<Bundle>(first, { headers: { authorization: `Bearer ${token.access_token}` } });
    expect(again.status).toBe(200);
    expect(again.body.entry?.map((e) => e.resource?.id)).toEqual(served.body.entry?.map((e) => e.resource?.id));
  });

  it('opens to no more values than the caps allow either', async () => {
    // 100 parameters of 50 values each: within the parameter cap, 25 times the values cap.
    const given = `given:contains=${Array.from({ length: SEARCH_CAPS.valuesPerParameter }, (_, i) => `a${i}`).join(',')}`;
    const wide = ['name=a', ...Array.from({ length: SEARCH_CAPS.parameters - 1 }, () => given)].join('&');
    const diagnostics = await expectRefused(`${svc.fhir}/Patient?_cursor=${forge(wide)}`, { method: 'GET' });
    expect(diagnostics).toContain(`At most ${SEARCH_CAPS.values} values`);
  });
});
