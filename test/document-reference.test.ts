import type { Bundle, CapabilityStatement, DocumentReference, Encounter, Patient, SearchParameter } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_CATEGORIES, type SandboxEncounter } from '../src/sandbox/index.ts';
import {
  allPages,
  attachmentOf,
  ccdBytes,
  docFetch,
  doctorDisplayOf,
  documentIdOf,
  edgePatient,
  encounterIdOf,
  encounterSearches,
  expectCarries,
  idsOf,
  instantOf,
  isLocked,
  linkOf,
  matchesOf,
  newestFirst,
  withIds,
  type DocPatient,
} from './helpers/documents.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';

let svc: TestService;
/** Six encounters whose lock flag is sometimes a string ("True", "true", "false"). */
let locked: DocPatient;
/** Thirty encounters. */
let many: DocPatient;
/** Seven encounters; the earliest CCD is over 1 MB. */
let large: DocPatient;
/** Encounters just either side of UTC midnights on 2021-03-15. */
let boundary: DocPatient;

beforeAll(async () => {
  svc = await startTestService();
  locked = await withIds(svc.fhir, await edgePatient(svc.sandbox, svc.fhir, 'locked-as-string'));
  many = await withIds(svc.fhir, await edgePatient(svc.sandbox, svc.fhir, 'many-encounters'));
  large = await withIds(svc.fhir, await edgePatient(svc.sandbox, svc.fhir, 'large-ccd'));
  boundary = await withIds(svc.fhir, await edgePatient(svc.sandbox, svc.fhir, 'day-boundary-encounters'));
});
afterAll(() => svc.close());

const FORMAT_SYSTEM = 'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode';
const CATEGORY_SYSTEM = 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category';

const search = (query: string) => docFetch<Bundle>(`${svc.fhir}/DocumentReference?${query}`);
const read = (id: string, query = '') => docFetch<DocumentReference>(`${svc.fhir}/DocumentReference/${id}${query}`);
/** Document ids of a patient's encounters that satisfy `pred`, newest first. */
const expectedIds = (p: DocPatient, pred: (e: SandboxEncounter) => boolean = () => true) =>
  newestFirst(p).filter(pred).map((e) => documentIdOf(p, e));
/** The sandbox encounter a document id stands for (ids are opaque: found by withIds). */
const encounterFor = (p: DocPatient, doc: DocumentReference): SandboxEncounter => {
  const e = p.patient.encounters.find((x) => documentIdOf(p, x) === doc.id);
  if (!e) throw new Error(`no encounter for document ${doc.id ?? ''}`);
  return e;
};
const SUBSETTED: unknown = expect.objectContaining({ code: 'SUBSETTED' });

