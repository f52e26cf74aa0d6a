/**
 * Encounter over HTTP (issue 3): the mapping of Nextech encounter summaries, read by id,
 * search by patient, date, type, class, status and identifier, paging and sorting,
 * `_include`/`_revinclude`, `_summary`/`_elements`, against the real service and the real
 * sandbox. Expected answers come from the sandbox's data (test/helpers/encounters.ts), and
 * upstream traffic is counted from what the sandbox recorded. One file, longer than the
 * house's ~250 lines, so that the issue's list reads top to bottom in one place; shared
 * pieces live in test/helpers/encounters.ts.
 */
import type { Bundle, DocumentReference, Encounter, Patient } from 'fhir/r4';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { edgeCases, parseBound, type Sandbox, type SandboxEdgeCaseName, type SandboxPatient } from '../src/sandbox/index.ts';
import {
  encounterFhirId,
  encounterFhirIds,
  encounterIdsIn,
  encounterSearches,
  expectedEncounter,
  newestFirst,
  patientFhirId,
  patientSearches,
  sandboxPatient,
  startServiceAt,
  type ClockedService,
} from './helpers/encounters.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';

const P = '1001';
const P2 = '1002';
const DAY_MS = 86_400_000;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.close());

/** A fixture patient, its FHIR id (from a Patient search), its practice and that practice's base. */
interface Subject {
  patient: SandboxPatient;
  id: string;
  practiceId: string;
  base: string;
}

/** The FHIR base of a practice on a test service. */
const baseOf = (s: TestService, practiceId: string) => (practiceId === P ? s.fhir : `${s.origin}/practices/${practiceId}/fhir`);

async function fixture(s: { sandbox: Sandbox }, base: string, name: SandboxEdgeCaseName, practiceId = P): Promise<Subject> {
  const [edge] = edgeCases(name, practiceId);
  if (!edge) throw new Error(`no ${name} patient in ${practiceId}`);
  const patient = sandboxPatient(s.sandbox, practiceId, edge.patientId);
  return { patient, id: await patientFhirId(base, patient), practiceId, base };
}

const searchAt = (base: string, query: string) => fhirFetch<Bundle>(`${base}/Encounter?${query}`);
const linkOf = (b: Bundle, relation: string) => b.link?.find((l) => l.relation === relation)?.url;
const matchesOf = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as Encounter);
/** Nextech ids of a patient's encounters that satisfy `pred`, newest first. */
const wanted = (s: Subject, pred: (instant: number, type: string) => boolean = () => true) =>
  newestFirst(s.patient)
    .filter((e) => pred(e.instant, e.summary.type))
    .map((e) => e.summary.encounterId);

describe('Encounter mapping', () => {
  it('maps every Nextech summary field to the Encounter issue 3 describes', async () => {
    const subjects = [
      await fixture(svc, svc.fhir, 'many-encounters'),
      await fixture(svc, baseOf(svc, P2), 'day-boundary-encounters', P2),
    ];
    const summaries = subjects.flatMap((s) => s.patient.encounters.map((e) => e.summary));
    // The fixtures show every case of the mapping: each SNOMED type, a type without a code,
    // a doctor without a designation, an encounter without a department.
    expect([...new Set(summaries.map((s) => s.type))].sort()).toEqual(
      ['Consultation', 'Follow-Up', 'New Patient', 'Office Visit', 'Post-Op', 'Procedure', 'Telehealth'],
    );
    expect(summaries.some((s) => s.doctorProfessionalDesignation === null)).toBe(true);
    expect(summaries.some((s) => s.department === null)).toBe(true);
    for (const s of subjects) {
      const now = Date.now();
      const ids = await encounterFhirIds(s.base, s.id);
      const { status, body } = await searchAt(s.base, `patient=${s.id}&_count=50`);
      expect(status).toBe(200);
      const want = newestFirst(s.patient).map((e) => expectedEncounter(e.summary, s.practiceId, s.id, now, ids.get(e.summary.encounterId) ?? ''));
      expect(matchesOf(body)).toEqual(want);
      // Ids are opaque, one per encounter (each reads back: see Encounter read).
      expect(new Set(ids.values()).size).toBe(s.patient.encounters.length);
    }
  });

  it('names the doctor "First Last, designation", or "First Last" when Nextech has no designation', async () => {
    const s = await fixture(svc, svc.fhir, 'many-encounters');
    const { body } = await searchAt(svc.fhir, `patient=${s.id}&_count=50`);
    const displays = new Set(matchesOf(body).map((e) => e.participant?.[0]?.individual?.display));
    expect(displays).toContain('Lena Okonkwo');
    expect(displays).toContain('Karen Whitfield, OD');
  });
});

