import type { Binary, Bundle, CapabilityStatement, DocumentReference, Patient } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxEncounter } from '../src/sandbox/index.ts';
import {
  attachmentOf,
  ccdBytes,
  docFetch,
  documentIdOf,
  edgePatient,
  encounterSearches,
  expectCarries,
  idsOf,
  matchesOf,
  newestFirst,
  withIds,
  type DocPatient,
} from './helpers/documents.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';

let svc: TestService;
/** Thirty encounters from 2017 to 2026. */
let many: DocPatient;
/** Encounters just either side of the UTC midnights around 2021-03-15. */
let boundary: DocPatient;
/** Seven encounters; the earliest CCD is over 1 MB. */
let large: DocPatient;

beforeAll(async () => {
  svc = await startTestService();
  many = await withIds(svc.fhir, await edgePatient(svc.sandbox, svc.fhir, 'many-encounters'));
  boundary = await withIds(svc.fhir, await edgePatient(svc.sandbox, svc.fhir, 'day-boundary-encounters'));
  large = await withIds(svc.fhir, await edgePatient(svc.sandbox, svc.fhir, 'large-ccd'));
});
afterAll(() => svc.close());

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const LOINC_CCD = encodeURIComponent('http://loinc.org|34133-9');
const docref = (query: string) => docFetch<Bundle>(`${svc.fhir}/DocumentReference/$docref?${query}`);
const postDocref = (body: string) => docFetch<Bundle>(`${svc.fhir}/DocumentReference/$docref`, { method: 'POST', headers: FORM, body });
const ms = (iso: string) => Date.parse(iso);
/** Document ids of the patient's encounters with `from <= instant < to`, newest first. */
const between = (p: DocPatient, from: string, to: string) =>
  newestFirst(p)
    .filter((e) => e.instant >= ms(from) && e.instant < ms(to))
    .map((e) => documentIdOf(p, e));
const encounterOf = (p: DocPatient, id: string): SandboxEncounter => {
  const e = p.patient.encounters.find((x) => documentIdOf(p, x) === id);
  if (!e) throw new Error(`no encounter for ${id}`);
  return e;
};