describe('DocumentReference content', () => {
  it('maps each encounter CCD to one US Core clinical-note document with the exact CCD attached', async () => {
    const { status, body } = await search(`patient=${locked.id}&_count=50`);
    expect(status).toBe(200);
    expect(body.total).toBe(locked.patient.encounters.length);
    expect(idsOf(body)).toEqual(expectedIds(locked));
    for (const doc of matchesOf(body)) {
      const e = encounterFor(locked, doc);
      const bytes = ccdBytes(locked, e);
      expect(doc).toMatchObject({
        resourceType: 'DocumentReference',
        status: 'current',
        docStatus: isLocked(e) ? 'final' : 'preliminary',
        type: { coding: [expect.objectContaining({ system: 'http://loinc.org', code: '34133-9' })] },
        category: [{ coding: [expect.objectContaining({ system: CATEGORY_SYSTEM, code: 'clinical-note' })] }],
        subject: { reference: `Patient/${locked.id}` },
        date: instantOf(e),
        author: [expect.objectContaining({ display: doctorDisplayOf(e) })],
        context: { encounter: [{ reference: `Encounter/${encounterIdOf(locked, e)}` }], period: { start: instantOf(e) } },
      });
      const attachment = attachmentOf(doc);
      expect(attachment).toMatchObject({ contentType: 'text/html', creation: instantOf(e), url: `${svc.fhir}/Binary/${doc.id ?? ''}` });
      expect(attachment.title).toEqual(expect.any(String));
      expect(doc.content[0]?.format).toMatchObject({ system: FORMAT_SYSTEM, code: 'urn:ihe:iti:xds:2017:mimeTypeSufficient' });
      expectCarries(doc, bytes);
    }
  });

  it('says final for locked encounters and preliminary otherwise, whatever type the lock flag has', async () => {
    const byDate = [...locked.patient.encounters].sort((a, b) => a.instant - b.instant);
    // The fixture's flags in date order are "True", "true", "false", true, false, "true".
    expect(byDate.map((e) => e.summary.encounterLocked)).toEqual(['True', 'true', 'false', true, false, 'true']);
    const docs = await allPages(`${svc.fhir}/DocumentReference?patient=${locked.id}&_sort=date`);
    expect(docs.map((d) => d.docStatus)).toEqual(['final', 'final', 'preliminary', 'final', 'preliminary', 'final']);
  });

  it('names the doctor as author, "First Last, MD"', async () => {
    const docs = await allPages(`${svc.fhir}/DocumentReference?patient=${many.id}&_count=50`);
    expect(docs).toHaveLength(30);
    for (const doc of docs) expect(doc.author?.[0]?.display).toBe(doctorDisplayOf(encounterFor(many, doc)));
    expect(docs.map((d) => d.author?.[0]?.display)).toContain('Rahul Desai, MD');
  });

  it('points subject at the Patient and context.encounter at the same Encounter, both readable here', async () => {
    const [doc] = matchesOf((await search(`patient=${many.id}&_count=1`)).body);
    if (!doc) throw new Error('no document');
    const e = encounterFor(many, doc);
    const patient = await fhirFetch<Patient>(`${svc.fhir}/${doc.subject?.reference ?? ''}`);
    expect(patient.status).toBe(200);
    expect(patient.body.id).toBe(many.id);
    const encounter = await fhirFetch<Encounter>(`${svc.fhir}/${doc.context?.encounter?.[0]?.reference ?? ''}`);
    expect(encounter.status).toBe(200);
    expect(encounter.body.identifier?.[0]?.value).toBe(String(e.summary.encounterId));
    expect(encounter.body.period?.start).toBe(doc.date);
    expect(encounter.body.subject?.reference).toBe(`Patient/${many.id}`);
  });

  it('attaches every CCD of a 30-encounter patient and of the >1 MB patient byte for byte', async () => {
    for (const p of [many, large]) {
      const docs = await allPages(`${svc.fhir}/DocumentReference?patient=${p.id}&_count=50`);
      expect(docs.map((d) => d.id)).toEqual(expectedIds(p));
      for (const doc of docs) expectCarries(doc, ccdBytes(p, encounterFor(p, doc)));
    }
    const biggest = Math.max(...large.patient.encounters.map((e) => ccdBytes(large, e).length));
    expect(biggest).toBeGreaterThan(1_000_000);
  });

  it("returns a patient's CCDs for category=clinical-note, and each reads back by id unchanged", async () => {
    const { body } = await search(`patient=${large.id}&category=clinical-note&_count=50`);
    expect(body.total).toBe(large.patient.encounters.length);
    for (const doc of matchesOf(body)) {
      expect(decodedHtml(doc)).toBe(ccdBytes(large, encounterFor(large, doc)).toString('utf8'));
      const back = await read(doc.id ?? '');
      expect(back.status).toBe(200);
      expect(back.body).toEqual(doc);
    }
    const entry = body.entry?.[0];
    expect(entry?.fullUrl).toBe(`${svc.fhir}/DocumentReference/${entry?.resource?.id ?? ''}`);
  });

  it('returns 404 for ids it did not issue, before any upstream call', async () => {
    const [e] = newestFirst(many);
    if (!e) throw new Error('no encounter');
    const real = documentIdOf(many, e);
    const day = instantOf(e).slice(0, 10).replaceAll('-', '');
    const oldFormat = `${e.summary.encounterId}.${day}.${many.patient.patientId}-${many.patient.json.chartNumber}`;
    // More alterations, for every type, in test/resource-ids.test.ts.
    for (const id of ['nope', oldFormat, `999999999.20210315.${many.id}`, encounterIdOf(many, e), `${real}A`]) {
      svc.sandbox.resetCalls();
      const { issue } = await expectOutcome(`${svc.fhir}/DocumentReference/${id}`, 404);
      expect(issue.code).toBe('not-found');
      expect(svc.sandbox.calls).toHaveLength(0);
    }
  });

});

const decodedHtml = (doc: DocumentReference) => Buffer.from(attachmentOf(doc).data ?? '', 'base64').toString('utf8');

