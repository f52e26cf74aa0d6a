/**
 * Resource ids over HTTP: opaque and integrity-protected (src/ids). Any id the service did
 * not issue for this type and practice — one character changed, cut, extended, another
 * type's or practice's, the old `{patientId}-{chart}` format — is a 404 OperationOutcome
 * answered without a single upstream call; ids are the same on every instance sharing
 * RESOURCE_ID_KEY; and no id, fullUrl, reference or link of real answers shows a chart
 * number. Ids are found by searching (and matching Nextech identifiers), never built.
 */
import type { Bundle, Patient } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docFetch, documentIdOf, edgePatient, encounterIdOf, matchesOf, newestFirst, withIds, type DocPatient } from './helpers/documents.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';

const P2 = '1002';
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.';

let svc: TestService;
/** The many-encounters patient of practice 1001, and the same edge case in practice 1002. */
let many: DocPatient;
let other: DocPatient;
/** The ids of one resource of each type, here and in the other practice. */
let ids: Record<TypeName, { own: string; otherPractice: string; otherTypes: string[]; oldFormat: string }>;

type TypeName = 'Patient' | 'Encounter' | 'DocumentReference' | 'DocumentReference (section)' | 'Binary';
const pathOf: Record<TypeName, string> = {
  Patient: 'Patient',
  Encounter: 'Encounter',
  DocumentReference: 'DocumentReference',
  'DocumentReference (section)': 'DocumentReference',
  Binary: 'Binary',
};

async function sectionDocumentId(base: string, p: DocPatient): Promise<string> {
  const { body } = await docFetch<Bundle>(`${base}/DocumentReference?patient=${p.id}&section=Allergies&_summary=true&_count=1`);
  const id = matchesOf(body)[0]?.id;
  if (id === undefined) throw new Error('no section document');
  return id;
}

beforeAll(async () => {
  svc = await startTestService();
  const base2 = `${svc.origin}/practices/${P2}/fhir`;
  many = await withIds(svc.fhir, await edgePatient(svc.sandbox, svc.fhir, 'many-encounters'));
  other = await withIds(base2, await edgePatient(svc.sandbox, base2, 'many-encounters', P2));
  const [e] = newestFirst(many);
  const [e2] = newestFirst(other);
  if (!e || !e2) throw new Error('fixture changed');
  const [enc, doc, section] = [encounterIdOf(many, e), documentIdOf(many, e), await sectionDocumentId(svc.fhir, many)];
  const old = `${many.patient.patientId}-${many.patient.json.chartNumber}`;
  const oldEncounter = `${e.summary.encounterId}.${new Date(e.instant).toISOString().slice(0, 10).replaceAll('-', '')}.${old}`;
  ids = {
    Patient: { own: many.id, otherPractice: other.id, otherTypes: [enc, doc, section], oldFormat: old },
    Encounter: { own: enc, otherPractice: encounterIdOf(other, e2), otherTypes: [many.id, doc, section], oldFormat: oldEncounter },
    DocumentReference: { own: doc, otherPractice: documentIdOf(other, e2), otherTypes: [many.id, enc], oldFormat: oldEncounter },
    'DocumentReference (section)': {
      own: section,
      otherPractice: await sectionDocumentId(base2, other),
      otherTypes: [many.id, enc],
      oldFormat: oldEncounter.replace(/^(\d+\.\d{8})/, '$1s3fa2'),
    },
    Binary: { own: doc, otherPractice: documentIdOf(other, e2), otherTypes: [many.id, enc], oldFormat: oldEncounter },
  };
});
afterAll(() => svc.close());

/** The id with the character at `i` (from the end when negative) replaced by the next one of the alphabet. */
function changed(id: string, i: number): string {
  const at = i < 0 ? id.length + i : i;
  const next = ALPHABET[(ALPHABET.indexOf(id[at] ?? 'A') + 1) % ALPHABET.length] ?? 'A';
  return `${id.slice(0, at)}${next}${id.slice(at + 1)}`;
}

/** The id with its first two differing neighbours swapped. */
function swapped(id: string): string {
  const i = [...id].findIndex((c, k) => k + 1 < id.length && c !== id[k + 1]);
  return `${id.slice(0, i)}${id[i + 1] ?? ''}${id[i] ?? ''}${id.slice(i + 2)}`;
}

const alterations: Array<[string, (t: (typeof ids)[TypeName]) => string[]]> = [
  ['one character changed, first, middle or last', (t) => [changed(t.own, 0), changed(t.own, Math.floor(t.own.length / 2)), changed(t.own, -1)]],
  ['the case of one letter changed', (t) => [t.own.replace(/[A-Za-z]/, (c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()))]],
  ['two neighbouring characters swapped', (t) => [swapped(t.own)]],
  ['truncated', (t) => [t.own.slice(0, -1), t.own.slice(0, -4), t.own.slice(0, t.own.length / 2)]],
  ['extended', (t) => [`${t.own}A`, `${t.own}AAAA`, `A${t.own}`]],
  ['of another type', (t) => t.otherTypes],
  ["another practice's", (t) => [t.otherPractice]],
  ['in the old format', (t) => [t.oldFormat]],
];

const types = Object.keys(pathOf) as TypeName[];