describe('$docref', () => {
  it('returns the documents of the encounters between start and end, end day included', async () => {
    const want = between(many, '2019-06-01', '2021-07-01');
    expect(want.length).toBeGreaterThan(5);
    const { status, body } = await docref(`patient=${many.id}&start=2019-06-01&end=2021-06-30&_count=50`);
    expect(status).toBe(200);
    expect(body.type).toBe('searchset');
    expect(body.total).toBe(want.length);
    expect(idsOf(body)).toEqual(want);
    for (const doc of matchesOf(body)) expectCarries(doc, ccdBytes(many, encounterOf(many, doc.id ?? '')));
  });

  it.each([
    ['start=2021-03-15&end=2021-03-15', '2021-03-15', '2021-03-16'],
    ['start=2021-03-14&end=2021-03-14', '2021-03-14', '2021-03-15'],
    ['start=2021-03-15&end=2021-03-16', '2021-03-15', '2021-03-17'],
    ['start=2021-03&end=2021-03', '2021-03-01', '2021-04-01'],
    ['start=2024', '2024-01-01', '9999-01-01'],
    ['end=2021-03-15', '0001-01-01', '2021-03-16'],
  ])('reads %s as whole UTC days', async (query, from, to) => {
    const { body } = await docref(`patient=${boundary.id}&${query}&_count=50`);
    expect(idsOf(body)).toEqual(between(boundary, from, to));
  });

  it('returns exactly the most current CCD when neither start nor end is given', async () => {
    const [latest] = newestFirst(many).filter((e) => e.instant <= Date.now());
    if (!latest) throw new Error('no past encounter');
    const { body } = await docref(`patient=${many.id}`);
    expect(body.total).toBe(1);
    const [doc] = matchesOf(body);
    expect(doc?.id).toBe(documentIdOf(many, latest));
    if (doc) expectCarries(doc, ccdBytes(many, latest));
  });

  it('finds nothing when start is after end', async () => {
    const { status, body } = await docref(`patient=${many.id}&start=2021-01-01&end=2020-01-01`);
    expect(status).toBe(200);
    expect(body.total).toBe(0);
  });

  it('accepts the CCD type, finds nothing for another type, and accepts on-demand', async () => {
    const query = `patient=${many.id}&start=2020-01-01&end=2020-12-31&_count=50`;
    const want = between(many, '2020-01-01', '2021-01-01');
    expect(want.length).toBeGreaterThan(0);
    expect(idsOf((await docref(`${query}&type=${LOINC_CCD}`)).body)).toEqual(want);
    expect(idsOf((await docref(`${query}&type=34133-9`)).body)).toEqual(want);
    expect(idsOf((await docref(`${query}&on-demand=true`)).body)).toEqual(want);
    const other = await docref(`${query}&type=${encodeURIComponent('http://loinc.org|11506-3')}`);
    expect(other.status).toBe(200);
    expect(other.body.total).toBe(0);
  });

  it('takes the patient as id, Patient/id or absolute URL', async () => {
    const query = 'start=2022-01-01&end=2022-12-31&_count=50';
    const want = between(many, '2022-01-01', '2023-01-01');
    for (const form of [many.id, `Patient/${many.id}`, `${svc.fhir}/Patient/${many.id}`]) {
      expect(idsOf((await docref(`patient=${encodeURIComponent(form)}&${query}`)).body)).toEqual(want);
    }
  });

  it('answers POST with a form body like GET', async () => {
    const query = `patient=${many.id}&start=2018-01-01&end=2019-12-31&_count=50`;
    const get = await docref(query);
    const post = await postDocref(query);
    expect(post.status).toBe(200);
    expect(post.body.entry).toEqual(get.body.entry);
    expect(idsOf(post.body)).toEqual(between(many, '2018-01-01', '2020-01-01'));
  });

  it('answers POST with a Parameters body (how FHIR invokes operations) like GET and a form', async () => {
    const query = `patient=${many.id}&start=2018-01-01&end=2019-12-31&_count=50`;
    const get = await docref(query);
    const parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'patient', valueId: many.id },
        { name: 'start', valueDate: '2018-01-01' },
        { name: 'end', valueDate: '2019-12-31' },
        { name: 'type', valueCodeableConcept: { coding: [{ system: 'http://loinc.org', code: '34133-9' }] } },
        { name: 'on-demand', valueBoolean: true },
      ],
    };
    for (const contentType of ['application/fhir+json', 'application/json; charset=utf-8']) {
      const post = await docFetch<Bundle>(`${svc.fhir}/DocumentReference/$docref?_count=50`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body: JSON.stringify(parameters),
      });
      expect(post.status).toBe(200);
      expect(idsOf(post.body)).toEqual(idsOf(get.body));
      expect(post.body.total).toBe(get.body.total);
    }
  });

  it.each([
    ['not JSON', '{"resourceType":'],
    ['another resource', JSON.stringify({ resourceType: 'Patient' })],
    ['a parameter without a name', JSON.stringify({ resourceType: 'Parameters', parameter: [{ valueString: 'x' }] })],
    ['a parameter with two values', JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'patient', valueId: 'a', valueString: 'b' }] })],
    ['a parameter with a resource', JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'patient', resource: { resourceType: 'Patient' } }] })],
    ['a value of the wrong JSON type', JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'on-demand', valueBoolean: 'yes' }] })],
    ['a value type the operation does not take', JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'patient', valueQuantity: { value: 1 } }] })],
  ])('answers a malformed Parameters body (%s) with 400 and no upstream call', async (_what, body) => {
    svc.sandbox.resetCalls();
    const { issue } = await expectOutcome(`${svc.fhir}/DocumentReference/$docref`, 400, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body });
    expect(issue.code).toBe('invalid');
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it('pages its results with next links that round-trip', async () => {
    const want = between(many, '2017-01-01', '2027-01-01');
    const first = await docref(`patient=${many.id}&start=2017-01-01&end=2026-12-31&_count=12`);
    expect(idsOf(first.body)).toEqual(want.slice(0, 12));
    const next = first.body.link?.find((l) => l.relation === 'next')?.url ?? '';
    expect(next).toContain('$docref');
    const second = await docFetch<Bundle>(next);
    expect(idsOf(second.body)).toEqual(want.slice(12, 24));
  });

  it('returns 400 required without a patient, on GET and POST', async () => {
    svc.sandbox.resetCalls();
    const get = await expectOutcome(`${svc.fhir}/DocumentReference/$docref?start=2020-01-01`, 400);
    expect(get.issue.code).toBe('required');
    expect(get.issue.diagnostics).toContain('patient');
    const post = await expectOutcome(`${svc.fhir}/DocumentReference/$docref`, 400, { method: 'POST', headers: FORM, body: 'start=2020-01-01' });
    expect(post.issue.code).toBe('required');
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it.each(['start=yesterday', 'start=2021-02-30', 'start=2021-13', 'end=15-03-2021', 'start=2021-03-15T10:00:00Z'])(
    'returns 400 for %s without calling Nextech',
    async (bad) => {
      svc.sandbox.resetCalls();
      const { issue } = await expectOutcome(`${svc.fhir}/DocumentReference/$docref?patient=${many.id}&${bad}`, 400);
      expect(issue.code).toBe('invalid');
      expect(issue.diagnostics).toContain(bad.split('=')[0]);
      expect(svc.sandbox.calls).toHaveLength(0);
    },
  );

  it('is declared in the CapabilityStatement as the US Core docref operation', async () => {
    const { body } = await fhirFetch<CapabilityStatement>(`${svc.fhir}/metadata`);
    const docRef = body.rest?.[0]?.resource?.find((r) => r.type === 'DocumentReference');
    expect(docRef?.operation).toContainEqual(
      expect.objectContaining({ name: 'docref', definition: 'http://hl7.org/fhir/us/core/OperationDefinition/docref' }),
    );
  });
});

/** One document of `p` (by position, newest first) and the CCD bytes it stands for. */
function documentOf(p: DocPatient, index: number): { id: string; bytes: Buffer; e: SandboxEncounter } {
  const e = newestFirst(p)[index];
  if (!e) throw new Error(`no encounter ${index}`);
  return { id: documentIdOf(p, e), bytes: ccdBytes(p, e), e };
}

describe('Binary', () => {
  it('serves the raw CCD for Accept: text/html, sandboxed and uncached', async () => {
    for (const { id, bytes } of [documentOf(many, 3), documentOf(large, large.patient.encounters.length - 1)]) {
      const res = await fetch(`${svc.fhir}/Binary/${id}`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toContain('sandbox');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-store');
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.equals(bytes)).toBe(true);
    }
    expect(documentOf(large, large.patient.encounters.length - 1).bytes.length).toBeGreaterThan(1_000_000);
  });

  it('serves the HTML itself when no FHIR type is asked for (no Accept, */*), as R4 has Binary reads do', async () => {
    const { id, bytes } = documentOf(many, 5);
    for (const init of [{}, { headers: { accept: '*/*' } }, { headers: { accept: 'text/*' } }] as RequestInit[]) {
      const res = await fetch(`${svc.fhir}/Binary/${id}`, init);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    }
  });

  it('serves a FHIR Binary for Accept: application/fhir+json (and the other JSON types)', async () => {
    const { id, bytes } = documentOf(many, 5);
    const asked: RequestInit[] = [{ headers: { accept: 'application/fhir+json' } }, { headers: { accept: 'application/json' } }, { headers: { accept: 'application/fhir+json, */*;q=0.1' } }];
    for (const init of asked) {
      const { status, body } = await docFetch<Binary>(`${svc.fhir}/Binary/${id}`, init);
      expect(status).toBe(200);
      expect(body).toMatchObject({ resourceType: 'Binary', id, contentType: 'text/html', securityContext: { reference: `Patient/${many.id}` } });
      expect(Buffer.from(body.data ?? '', 'base64').equals(bytes)).toBe(true);
      expect(body.data).toBe(bytes.toString('base64'));
    }
    const patient = await fhirFetch<Patient>(`${svc.fhir}/Patient/${many.id}`);
    expect(patient.status).toBe(200);
  });

  it('carries the >1 MB CCD whole as a FHIR Binary', async () => {
    const { id, bytes } = documentOf(large, large.patient.encounters.length - 1);
    const { status, body } = await docFetch<Binary>(`${svc.fhir}/Binary/${id}`);
    expect(status).toBe(200);
    expect(Buffer.from(body.data ?? '', 'base64').equals(bytes)).toBe(true);
  });

  it('serves the document an attachment url points at', async () => {
    const { body } = await docref(`patient=${many.id}&start=2023-01-01&end=2023-12-31&_count=50`);
    const docs = matchesOf<DocumentReference>(body);
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) {
      const res = await fetch(attachmentOf(doc).url ?? '', { headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(ccdBytes(many, encounterOf(many, doc.id ?? '')))).toBe(true);
    }
  });

  it('serves section documents under their own ids', async () => {
    const { body } = await docFetch<Bundle>(`${svc.fhir}/DocumentReference?patient=${many.id}&section=Medications&date=2020`);
    const docs = matchesOf<DocumentReference>(body);
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) {
      const e = many.patient.encounters.find((x) => new Date(x.instant).toISOString() === doc.date);
      if (!e) throw new Error('no encounter at that date');
      const want = ccdBytes(many, e, 'Medications');
      expect(doc.id).not.toBe(documentIdOf(many, e));
      const html = await fetch(`${svc.fhir}/Binary/${doc.id ?? ''}`, { headers: { accept: 'text/html' } });
      expect(html.status).toBe(200);
      expect(Buffer.from(await html.arrayBuffer()).equals(want)).toBe(true);
      const fhir = await docFetch<Binary>(`${svc.fhir}/Binary/${doc.id ?? ''}`);
      expect(fhir.body.data).toBe(want.toString('base64'));
    }
  });

  it('returns 404 not-found for an id it did not issue, before any upstream call', async () => {
    const { id, e } = documentOf(many, 0);
    const oldFormat = `${e.summary.encounterId}.${new Date(e.instant).toISOString().slice(0, 10).replaceAll('-', '')}.${many.patient.patientId}-${many.patient.json.chartNumber}`;
    // More alterations, for every type, in test/resource-ids.test.ts.
    for (const bad of ['no-such-document', oldFormat, `999999999.20200101.${many.id}`, id.slice(0, -1), many.id]) {
      svc.sandbox.resetCalls();
      const { issue } = await expectOutcome(`${svc.fhir}/Binary/${bad}`, 404);
      expect(issue.code).toBe('not-found');
      const asHtml = await expectOutcome(`${svc.fhir}/Binary/${bad}`, 404, { headers: { accept: 'text/html' } });
      expect(asHtml.issue.code).toBe('not-found');
      expect(svc.sandbox.calls).toHaveLength(0);
    }
  });
});