describe('DocumentReference search parameters', () => {
  it('gives identical results for patient as id, Patient/id and absolute URL', async () => {
    const forms = [many.id, `Patient/${many.id}`, `${svc.fhir}/Patient/${many.id}`];
    const results = await Promise.all(forms.map((f) => search(`patient=${encodeURIComponent(f)}&_count=50`)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body.entry).toEqual(results[0]?.body.entry);
    }
    expect(idsOf(results[0]?.body ?? { resourceType: 'Bundle', type: 'searchset' })).toEqual(expectedIds(many));
  });

  it('finds one document by _id and by encounter', async () => {
    const e = newestFirst(many)[7];
    if (!e) throw new Error('no encounter');
    const id = documentIdOf(many, e);
    const byId = await search(`_id=${id}`);
    expect(idsOf(byId.body)).toEqual([id]);
    const byEncounter = await search(`encounter=Encounter/${encounterIdOf(many, e)}`);
    expect(byEncounter.body.entry).toEqual(byId.body.entry);
    expect((await search(`patient=${many.id}&encounter=Encounter/${encounterIdOf(many, e)}`)).body.total).toBe(1);
    // A document id is not an Encounter id, nor the other way round.
    expect((await search(`encounter=Encounter/${id}`)).body.total).toBe(0);
    expect((await search(`_id=${encounterIdOf(many, e)}`)).body.total).toBe(0);
    expect((await search(`patient=${locked.id}&_id=${id}`)).body.total).toBe(0);
  });

  const day = (iso: string) => Date.parse(iso);
  it.each([
    ['date=2021-03-15', (t: number) => t >= day('2021-03-15') && t < day('2021-03-16')],
    ['date=eq2021-03', (t: number) => t >= day('2021-03-01') && t < day('2021-04-01')],
    ['date=ge2021-03-15', (t: number) => t >= day('2021-03-15')],
    ['date=gt2021-03-15', (t: number) => t >= day('2021-03-16')],
    ['date=le2021-03-15', (t: number) => t < day('2021-03-16')],
    ['date=lt2021-03-15', (t: number) => t < day('2021-03-15')],
    ['date=sa2021-03-15', (t: number) => t >= day('2021-03-16')],
    ['date=eb2021-03-15', (t: number) => t < day('2021-03-15')],
    ['date=ne2021-03-15', (t: number) => t < day('2021-03-15') || t >= day('2021-03-16')],
    ['date=ge2021-03-15T04:30:00Z&date=lt2021-03-16', (t: number) => t >= day('2021-03-15T04:30:00Z') && t < day('2021-03-16')],
    ['date=2021-03-14,2024', (t: number) => (t >= day('2021-03-14') && t < day('2021-03-15')) || t >= day('2024-01-01')],
    ['period=2021-03-15', (t: number) => t >= day('2021-03-15') && t < day('2021-03-16')],
    ['period=ge2021-03-15T23:59:59.999Z', (t: number) => t >= day('2021-03-15T23:59:59.999Z')],
    ['period=lt2021-03-15T04:30Z&date=gt2021-03-14', (t: number) => t >= day('2021-03-15') && t < day('2021-03-15T04:30:00Z')],
  ])('filters %s exactly by the encounter instant', async (query, pred) => {
    const want = expectedIds(boundary, (e) => pred(e.instant));
    const docs = await allPages(`${svc.fhir}/DocumentReference?patient=${boundary.id}&${query}`);
    expect(docs.map((d) => d.id)).toEqual(want);
  });

  it('checks the date range against the sandbox for a patient with many encounters', async () => {
    const want = expectedIds(many, (e) => e.instant >= day('2019-06-01') && e.instant < day('2021-07-01'));
    expect(want.length).toBeGreaterThan(5);
    const docs = await allPages(`${svc.fhir}/DocumentReference?patient=${many.id}&date=ge2019-06&date=lt2021-07`);
    expect(docs.map((d) => d.id)).toEqual(want);
  });

  it('matches category by code and by system|code, and nothing else', async () => {
    const all = expectedIds(locked);
    expect(idsOf((await search(`patient=${locked.id}&category=clinical-note`)).body)).toEqual(all);
    expect(idsOf((await search(`patient=${locked.id}&category=${encodeURIComponent(`${CATEGORY_SYSTEM}|clinical-note`)}`)).body)).toEqual(all);
    expect((await search(`patient=${locked.id}&category=${encodeURIComponent(`${CATEGORY_SYSTEM}|imaging`)}`)).body.total).toBe(0);
    expect((await search(`patient=${locked.id}&category=${encodeURIComponent('http://example.org|clinical-note')}`)).body.total).toBe(0);
  });

  it('matches type LOINC 34133-9 and no other code', async () => {
    const all = expectedIds(locked);
    expect(idsOf((await search(`patient=${locked.id}&type=${encodeURIComponent('http://loinc.org|34133-9')}`)).body)).toEqual(all);
    expect(idsOf((await search(`patient=${locked.id}&type=34133-9`)).body)).toEqual(all);
    expect((await search(`patient=${locked.id}&type=${encodeURIComponent('http://loinc.org|11506-3')}`)).body.total).toBe(0);
    expect((await search(`patient=${locked.id}&type=${encodeURIComponent('http://snomed.info/sct|34133-9')}`)).body.total).toBe(0);
  });

  it('matches status current and no other status', async () => {
    expect(idsOf((await search(`patient=${locked.id}&status=current`)).body)).toEqual(expectedIds(locked));
    expect((await search(`patient=${locked.id}&status=superseded`)).body.total).toBe(0);
    expect((await search(`patient=${locked.id}&status=entered-in-error`)).body.total).toBe(0);
  });

  it('returns 400 required naming patient when neither patient, _id nor encounter is given, before any upstream call', async () => {
    svc.sandbox.resetCalls();
    for (const query of ['category=clinical-note', 'date=ge2020', '']) {
      const { issue } = await expectOutcome(`${svc.fhir}/DocumentReference?${query}`, 400);
      expect(issue.code).toBe('required');
      expect(issue.diagnostics).toContain('patient');
    }
    expect(svc.sandbox.calls).toHaveLength(0);
  });
});