describe('ids the service did not issue', () => {
  it.each(types)('%s: the unaltered id reads back', async (type) => {
    const res = await docFetch(`${svc.fhir}/${pathOf[type]}/${ids[type].own}`);
    expect(res.status).toBe(200);
    expect(ids[type].otherPractice).not.toBe(ids[type].own);
  });

  it.each(types.flatMap((type) => alterations.map(([name, alter]) => [type, name, alter] as const)))(
    '%s: an id %s is a 404 OperationOutcome with no upstream call',
    async (type, _name, alter) => {
      const wrong = alter(ids[type]);
      expect(wrong.length).toBeGreaterThan(0);
      for (const id of wrong) {
        expect(id).not.toBe(ids[type].own);
        svc.sandbox.resetCalls();
        const { issue } = await expectOutcome(`${svc.fhir}/${pathOf[type]}/${encodeURIComponent(id)}`, 404);
        expect(issue.code).toBe('not-found');
        expect(issue.diagnostics ?? '').not.toContain(id);
        if (type === 'Binary') await expectOutcome(`${svc.fhir}/Binary/${encodeURIComponent(id)}`, 404, { headers: { accept: 'text/html' } });
        expect(svc.sandbox.calls).toEqual([]);
      }
    },
  );

  it('finds nothing, with no upstream call, for searches naming altered or foreign ids', async () => {
    const queries = [
      `Patient?_id=${changed(ids.Patient.own, -1)}`,
      `Encounter?patient=${changed(ids.Patient.own, 3)}`,
      `Encounter?patient=${ids.Patient.otherPractice}`,
      `Encounter?_id=${ids.DocumentReference.own}`,
      `DocumentReference?_id=${ids.Encounter.own}`,
      `DocumentReference?encounter=${changed(ids.Encounter.own, 0)}`,
    ];
    for (const query of queries) {
      svc.sandbox.resetCalls();
      const { status, body } = await fhirFetch<Bundle>(`${svc.fhir}/${query}`);
      expect(status).toBe(200);
      expect(body.total).toBe(0);
      expect(svc.sandbox.calls).toEqual([]);
    }
    svc.sandbox.resetCalls();
    await expectOutcome(`${svc.fhir}/DocumentReference/$docref?patient=${ids.Patient.oldFormat}`, 400);
    expect(svc.sandbox.calls).toEqual([]);
  });
});

describe('ids across instances', () => {
  const KEY = 'a resource id key shared by two replicas, 32+ chars';
  let a: TestService;
  let b: TestService;
  beforeAll(async () => {
    [a, b] = await Promise.all([startTestService({ RESOURCE_ID_KEY: KEY }), startTestService({ RESOURCE_ID_KEY: KEY })]);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  /** Ids of everything a few searches return on one instance, in order. */
  async function idsFrom(s: TestService): Promise<string[]> {
    const p = await withIds(s.fhir, await edgePatient(s.sandbox, s.fhir, 'many-encounters'));
    const patients = await fhirFetch<Bundle>(`${s.fhir}/Patient?family=smith&_count=50`);
    return [p.id, ...(p.ids?.encounter.values() ?? []), ...(p.ids?.document.values() ?? []), ...matchesOf<Patient>(patients.body).map((x) => x.id ?? '')];
  }

  it('are the same on two instances started with the same RESOURCE_ID_KEY, and read on either', async () => {
    const [fromA, fromB] = [await idsFrom(a), await idsFrom(b)];
    expect(fromA.length).toBeGreaterThan(60);
    expect(fromB).toEqual(fromA);
    const patient = fromA[0] ?? '';
    expect((await fhirFetch<Patient>(`${b.fhir}/Patient/${patient}`)).body.id).toBe(patient);
  });

  it('differ under another key, where they read as nothing', async () => {
    const fromA = await idsFrom(a);
    const here = await idsFrom(svc);
    expect(here.filter((id) => fromA.includes(id))).toEqual([]);
    svc.sandbox.resetCalls();
    await expectOutcome(`${svc.fhir}/Patient/${fromA[0] ?? ''}`, 404);
    expect(svc.sandbox.calls).toEqual([]);
  });
});

describe('ids show no chart number', () => {
  /** Every id, fullUrl, reference, link and attachment url in a JSON value. */
  function locators(value: unknown, key = '', out: string[] = []): string[] {
    if (typeof value === 'string' && ['id', 'fullUrl', 'reference', 'url'].includes(key)) out.push(value);
    else if (Array.isArray(value)) for (const v of value) locators(v, key, out);
    else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) locators(v, k, out);
    return out;
  }

  it('in searches, includes, reads, $docref and Binary of practices 1001 and 1002', async () => {
    const base2 = `${svc.origin}/practices/${P2}/fhir`;
    const [e] = newestFirst(many);
    if (!e) throw new Error('fixture changed');
    const urls = [
      `${svc.fhir}/Patient?family=smith&_count=50`,
      `${base2}/Patient?name=thornbury`,
      `${svc.fhir}/Patient/${many.id}`,
      `${svc.fhir}/Encounter?patient=${many.id}&_include=Encounter:patient&_revinclude=DocumentReference:encounter&_count=7`,
      `${base2}/Encounter?patient=${other.id}&_count=3`,
      `${svc.fhir}/Encounter/${encounterIdOf(many, e)}`,
      `${svc.fhir}/DocumentReference?patient=${many.id}&section=Allergies&_summary=true&_count=5`,
      `${svc.fhir}/DocumentReference/$docref?patient=${many.id}&start=2020-01-01&end=2022-12-31&_summary=true&_count=4`,
      `${svc.fhir}/Binary/${documentIdOf(many, e)}`,
    ];
    const charts = svc.sandbox.data.practices.flatMap((p) => p.patients.map((x) => x.json.chartNumber)).filter((c) => c.length > 0);
    expect(charts.length).toBeGreaterThan(100);
    const seen: string[] = [];
    for (const url of urls) {
      const { status, body } = await docFetch(url);
      expect(status).toBe(200);
      seen.push(...locators(body));
    }
    expect(seen.length).toBeGreaterThan(50);
    const leaks = seen.filter((s) => charts.some((c) => s.includes(c)));
    expect(leaks).toEqual([]);
  });
});