describe('Binary edge cases', () => {
  it('serves whichever of FHIR JSON and text/html the client prefers by quality', async () => {
    const { id } = documentOf(many, 1);
    const res = await fetch(`${svc.fhir}/Binary/${id}`, { headers: { accept: 'application/fhir+json, text/html;q=0.1' } });
    // Quality values rank the types (RFC 9110 §12.4.2), not the mere presence of text/html.
    expect(res.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
    const preferred = await fetch(`${svc.fhir}/Binary/${id}`, { headers: { accept: 'application/fhir+json;q=0.5, text/html' } });
    expect(preferred.headers.get('content-type')).toBe('text/html; charset=utf-8');
  });
});

describe('$docref and the encounter search upstream', () => {
  it('asks Nextech once, for exactly the start and end days', async () => {
    svc.sandbox.resetCalls();
    await docref(`patient=${boundary.id}&start=2021-03-16&end=2024-02-29`);
    const calls = encounterSearches(svc.sandbox.calls);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.query).toEqual({ start: '2021-03-16T00:00:00.000Z', end: '2024-02-29T23:59:59.999Z' });
  });
});

describe('Binary content negotiation', () => {
  it('answers the document unless a FHIR type is asked for, and a wildcard never outranks one', async () => {
    const { id } = documentOf(many, 5);
    const kind = async (accept?: string) => {
      const res = await fetch(`${svc.fhir}/Binary/${id}`, accept === undefined ? {} : { headers: { accept } });
      await res.arrayBuffer();
      return res.status === 406 ? 406 : (res.headers.get('content-type') ?? '').split(';')[0];
    };
    const cases: [string | undefined, string | number][] = [
      [undefined, 'text/html'],
      ['*/*', 'text/html'],
      ['text/*', 'text/html'],
      ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'text/html'],
      ['application/fhir+json', 'application/fhir+json'],
      ['application/json', 'application/fhir+json'],
      ['*/*, application/fhir+json', 'application/fhir+json'],
      ['application/fhir+json;q=1.0, application/json+fhir;q=0.9', 'application/fhir+json'],
      ['text/html;q=0, */*', 'application/fhir+json'],
      ['application/fhir+json;q=0.5, text/html', 'text/html'],
      ['application/xml', 406],
    ];
    for (const [accept, expected] of cases) expect(await kind(accept), String(accept)).toBe(expected);
  });
});