describe('DocumentReference section', () => {
  it('holds only the asked section, matched without regard to case, under ids of its own that read back', async () => {
    const whole = await search(`patient=${locked.id}&_count=50`);
    const { status, body } = await search(`patient=${locked.id}&section=allergies&_count=50`);
    expect(status).toBe(200);
    const docs = matchesOf(body);
    expect(docs).toHaveLength(locked.patient.encounters.length);
    const wholeIds = new Set(idsOf(whole.body));
    for (const doc of docs) {
      expect(wholeIds.has(doc.id ?? '')).toBe(false);
      const wholeDoc = matchesOf(whole.body).find((w) => w.date === doc.date);
      if (!wholeDoc) throw new Error('no whole document of that date');
      const e = encounterFor(locked, wholeDoc);
      expectCarries(doc, ccdBytes(locked, e, 'Allergies'));
      expect(doc.context?.encounter).toEqual(wholeDoc.context?.encounter);
      expect(attachmentOf(doc).url).toBe(`${svc.fhir}/Binary/${doc.id ?? ''}`);
      const back = await read(doc.id ?? '');
      expect(back.status).toBe(200);
      expect(back.body).toEqual(doc);
    }
    const upper = await search(`patient=${locked.id}&section=ALLERGIES&_count=50`);
    expect(idsOf(upper.body)).toEqual(idsOf(body));
  });

  it('returns 400 listing the valid sections for an unknown section', async () => {
    const { issue } = await expectOutcome(`${svc.fhir}/DocumentReference?patient=${locked.id}&section=Horoscope`, 400);
    expect(issue.code).toBe('invalid');
    for (const name of SANDBOX_CATEGORIES) expect(issue.diagnostics).toContain(name);
  });

  it('returns 400 for two sections, comma-separated or repeated', async () => {
    for (const query of ['section=Allergies,Medications', 'section=Allergies&section=Medications']) {
      const { issue } = await expectOutcome(`${svc.fhir}/DocumentReference?patient=${locked.id}&${query}`, 400);
      expect(issue.diagnostics).toContain('section');
    }
  });

  it('declares section in the CapabilityStatement with a definition that resolves to a SearchParameter', async () => {
    const { body } = await fhirFetch<CapabilityStatement>(`${svc.fhir}/metadata`);
    const docRef = body.rest?.[0]?.resource?.find((r) => r.type === 'DocumentReference');
    const param = docRef?.searchParam?.find((p) => p.name === 'section');
    expect(param?.type).toBe('token');
    expect(param?.definition).toBe(`${svc.fhir}/SearchParameter/DocumentReference-section`);
    const def = await fhirFetch<SearchParameter>(param?.definition ?? '');
    expect(def.status).toBe(200);
    expect(def.body).toMatchObject({
      resourceType: 'SearchParameter',
      id: 'DocumentReference-section',
      url: param?.definition,
      code: 'section',
      base: ['DocumentReference'],
      type: 'token',
      status: 'active',
    });
  });
});

