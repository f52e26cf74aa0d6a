import type { Bundle, Patient } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeCases } from '../src/sandbox/index.ts';
import { expectedIds, fold, idsIn } from './helpers/expected.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  // Each search here reaches Nextech (no reuse of earlier answers): the upstream calls a search makes are counted.
  svc = await startTestService({ PATIENT_CACHE_SECONDS: '0' });
});
afterAll(() => svc.close());

const P = '1001';
const search = (query: string) => fhirFetch<Bundle>(`${svc.fhir}/Patient?${query}`);
/** Follows `next` links and returns every matched Patient. */
async function allPages(query: string): Promise<Patient[]> {
  const out: Patient[] = [];
  let url: string | undefined = `${svc.fhir}/Patient?${query}`;
  while (url) {
    const { body }: { body: Bundle } = await fhirFetch<Bundle>(url);
    out.push(...(body.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as Patient));
    url = body.link?.find((l) => l.relation === 'next')?.url;
  }
  return out;
}

describe('Patient search', () => {
  it('returns exactly the patients whose family name starts with the value and born from 1970', async () => {
    const want = expectedIds(svc.sandbox, P, (p) => fold(p.json.lastName).startsWith('smith') && p.birthDate >= '1970-01-01');
    expect(want.length).toBeGreaterThan(1);
    const { status, body } = await search(`family=smith&birthdate=ge1970&_count=50`);
    expect(status).toBe(200);
    expect(body.type).toBe('searchset');
    expect(body.total).toBe(want.length);
    expect(idsIn(body)).toEqual(want);
  });

  it('matches names without regard to case or accents, and exactly with :exact', async () => {
    const [jose] = edgeCases('diacritics', P).filter((c) => c.name.startsWith('José'));
    expect(jose).toBeDefined();
    const plain = await search('family=NUNEZ');
    expect(idsIn(plain.body)).toContain(jose?.patientId);
    const exact = await search('family:exact=Núñez');
    expect(idsIn(exact.body)).toEqual([jose?.patientId]);
    const wrongCase = await search('family:exact=núñez');
    expect(wrongCase.body.total).toBe(0);
  });

  it('matches inside names with :contains and at the start otherwise', async () => {
    const want = expectedIds(svc.sandbox, P, (p) => fold(p.json.lastName).includes('ell'));
    const { body } = await search('family:contains=ell&_count=50');
    expect(idsIn(body)).toEqual(want);
    const starts = await search('family=ell&_count=50');
    expect(idsIn(starts.body)).toEqual(expectedIds(svc.sandbox, P, (p) => fold(p.json.lastName).startsWith('ell')));
  });

  it('treats a comma as OR with one upstream call per value', async () => {
    svc.sandbox.resetCalls();
    const want = expectedIds(svc.sandbox, P, (p) => ['smith', "o'brien"].some((v) => fold(p.json.lastName).startsWith(v)));
    const { body } = await search(`family=smith,o'brien&_count=50`);
    expect(idsIn(body)).toEqual(want);
    expect(svc.sandbox.calls.filter((c) => c.path.endsWith('/search'))).toHaveLength(2);
  });

  it('treats a repeated parameter as AND', async () => {
    const want = expectedIds(
      svc.sandbox,
      P,
      (p) => fold(p.json.lastName).startsWith('smith') && [p.json.firstName, p.json.middleName ?? ''].some((g) => fold(g).startsWith('j')),
    );
    const { body } = await search('family=smith&given=j&_count=50');
    expect(idsIn(body)).toEqual(want);
    const none = await search('name=smith&name=zzzz');
    expect(none.body.total).toBe(0);
  });

  it.each([
    ['eq1966', (d: string) => d.startsWith('1966')],
    ['1966-04', (d: string) => d.startsWith('1966-04')],
    ['ne1966-04-12', (d: string) => d !== '1966-04-12'],
    ['lt1970', (d: string) => d < '1970'],
    ['le1966-04-12', (d: string) => d <= '1966-04-12'],
    ['gt1979-10-05', (d: string) => d > '1979-10-05'],
    ['sa1979', (d: string) => d >= '1980'],
    ['eb1980-01', (d: string) => d < '1980-01'],
  ])('filters birthdate=%s exactly', async (value, pred) => {
    const want = expectedIds(svc.sandbox, P, (p) => fold(p.json.lastName).startsWith('smith') && pred(p.birthDate));
    const { body } = await search(`family=smith&birthdate=${value}&_count=50`);
    expect(idsIn(body)).toEqual(want);
  });

  it('takes the birth date as the calendar date written, whatever the dob time or offset', async () => {
    for (const c of edgeCases('dob-not-utc-midnight', P)) {
      const patient = svc.sandbox.data.practices[0]?.patients.find((p) => p.patientId === c.patientId);
      const { body } = await search(`family=${encodeURIComponent(patient?.json.lastName ?? '')}&birthdate=${patient?.json.dob.slice(0, 10)}`);
      expect(idsIn(body)).toContain(c.patientId);
    }
  });

  it('finds a patient by chart number, with or without the identifier system', async () => {
    const patient = svc.sandbox.data.practices[0]?.patients[5];
    const chart = patient?.json.chartNumber ?? '';
    const system = encodeURIComponent(`urn:nextech:practice:${P}:chart-number`);
    expect(idsIn((await search(`identifier=${encodeURIComponent(chart)}`)).body)).toEqual([patient?.patientId]);
    expect(idsIn((await search(`identifier=${system}|${encodeURIComponent(chart)}`)).body)).toEqual([patient?.patientId]);
    // `|value` asks for an identifier with no system; ours all have one.
    expect((await search(`identifier=|${encodeURIComponent(chart)}`)).body.total).toBe(0);
  });

  it('finds a patient by _id', async () => {
    const first = (await search('family=smith')).body.entry?.[0]?.resource as Patient;
    const { body } = await search(`_id=${first.id}`);
    expect(body.total).toBe(1);
    expect((body.entry?.[0]?.resource as Patient).id).toBe(first.id);
  });

  it('filters by phone digits, telecom and gender alongside a name', async () => {
    const withPhone = svc.sandbox.data.practices[0]?.patients.find((p) => p.json.homePhone && fold(p.json.lastName).startsWith('smith'));
    const digits = (withPhone?.json.homePhone ?? '').replace(/\D/g, '');
    const byPhone = await search(`family=smith&phone=${digits}`);
    expect(idsIn(byPhone.body)).toContain(withPhone?.patientId);
    const byTelecom = await search(`family=smith&telecom=phone|${digits}`);
    expect(idsIn(byTelecom.body)).toEqual(idsIn(byPhone.body));
    const unknown = await search('family=smith&gender=unknown&_count=50');
    expect(unknown.body.total).toBe(expectedIds(svc.sandbox, P, (p) => fold(p.json.lastName).startsWith('smith')).length);
    expect((await search('family=smith&gender=male')).body.total).toBe(0);
  });

  it('returns 400 too-costly naming the needed parameters when only birthdate is given, without calling Nextech', async () => {
    svc.sandbox.resetCalls();
    const { issue } = await expectOutcome(`${svc.fhir}/Patient?birthdate=ge1970`, 400);
    expect(issue.code).toBe('too-costly');
    expect(issue.diagnostics).toContain('family');
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it('answers POST _search with a form body like the GET search, naming its page by a cursor', async () => {
    const get = await search('family=smith&birthdate=ge1970&_count=50');
    const post = await fhirFetch<Bundle>(`${svc.fhir}/Patient/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'family=smith&birthdate=ge1970&_count=50',
    });
    expect(post.status).toBe(200);
    expect(idsIn(post.body)).toEqual(idsIn(get.body));
    // Its self link names the page by a cursor (the values stay out of URLs) and opens the same page.
    const self = post.body.link?.find((l) => l.relation === 'self')?.url ?? '';
    expect(self).toMatch(new RegExp(`^${svc.fhir}/Patient\\?_cursor=[A-Za-z0-9_-]+$`));
    expect(idsIn((await fhirFetch<Bundle>(self)).body)).toEqual(idsIn(get.body));
  });

  it('refuses a POST _search body that is not a form', async () => {
    await expectOutcome(`${svc.fhir}/Patient/_search`, 415, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  });
});

describe('Patient search results', () => {
  it('pages with next/previous links that round-trip and cover every match once', async () => {
    const want = expectedIds(svc.sandbox, P, (p) => fold(p.json.lastName).startsWith('smith'));
    const first = await search('family=smith&_count=3');
    expect(first.body.total).toBe(want.length);
    expect(first.body.entry).toHaveLength(3);
    const all = await allPages('family=smith&_count=3');
    expect(all.map((p) => Number(p.identifier?.[1]?.value)).sort((a, b) => a - b)).toEqual(want);
    const next = first.body.link?.find((l) => l.relation === 'next')?.url ?? '';
    const second = await fhirFetch<Bundle>(next);
    const prev = second.body.link?.find((l) => l.relation === 'previous')?.url ?? '';
    expect((await fhirFetch<Bundle>(prev)).body.entry?.map((e) => e.fullUrl)).toEqual(first.body.entry?.map((e) => e.fullUrl));
  });

  it('writes absolute fullUrls that read back the same resource', async () => {
    const { body } = await search('family=smith&_count=5');
    for (const entry of body.entry ?? []) {
      expect(entry.search?.mode).toBe('match');
      const read = await fhirFetch<Patient>(entry.fullUrl ?? '');
      expect(read.status).toBe(200);
      expect(read.body).toEqual(entry.resource);
    }
  });

  it('clamps _count to 50 and reports only the total for _count=0', async () => {
    const big = await search('family=s&_count=500');
    expect(big.body.entry?.length).toBeLessThanOrEqual(50);
    expect(big.body.link?.find((l) => l.relation === 'self')?.url).toContain('_count=50');
    const zero = await search('family=smith&_count=0');
    expect(zero.body.entry).toBeUndefined();
    expect(zero.body.total).toBeGreaterThan(0);
  });

  it('leaves ignored parameters out of the self link and says so in an outcome entry', async () => {
    const { body } = await search('family=smith&foo=bar&_count=2');
    const self = body.link?.find((l) => l.relation === 'self')?.url ?? '';
    expect(self).toBe(`${svc.fhir}/Patient?family=smith&_count=2`);
    const outcome = body.entry?.find((e) => e.search?.mode === 'outcome');
    // The name is client input (it could be anything): counted, never repeated back.
    expect(JSON.stringify(outcome?.resource)).toContain('1 parameter this server does not define was ignored');
    expect(JSON.stringify(outcome?.resource)).not.toContain('foo');
    expect(JSON.stringify(outcome?.resource)).not.toContain('bar');
  });

  it('rejects unknown parameters with Prefer: handling=strict, without repeating them', async () => {
    const { issue } = await expectOutcome(`${svc.fhir}/Patient?family=smith&Whitfield=bar`, 400, { headers: { prefer: 'handling=strict' } });
    expect(issue.diagnostics).toContain('does not define');
    expect(issue.diagnostics).not.toContain('Whitfield');
  });

  it('never repeats a value, a modifier or an unknown name in an error', async () => {
    const probes = ['birthdate=Smith1980', 'family:Whitfield=x', 'family=smith&birthdate=xxWhitfield', 'identifier=a|b|Whitfield', '_count=Whitfield'];
    for (const q of probes) {
      const { issue } = await expectOutcome(`${svc.fhir}/Patient?${q}`, 400);
      expect(issue.diagnostics, q).not.toMatch(/Smith|Whitfield/);
    }
  });

  it('sorts by family then given name', async () => {
    const all = await allPages('family=s&_count=50');
    const keys = all.map((p) => fold(`${p.name?.[0]?.family ?? ''}`));
    expect(keys).toEqual([...keys].sort((a, b) => a.localeCompare(b, 'en', { sensitivity: 'base' })));
  });
});