describe('Encounter status (service and sandbox clocks set to a chosen instant)', () => {
  let world: ClockedService | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  /**
   * A world whose clock stands `offsetMs` after the i-th encounter of the 'locked-as-string'
   * patient, whose encounterLocked values are, in date order, 'True', 'true', 'false', true,
   * false, 'true'. The instant is read from the sandbox data before the world starts.
   */
  async function ashfordWorld(i: number, offsetMs: number) {
    const [edge] = edgeCases('locked-as-string', P);
    const start = sandboxPatient(svc.sandbox, P, edge?.patientId ?? 0).encounters[i]?.instant ?? Number.NaN;
    world = await startServiceAt(start + offsetMs);
    const s = await fixture(world, world.fhir, 'locked-as-string');
    return { w: world, s };
  }

  async function statusesByRead(w: ClockedService, s: Subject): Promise<(string | undefined)[]> {
    const out: (string | undefined)[] = [];
    const ids = await encounterFhirIds(w.fhir, s.id);
    for (const e of s.patient.encounters) {
      const { status, body } = await fhirFetch<Encounter>(`${w.fhir}/Encounter/${ids.get(e.summary.encounterId) ?? ''}`);
      expect(status).toBe(200);
      out.push(body.status);
    }
    return out;
  }

  it('honours encounterLocked sent as "True", "true" and "false" exactly like the boolean', async () => {
    // An hour after the first encounter: the other five lie in the future.
    const { w, s } = await ashfordWorld(0, 3_600_000);
    expect(s.patient.encounters.map((e) => e.summary.encounterLocked)).toEqual(['True', 'true', 'false', true, false, 'true']);
    // 'True' read as unlocked would make the first in-progress; 'true' would make the second
    // planned; 'false' read as locked would make the third finished.
    expect(await statusesByRead(w, s)).toEqual(['finished', 'finished', 'planned', 'finished', 'planned', 'finished']);
  });

  it.each([
    ['23 hours', 'in-progress', 23 * 3_600_000],
    ['25 hours', 'finished', 25 * 3_600_000],
  ])('calls an unlocked encounter that started %s ago %s', async (_label, status, offsetMs) => {
    const { w, s } = await ashfordWorld(2, offsetMs);
    expect(await statusesByRead(w, s)).toEqual(['finished', 'finished', status, 'finished', 'planned', 'finished']);
  });

  it('finds encounters by status', async () => {
    const { w, s } = await ashfordWorld(2, 23 * 3_600_000);
    const [, , third, , fifth] = s.patient.encounters.map((e) => e.summary.encounterId);
    expect(encounterIdsIn((await searchAt(w.fhir, `patient=${s.id}&status=in-progress`)).body)).toEqual([third]);
    expect(encounterIdsIn((await searchAt(w.fhir, `patient=${s.id}&status=planned&date=le2026`)).body)).toEqual([fifth]);
    const notFinished = await searchAt(w.fhir, `patient=${s.id}&status:not=finished&date=le2026`);
    expect(encounterIdsIn(notFinished.body)).toEqual([fifth, third]);
  });

  it('lists future (planned) encounters in a search without an upper date bound', async () => {
    const { w, s } = await ashfordWorld(2, 23 * 3_600_000);
    const { body } = await searchAt(w.fhir, `patient=${s.id}`);
    // Nextech documents an omitted `end` as "the current date": a facade that leaves `end` out
    // loses every encounter after now, the planned ones (total 3, not 6; so it did at cd06969).
    expect(body.total).toBe(6);
    expect(encounterIdsIn(body)).toEqual(wanted(s));
  });
});