describe('DocumentReference views', () => {
  it('leaves out the attachment data for _summary=true and tags the documents SUBSETTED', async () => {
    const { body } = await search(`patient=${locked.id}&_summary=true`);
    const docs = matchesOf(body);
    expect(docs).toHaveLength(locked.patient.encounters.length);
    for (const doc of docs) {
      const attachment = attachmentOf(doc);
      expect(attachment.data).toBeUndefined();
      // Nothing is encoded or hashed for a response without the data (issue 10: page-first).
      expect(attachment.hash).toBeUndefined();
      expect(attachment.size).toBe(ccdBytes(locked, encounterFor(locked, doc)).length);
      expect(attachment.url).toBe(`${svc.fhir}/Binary/${doc.id ?? ''}`);
      // Every top-level element is a summary element, so only the missing data says it is partial.
      expect(doc.meta?.tag ?? []).toContainEqual(SUBSETTED);
    }
  });

  it('leaves out the attachment data of a read with _summary=true and tags it SUBSETTED', async () => {
    const [e] = newestFirst(locked);
    if (!e) throw new Error('no encounter');
    const { body } = await read(documentIdOf(locked, e), '?_summary=true');
    expect(attachmentOf(body).data).toBeUndefined();
    expect(body.meta?.tag ?? []).toContainEqual(SUBSETTED);
  });

  it('keeps only the listed elements for _elements, without content unless listed, tagged SUBSETTED', async () => {
    const { body } = await search(`patient=${locked.id}&_elements=subject,date`);
    const docs = matchesOf(body);
    expect(docs).toHaveLength(locked.patient.encounters.length);
    for (const doc of docs) {
      const e = encounterFor(locked, doc);
      expect(doc).toMatchObject({ subject: { reference: `Patient/${locked.id}` }, date: instantOf(e) });
      // The issue asks for content to be left out entirely; R4 says servers SHOULD still return
      // mandatory elements (status, content). Either way no unrequested optional element and
      // no attachment data is sent.
      const kept = Object.keys(doc).filter((k) => !['resourceType', 'id', 'meta', 'subject', 'date'].includes(k));
      expect(kept.filter((k) => k !== 'status' && k !== 'content')).toEqual([]);
      expect(doc.content?.[0]?.attachment.data).toBeUndefined();
      expect(doc.meta?.tag ?? []).toContainEqual(SUBSETTED);
    }
    const withContent = await search(`patient=${locked.id}&_elements=content,subject`);
    for (const doc of matchesOf(withContent.body)) {
      expect(doc.date).toBeUndefined();
      expectCarries(doc, ccdBytes(locked, encounterFor(locked, doc)));
      expect(doc.meta?.tag ?? []).toContainEqual(SUBSETTED);
    }
  });

  it('reports only the total for _summary=count', async () => {
    const { body } = await search(`patient=${many.id}&_summary=count`);
    expect(body.total).toBe(30);
    expect(body.entry).toBeUndefined();
  });

  it('serves a page of 20 documents that includes the >1 MB CCD', async () => {
    const everyone = [large, many].flatMap((p) => p.patient.encounters.map((e) => ({ p, e })));
    const want = everyone.sort((a, b) => a.e.instant - b.e.instant).slice(0, 20);
    const bigOne = want.find(({ p, e }) => ccdBytes(p, e).length > 1_000_000);
    expect(bigOne).toBeDefined();
    const { status, body } = await search(`patient=${large.id},${many.id}&_sort=date&_count=20`);
    expect(status).toBe(200);
    expect(body.total).toBe(everyone.length);
    const docs = matchesOf(body);
    expect(docs.map((d) => d.id)).toEqual(want.map(({ p, e }) => documentIdOf(p, e)));
    docs.forEach((doc, i) => {
      const w = want[i];
      if (w) expectCarries(doc, ccdBytes(w.p, w.e));
    });
  });
});

describe('DocumentReference responses streamed', () => {
  it('streams a search over the >1 MB CCD (no Content-Length): the base64 of the exact CCD bytes, the same JSON pretty or not', async () => {
    const url = `${svc.fhir}/DocumentReference?patient=${large.id}&_count=50`;
    const res = await fetch(url, { headers: { accept: 'application/fhir+json' } });
    expect(res.status).toBe(200);
    // Written as it is encoded: the length is not known before the last byte.
    expect(res.headers.get('content-length')).toBeNull();
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    await res.arrayBuffer();
    const compact = await search(`patient=${large.id}&_count=50`);
    const pretty = await search(`patient=${large.id}&_count=50&_pretty=true`);
    // The same resources (the self link alone names _pretty).
    expect(pretty.body.entry).toEqual(compact.body.entry);
    expect(pretty.body.total).toBe(compact.body.total);
    const docs = matchesOf(compact.body);
    expect(docs.map((d) => d.id)).toEqual(expectedIds(large));
    for (const doc of docs) expectCarries(doc, ccdBytes(large, encounterFor(large, doc)));
    expect(Math.max(...docs.map((d) => decodedHtml(d).length))).toBeGreaterThan(1_000_000);
  });

  it('streams a read of the >1 MB document and its Binary as FHIR JSON, each carrying the exact bytes', async () => {
    const e = large.patient.encounters.reduce((a, b) => (ccdBytes(large, a).length >= ccdBytes(large, b).length ? a : b));
    const id = documentIdOf(large, e);
    const doc = await read(id);
    expect(doc.status).toBe(200);
    expect(doc.headers.get('content-length')).toBeNull();
    expectCarries(doc.body, ccdBytes(large, e));
    const binary = await docFetch<{ data?: string }>(`${svc.fhir}/Binary/${id}`);
    expect(binary.status).toBe(200);
    expect(binary.headers.get('content-length')).toBeNull();
    expect(binary.body.data).toBe(ccdBytes(large, e).toString('base64'));
  });
});

describe('DocumentReference paging and order', () => {
  it('pages 10 at a time, newest first, with next and previous links that round-trip', async () => {
    const want = expectedIds(many);
    const first = await search(`patient=${many.id}`);
    expect(first.body.total).toBe(30);
    expect(idsOf(first.body)).toEqual(want.slice(0, 10));
    expect(linkOf(first.body, 'previous')).toBeUndefined();
    const nextUrl = linkOf(first.body, 'next') ?? '';
    const second = await fhirFetch<Bundle>(nextUrl);
    expect(idsOf(second.body)).toEqual(want.slice(10, 20));
    expect(linkOf(second.body, 'self')).toBe(nextUrl);
    const back = await fhirFetch<Bundle>(linkOf(second.body, 'previous') ?? '');
    expect(back.body.entry).toEqual(first.body.entry);
    const third = await fhirFetch<Bundle>(linkOf(second.body, 'next') ?? '');
    expect(idsOf(third.body)).toEqual(want.slice(20, 30));
    expect(linkOf(third.body, 'next')).toBeUndefined();
  });

  it('sorts oldest first with _sort=date and newest first with _sort=-date', async () => {
    const newest = expectedIds(many);
    const asc = await allPages(`${svc.fhir}/DocumentReference?patient=${many.id}&_sort=date&_count=7`);
    expect(asc.map((d) => d.id)).toEqual([...newest].reverse());
    const desc = await allPages(`${svc.fhir}/DocumentReference?patient=${many.id}&_sort=-date&_count=7`);
    expect(desc.map((d) => d.id)).toEqual(newest);
  });

  it('answers POST _search like the GET search', async () => {
    const get = await search(`patient=${many.id}&date=ge2022&_count=5`);
    const post = await fhirFetch<Bundle>(`${svc.fhir}/DocumentReference/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `patient=${many.id}&date=ge2022&_count=5`,
    });
    expect(post.status).toBe(200);
    expect(post.body.entry).toEqual(get.body.entry);
    // Both next links are cursors (sealed apart, so spelled differently) that open the same page.
    const [postNext, getNext] = [linkOf(post.body, 'next') ?? '', linkOf(get.body, 'next') ?? ''];
    expect(postNext).toMatch(/\/DocumentReference\?_cursor=[A-Za-z0-9_-]+$/);
    expect((await fhirFetch<Bundle>(postNext)).body.entry).toEqual((await fhirFetch<Bundle>(getNext)).body.entry);
  });
});

describe('DocumentReference and the encounter search upstream', () => {
  it('narrows the upstream range to the date parameters', async () => {
    svc.sandbox.resetCalls();
    const { body } = await search(`patient=${boundary.id}&date=ge2021-03-14&date=le2021-03-14`);
    expect(idsOf(body)).toEqual(expectedIds(boundary, (e) => instantOf(e).startsWith('2021-03-14')));
    const calls = encounterSearches(svc.sandbox.calls);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.query).toEqual({ start: '2021-03-14T00:00:00.000Z', end: '2021-03-14T23:59:59.999Z' });
  });
});