describe('Encounter read', () => {
  /** The day-boundary patient's encounter at 2021-03-15T23:59:59.999Z, with its id. */
  async function lastOfTheDay() {
    const s = await fixture(svc, svc.fhir, 'day-boundary-encounters');
    const e = s.patient.encounters.find((x) => x.summary.encounterDate === '2021-03-15T23:59:59.999Z');
    if (!e) throw new Error('fixture changed');
    return { s, e, id: await encounterFhirId(svc.fhir, s.id, e.summary.encounterId) };
  }

  it('reads back every encounter the search returned, as the same resource', async () => {
    const s = await fixture(svc, svc.fhir, 'day-boundary-encounters');
    const { body } = await searchAt(svc.fhir, `patient=${s.id}`);
    expect(body.entry).toHaveLength(6);
    for (const entry of body.entry ?? []) {
      expect(entry.fullUrl).toBe(`${svc.fhir}/Encounter/${entry.resource?.id ?? ''}`);
      const read = await fhirFetch<Encounter>(entry.fullUrl ?? '');
      expect(read.status).toBe(200);
      expect(read.body).toEqual(entry.resource);
    }
  });

  // Altered ids of every type (one character, cut, extended, another type's or practice's,
  // the old format) are in test/resource-ids.test.ts.
  it.each([
    ['the old format: another day', (_id: string, e: number, p: string) => `${e}.20210316.${p}`],
    ['the old format: the right day', (_id: string, e: number, p: string) => `${e}.20210315.${p}`],
    ['a path escape', (id: string) => `..%2F..%2FPatient%2F${id}`],
    ['a trailing escape', (id: string) => `${id}%2F..`],
    ['letters only', () => 'abc'],
  ])('answers 404 OperationOutcome for an id with %s, before any upstream call', async (_label, change) => {
    const { s, e, id } = await lastOfTheDay();
    const wrong = change(id, e.summary.encounterId, `${s.patient.patientId}-${s.patient.json.chartNumber}`);
    expect(wrong).not.toBe(id);
    svc.sandbox.resetCalls();
    const { issue } = await expectOutcome(`${svc.fhir}/Encounter/${wrong}`, 404);
    expect(issue.code).toBe('not-found');
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it('answers 404 for an encounter of another practice\'s patient', async () => {
    const s = await fixture(svc, baseOf(svc, P2), 'day-boundary-encounters', P2);
    const [first] = s.patient.encounters;
    if (!first) throw new Error('fixture changed');
    const id = await encounterFhirId(s.base, s.id, first.summary.encounterId);
    expect((await fhirFetch<Encounter>(`${s.base}/Encounter/${id}`)).status).toBe(200);
    await expectOutcome(`${svc.fhir}/Encounter/${id}`, 404);
  });
});

/** [start, end) of a partial date `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, in UTC. */
function rangeOf(value: string): [number, number] {
  const [y = 0, m, d] = value.split('-').map(Number);
  if (m === undefined) return [Date.UTC(y, 0, 1), Date.UTC(y + 1, 0, 1)];
  if (d === undefined) return [Date.UTC(y, m - 1, 1), Date.UTC(y, m, 1)];
  return [Date.UTC(y, m - 1, d), Date.UTC(y, m - 1, d + 1)];
}

/** R4 prefix semantics for an instant `t` (a one-millisecond range) against [s, e). */
const PREFIX: Record<string, (t: number, s: number, e: number, now: number) => boolean> = {
  eq: (t, s, e) => t >= s && t < e,
  ne: (t, s, e) => !(t >= s && t < e),
  gt: (t, _s, e) => t >= e,
  lt: (t, s) => t < s,
  ge: (t, s) => t >= s,
  le: (t, _s, e) => t < e,
  sa: (t, _s, e) => t >= e,
  eb: (t, s) => t < s,
  // "ap": within 10% of the gap between now and the value (R4 search.html#prefix), at least a day.
  ap: (t, s, e, now) => {
    const margin = Math.max(DAY_MS, (now < s ? s - now : Math.max(0, now - e)) / 10);
    return t >= s - margin && t < e + margin;
  },
};

describe('Encounter search', () => {
  it('gives identical results for patient as an id, as Patient/{id} and as an absolute URL, by GET and POST', async () => {
    const s = await fixture(svc, svc.fhir, 'many-encounters');
    const forms = [s.id, `Patient/${s.id}`, `${svc.fhir}/Patient/${s.id}`];
    const want = wanted(s);
    for (const form of forms) {
      const query = `patient=${encodeURIComponent(form)}&_count=50`;
      const get = await searchAt(svc.fhir, query);
      expect(get.status).toBe(200);
      expect(get.body.total).toBe(want.length);
      expect(encounterIdsIn(get.body)).toEqual(want);
      const post = await fhirFetch<Bundle>(`${svc.fhir}/Encounter/_search`, { method: 'POST', headers: FORM, body: query });
      expect(post.status).toBe(200);
      expect(post.body.entry).toEqual(get.body.entry);
    }
  });

  it('accepts the absolute URL of the practice base a request came in on', async () => {
    const s = await fixture(svc, baseOf(svc, P2), 'many-encounters', P2);
    const { body } = await searchAt(s.base, `patient=${encodeURIComponent(`${s.base}/Patient/${s.id}`)}&_count=50`);
    expect(encounterIdsIn(body)).toEqual(wanted(s));
  });

  it('finds encounters by _id, alone or with their patient, and OR-s comma-separated ids', async () => {
    const s = await fixture(svc, svc.fhir, 'day-boundary-encounters');
    const [a, b] = s.patient.encounters;
    if (!a || !b) throw new Error('fixture changed');
    const ids = await encounterFhirIds(svc.fhir, s.id);
    const [idA, idB] = [ids.get(a.summary.encounterId) ?? '', ids.get(b.summary.encounterId) ?? ''];
    const alone = await searchAt(svc.fhir, `_id=${idA}`);
    expect(matchesOf(alone.body).map((e) => e.id)).toEqual([idA]);
    const both = await searchAt(svc.fhir, `_id=${idA},${idB}&_sort=date`);
    expect(matchesOf(both.body).map((e) => e.id)).toEqual([idA, idB]);
    expect((await searchAt(svc.fhir, `_id=${idA}&patient=${s.id}`)).body.total).toBe(1);
    const other = await fixture(svc, svc.fhir, 'many-encounters');
    expect((await searchAt(svc.fhir, `_id=${idA}&patient=${other.id}`)).body.total).toBe(0);
  });

  it.each([
    ['date=ge2020', 'GET'],
    ['status=finished&type=http://snomed.info/sct|11429006', 'GET'],
    ['_count=5', 'POST'],
    ['patient:missing=false', 'GET'],
  ])('answers %s (%s) without patient with 400 naming patient, before any upstream call', async (query, method) => {
    svc.sandbox.resetCalls();
    const url = method === 'GET' ? `${svc.fhir}/Encounter?${query}` : `${svc.fhir}/Encounter/_search`;
    const init: RequestInit = method === 'GET' ? {} : { method, headers: FORM, body: query };
    const { issue } = await expectOutcome(url, 400, init);
    expect(issue.diagnostics).toMatch(/\bpatient\b.*\brequired\b/);
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it.each(['2021-02-30', '2021-13', 'xx2021', '20210315', '2021-03-15T25:00Z', '2021-03-15T10:00+15:00', 'ge', '2021-3-5'])(
    'answers date=%s with 400 before any upstream call',
    async (value) => {
      const s = await fixture(svc, svc.fhir, 'day-boundary-encounters');
      svc.sandbox.resetCalls();
      const { issue } = await expectOutcome(`${svc.fhir}/Encounter?patient=${s.id}&date=${encodeURIComponent(value)}`, 400);
      expect(issue.code).toBe('invalid');
      expect(svc.sandbox.calls).toHaveLength(0);
    },
  );

  const prefixes = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'];
  it.each(prefixes.flatMap((prefix) => [4, 7, 10].map((width) => [prefix, width] as const)))(
    'filters date with prefix %s on a partial date of %i characters exactly',
    async (prefix, width) => {
      const s = await fixture(svc, svc.fhir, 'many-encounters');
      // The date of the middle encounter, cut to the year, the month or the day.
      const middle = s.patient.encounters[15]?.summary.encounterDate.slice(0, width) ?? '';
      const [start, end] = rangeOf(middle);
      const now = Date.now();
      const want = wanted(s, (t) => PREFIX[prefix]?.(t, start, end, now) ?? false);
      // Every case both keeps and drops some of the 30 encounters.
      expect(want.length).toBeGreaterThan(0);
      expect(want.length).toBeLessThan(30);
      const { body } = await searchAt(svc.fhir, `patient=${s.id}&date=${prefix}${middle}&_count=50`);
      expect(encounterIdsIn(body)).toEqual(want);
    },
  );

  it('treats repeated date parameters as a range', async () => {
    const s = await fixture(svc, svc.fhir, 'many-encounters');
    const want = wanted(s, (t) => t >= Date.UTC(2019, 5, 1) && t < Date.UTC(2021, 1, 15));
    expect(want.length).toBeGreaterThan(2);
    const { body } = await searchAt(svc.fhir, `patient=${s.id}&date=ge2019-06&date=lt2021-02-15&_count=50`);
    expect(encounterIdsIn(body)).toEqual(want);
    expect((await searchAt(svc.fhir, `patient=${s.id}&date=ge2021&date=lt2020`)).body.total).toBe(0);
  });

  describe.each([P, P2])('on the day-boundary patient of practice %s', (practiceId) => {
    const at = (...isos: string[]) => isos.map((iso) => Date.parse(iso));
    it.each([
      ['eq2021-03-15', at('2021-03-15T00:00:00Z', '2021-03-15T04:30:00Z', '2021-03-15T23:59:59.999Z')],
      ['2021-03-15', at('2021-03-15T00:00:00Z', '2021-03-15T04:30:00Z', '2021-03-15T23:59:59.999Z')],
      ['ne2021-03-15', at('2021-03-14T23:59:59.999Z', '2021-03-16T00:00:00Z', '2024-02-29T15:00:00Z')],
      ['eq2021-03-15T04:30:00Z', at('2021-03-15T04:30:00Z')],
      ['le2021-03-15T04:30Z', at('2021-03-14T23:59:59.999Z', '2021-03-15T00:00:00Z', '2021-03-15T04:30:00Z')],
      ['lt2021-03-15T00:00:00-05:00', at('2021-03-14T23:59:59.999Z', '2021-03-15T00:00:00Z', '2021-03-15T04:30:00Z')],
      ['gt2021-03-15T23:59:59.999Z', at('2021-03-16T00:00:00Z', '2024-02-29T15:00:00Z')],
      ['eq2024-02-29', at('2024-02-29T15:00:00Z')],
    ])('date=%s keeps exactly the encounters at those instants, in a zone off UTC', async (value, instants) => {
      // The test process runs in America/New_York (vitest.config.ts), where 2021-03-15 begins at 04:00Z.
      expect(new Date(Date.UTC(2021, 2, 15, 12)).getTimezoneOffset()).toBe(240);
      const s = await fixture(svc, baseOf(svc, practiceId), 'day-boundary-encounters', practiceId);
      const want = wanted(s, (t) => instants.includes(t));
      expect(want).toHaveLength(instants.length);
      const { body } = await searchAt(s.base, `patient=${s.id}&date=${encodeURIComponent(value)}`);
      expect(encounterIdsIn(body)).toEqual(want);
    });
  });

  it.each([
    ['type=http://snomed.info/sct|11429006', (type: string) => type === 'Consultation'],
    ['type=390906007', (type: string) => type === 'Follow-Up'],
    ['type=http://snomed.info/sct|448337001,http://snomed.info/sct|11429006', (type: string) => ['Telehealth', 'Consultation'].includes(type)],
    ['type=http://loinc.org|11429006', () => false],
    ['type:not=http://snomed.info/sct|390906007', (type: string) => type !== 'Follow-Up'],
    ['type:text=office visit', (type: string) => type === 'Office Visit'],
    ['type:text=Post', (type: string) => type === 'Post-Op'],
    ['type:text=telemedicine', (type: string) => type === 'Telehealth'],
    ['class=AMB', () => true],
    ['class=http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB', () => true],
    ['class=IMP', () => false],
    ['class=http://example.org|AMB', () => false],
    ['class:not=AMB', () => false],
    ['status=finished', () => true],
    ['status=http://hl7.org/fhir/encounter-status|finished', () => true],
    ['status=planned,in-progress', () => false],
  ])('filters %s exactly', async (query, pred) => {
    const s = await fixture(svc, svc.fhir, 'many-encounters');
    const want = wanted(s, (_t, type) => pred(type));
    const { body } = await searchAt(svc.fhir, `patient=${s.id}&${query}&_count=50`);
    expect(body.total).toBe(want.length);
    expect(encounterIdsIn(body)).toEqual(want);
  });

  it('finds an encounter by its Nextech id, with or without the identifier system', async () => {
    const s = await fixture(svc, svc.fhir, 'many-encounters');
    const id = s.patient.encounters[7]?.summary.encounterId;
    const system = encodeURIComponent(`urn:nextech:practice:${P}:encounter-id`);
    expect(encounterIdsIn((await searchAt(svc.fhir, `patient=${s.id}&identifier=${id}`)).body)).toEqual([id]);
    expect(encounterIdsIn((await searchAt(svc.fhir, `patient=${s.id}&identifier=${system}|${id}`)).body)).toEqual([id]);
    expect((await searchAt(svc.fhir, `patient=${s.id}&identifier=urn:other|${id}`)).body.total).toBe(0);
  });

  it('returns an empty searchset with total 0 for a patient without encounters', async () => {
    const s = await fixture(svc, svc.fhir, 'no-encounters');
    expect(s.patient.encounters).toHaveLength(0);
    const { status, body } = await searchAt(svc.fhir, `patient=${s.id}`);
    expect(status).toBe(200);
    expect(body.type).toBe('searchset');
    expect(body.total).toBe(0);
    expect(body.entry).toBeUndefined();
  });

  it('returns nothing of practice 1002 through practice 1001\'s base', async () => {
    const s = await fixture(svc, baseOf(svc, P2), 'many-encounters', P2);
    expect((await searchAt(s.base, `patient=${s.id}`)).body.total).toBe(30);
    svc.sandbox.resetCalls();
    const { status, body } = await searchAt(svc.fhir, `patient=${s.id}`);
    expect(status).toBe(200);
    expect(body.total).toBe(0);
    expect(body.entry).toBeUndefined();
    expect(svc.sandbox.calls.map((c) => c.practiceId)).not.toContain(P2);
  });
});

describe('Encounter search results', () => {
  it('adds the Patient once, as search.mode include, for _include=Encounter:patient', async () => {
    const s = await fixture(svc, svc.fhir, 'day-boundary-encounters');
    const { body } = await searchAt(svc.fhir, `patient=${s.id}&_include=Encounter:patient&_count=5`);
    expect(matchesOf(body)).toHaveLength(5);
    const included = (body.entry ?? []).filter((e) => e.search?.mode === 'include');
    expect(included).toHaveLength(1);
    expect(included[0]?.fullUrl).toBe(`${svc.fhir}/Patient/${s.id}`);
    const patient = await fhirFetch<Patient>(`${svc.fhir}/Patient/${s.id}`);
    expect(included[0]?.resource).toEqual(patient.body);
    expect(body.total).toBe(6);
  });

  it('adds each page encounter\'s DocumentReference for _revinclude=DocumentReference:encounter', async () => {
    const s = await fixture(svc, svc.fhir, 'many-encounters');
    const { body } = await searchAt(svc.fhir, `patient=${s.id}&_revinclude=DocumentReference:encounter&_count=4`);
    const page = matchesOf(body).map((e) => `Encounter/${e.id ?? ''}`);
    expect(page).toHaveLength(4);
    const docs = (body.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource as DocumentReference);
    expect(docs.map((d) => d.resourceType)).toEqual(['DocumentReference', 'DocumentReference', 'DocumentReference', 'DocumentReference']);
    expect(docs.map((d) => d.context?.encounter?.[0]?.reference).sort()).toEqual([...page].sort());
    expect(docs.every((d) => d.subject?.reference === `Patient/${s.id}`)).toBe(true);
  });

  it('pages 10 at a time by default, newest first, with next and previous links that round-trip', async () => {
    const s = await fixture(svc, svc.fhir, 'many-encounters');
    const want = wanted(s);
    const first = await searchAt(svc.fhir, `patient=${s.id}`);
    expect(first.body.total).toBe(30);
    expect(encounterIdsIn(first.body)).toEqual(want.slice(0, 10));
    expect(linkOf(first.body, 'previous')).toBeUndefined();
    const second = await fhirFetch<Bundle>(linkOf(first.body, 'next') ?? '');
    expect(encounterIdsIn(second.body)).toEqual(want.slice(10, 20));
    const back = await fhirFetch<Bundle>(linkOf(second.body, 'previous') ?? '');
    expect(back.body.entry).toEqual(first.body.entry);
    const third = await fhirFetch<Bundle>(linkOf(second.body, 'next') ?? '');
    expect(encounterIdsIn(third.body)).toEqual(want.slice(20, 30));
    expect(linkOf(third.body, 'next')).toBeUndefined();
    expect(third.body.total).toBe(30);
  });

  it('caps _count at 50', async () => {
    const s = await fixture(svc, svc.fhir, 'many-encounters');
    const { body } = await searchAt(svc.fhir, `patient=${s.id}&_count=500`);
    expect(linkOf(body, 'self')).toContain('_count=50');
    expect(encounterIdsIn(body)).toEqual(wanted(s));
    expect(linkOf(body, 'next')).toBeUndefined();
  });

  it.each([
    ['', 'newest first'],
    ['&_sort=-date', 'newest first'],
    ['&_sort=date', 'oldest first'],
  ])('sorts with "%s" %s', async (sort, order) => {
    const s = await fixture(svc, svc.fhir, 'many-encounters');
    const newest = wanted(s);
    const { body } = await searchAt(svc.fhir, `patient=${s.id}${sort}&_count=50`);
    expect(encounterIdsIn(body)).toEqual(order === 'newest first' ? newest : [...newest].reverse());
  });

  it('reports only the total for _summary=count', async () => {
    const s = await fixture(svc, svc.fhir, 'many-encounters');
    const { body } = await searchAt(svc.fhir, `patient=${s.id}&_summary=count`);
    expect(body.total).toBe(30);
    expect(body.entry).toBeUndefined();
  });

  it('keeps only status and period, plus id, meta and the mandatory class, for _elements=status,period, tagged SUBSETTED', async () => {
    const s = await fixture(svc, svc.fhir, 'day-boundary-encounters');
    // fhirFetch validates the Bundle: without class (Encounter.class is 1..1) it is not valid FHIR.
    // R4 search.html#elements: "Servers SHOULD always return mandatory elements whether they are
    // requested or not." (At cd06969 class was dropped.)
    const { body } = await searchAt(svc.fhir, `patient=${s.id}&_elements=status,period`);
    const resources = matchesOf(body);
    expect(resources.map((r) => r.period?.start)).toEqual(newestFirst(s.patient).map((e) => new Date(e.instant).toISOString()));
    for (const r of resources) {
      expect(Object.keys(r).sort()).toEqual(['class', 'id', 'meta', 'period', 'resourceType', 'status']);
      expect(r.meta?.tag).toContainEqual(expect.objectContaining({ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' }));
    }
  });
});

describe('Encounter upstream calls (a fresh service per test, so nothing is reused from earlier tests)', () => {
  let fresh: TestService;
  beforeEach(async () => {
    fresh = await startTestService();
  });
  afterEach(() => fresh.close());

  it('puts each encounter on its UTC day in the id, whatever the local zone: its read asks Nextech for that day', async () => {
    const s = await fixture(fresh, fresh.fhir, 'day-boundary-encounters');
    const { body } = await searchAt(fresh.fhir, `patient=${s.id}&_sort=date`);
    const asked: string[] = [];
    for (const e of matchesOf(body)) {
      const day = e.period?.start?.slice(0, 10) ?? '';
      fresh.sandbox.resetCalls();
      const read = await fhirFetch<Encounter>(`${fresh.fhir}/Encounter/${e.id ?? ''}`);
      expect(read.body).toEqual(e);
      // Encounters of a day already read come from the shared store; any call asks for that UTC day.
      for (const call of encounterSearches(fresh.sandbox)) {
        expect(parseBound(call.query.start ?? '', 'start')).toBe(Date.parse(`${day}T00:00:00Z`));
        expect(parseBound(call.query.end ?? '', 'end')).toBe(Date.parse(`${day}T00:00:00Z`) + DAY_MS - 1);
        asked.push(day);
      }
    }
    expect(asked).toEqual(['2021-03-14', '2021-03-15', '2021-03-16', '2024-02-29']);
  });

  it('reads an encounter with exactly one upstream call, for that patient and UTC day', async () => {
    const s = await fixture(fresh, fresh.fhir, 'day-boundary-encounters');
    const e = s.patient.encounters.find((x) => x.summary.encounterDate === '2021-03-16T00:00:00Z');
    if (!e) throw new Error('fixture changed');
    const search = await searchAt(fresh.fhir, `patient=${s.id}`);
    const fromSearch = matchesOf(search.body).find((r) => r.identifier?.[0]?.value === String(e.summary.encounterId));
    fresh.sandbox.resetCalls();
    const { status, body } = await fhirFetch<Encounter>(`${fresh.fhir}/Encounter/${fromSearch?.id ?? ''}`);
    expect(status).toBe(200);
    expect(body).toEqual(fromSearch);
    expect(fresh.sandbox.calls).toHaveLength(1);
    const [call] = fresh.sandbox.calls;
    expect(call?.path).toBe(`/ehr/api/${s.patient.patientId}/encounters/search`);
    expect(call?.practiceId).toBe(P);
    expect(parseBound(call?.query.start ?? '', 'start')).toBe(Date.UTC(2021, 2, 16));
    expect(parseBound(call?.query.end ?? '', 'end')).toBe(Date.UTC(2021, 2, 17) - 1);
  });

  it('returns exactly one year\'s encounters for date=ge2020-01-01&date=lt2021-01-01, asking Nextech for that year', async () => {
    const s = await fixture(fresh, fresh.fhir, 'many-encounters');
    const [from, to] = [Date.UTC(2020, 0, 1), Date.UTC(2021, 0, 1)];
    const want = wanted(s, (t) => t >= from && t < to);
    expect(want.length).toBeGreaterThan(1);
    // Encounters just outside the year exist, so a window too wide would show.
    expect(s.patient.encounters.some((e) => e.instant < from && e.instant > from - 60 * DAY_MS)).toBe(true);
    fresh.sandbox.resetCalls();
    const { body } = await searchAt(fresh.fhir, `patient=${s.id}&date=ge2020-01-01&date=lt2021-01-01&_count=50`);
    expect(body.total).toBe(want.length);
    expect(encounterIdsIn(body)).toEqual(want);
    const calls = encounterSearches(fresh.sandbox);
    expect(calls).toHaveLength(1);
    // As the sandbox reads them (a date-only end includes its day): the year, give or take a day.
    const start = parseBound(calls[0]?.query.start ?? '', 'start') ?? Number.NaN;
    const end = parseBound(calls[0]?.query.end ?? '', 'end') ?? Number.NaN;
    expect(start).toBeLessThanOrEqual(from);
    expect(start).toBeGreaterThanOrEqual(from - DAY_MS);
    expect(end).toBeGreaterThanOrEqual(to - 1);
    expect(end).toBeLessThanOrEqual(to + DAY_MS);
  });

  it('serves _include and _revinclude from one encounter search and at most one patient search', async () => {
    const s = await fixture(fresh, fresh.fhir, 'many-encounters');
    fresh.sandbox.resetCalls();
    const { body } = await searchAt(
      fresh.fhir,
      `patient=${s.id}&_include=Encounter:patient&_revinclude=DocumentReference:encounter&_count=5`,
    );
    const modes = (body.entry ?? []).map((e) => `${e.search?.mode ?? ''}:${e.resource?.resourceType ?? ''}`);
    expect(modes.filter((m) => m === 'match:Encounter')).toHaveLength(5);
    expect(modes.filter((m) => m === 'include:Patient')).toHaveLength(1);
    expect(modes.filter((m) => m === 'include:DocumentReference')).toHaveLength(5);
    expect(encounterSearches(fresh.sandbox)).toHaveLength(1);
    expect(patientSearches(fresh.sandbox).length).toBeLessThanOrEqual(1);
    expect(fresh.sandbox.calls).toHaveLength(encounterSearches(fresh.sandbox).length + patientSearches(fresh.sandbox).length);
  });

  it('follows next and previous without another encounter search upstream', async () => {
    const s = await fixture(fresh, fresh.fhir, 'many-encounters');
    fresh.sandbox.resetCalls();
    const first = await searchAt(fresh.fhir, `patient=${s.id}&_count=7`);
    expect(encounterSearches(fresh.sandbox)).toHaveLength(1);
    const second = await fhirFetch<Bundle>(linkOf(first.body, 'next') ?? '');
    expect(encounterIdsIn(second.body)).toEqual(wanted(s).slice(7, 14));
    await fhirFetch<Bundle>(linkOf(second.body, 'previous') ?? '');
    expect(encounterSearches(fresh.sandbox)).toHaveLength(1);
  });
});
