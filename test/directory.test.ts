/**
 * Practitioner, Location and Organization (issue 10, item 6): the references an Encounter
 * (participant, location, serviceProvider) and a DocumentReference (author, custodian) make
 * can be followed, and what they read back is what Nextech said on the encounter. Ids are
 * opaque and stable (the same doctor from any encounter has one id), open only in their
 * practice, and a read makes no upstream call.
 */
import type { Bundle, DocumentReference, Encounter, Location, Organization, Practitioner } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeCases, type SandboxPatient } from '../src/sandbox/index.ts';
import { directoryFits, patientFhirId, sandboxPatient } from './helpers/encounters.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { launch, SMART_ENV } from './helpers/smart.ts';

let svc: TestService;
let patient: SandboxPatient;
let patientId: string;
let encounters: Encounter[];
beforeAll(async () => {
  svc = await startTestService();
  const [edge] = edgeCases('many-encounters', '1001');
  patient = sandboxPatient(svc.sandbox, '1001', edge?.patientId ?? 0);
  patientId = await patientFhirId(svc.fhir, patient);
  const { body } = await fhirFetch<Bundle>(`${svc.fhir}/Encounter?patient=${patientId}&_count=50`);
  encounters = (body.entry ?? []).map((e) => e.resource as Encounter);
});
afterAll(() => svc.close());

/** The sandbox summary behind an Encounter (found by its Nextech encounter id). */
function summaryOf(e: Encounter) {
  const nextechId = Number(e.identifier?.[0]?.value);
  const s = patient.encounters.find((x) => x.summary.encounterId === nextechId)?.summary;
  if (!s) throw new Error(`no sandbox encounter ${nextechId}`);
  return s;
}

const follow = async <T>(ref: string | undefined) => {
  if (!ref) throw new Error('no reference to follow');
  return fhirFetch<T>(`${svc.fhir}/${ref}`);
};

describe('directory resources', () => {
  it('reads the doctor each Encounter names as a US Core Practitioner, one id per doctor, with no upstream call', async () => {
    expect(encounters.length).toBe(30);
    const idsByDoctor = new Map<number, Set<string>>();
    const before = svc.sandbox.calls.length;
    for (const e of encounters) {
      const s = summaryOf(e);
      const ref = e.participant?.[0]?.individual?.reference;
      expect(ref).toMatch(/^Practitioner\//);
      const { status, body } = await follow<Practitioner>(ref);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        resourceType: 'Practitioner',
        meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-practitioner'] },
        identifier: [{ system: 'urn:nextech:practice:1001:doctor-id', value: String(s.doctorId) }],
        name: [{ family: s.doctorLastName, given: [s.doctorFirstName], ...(s.doctorProfessionalDesignation ? { suffix: [s.doctorProfessionalDesignation] } : {}) }],
      });
      const set = idsByDoctor.get(s.doctorId) ?? new Set();
      set.add(body.id ?? '');
      idsByDoctor.set(s.doctorId, set);
    }
    for (const set of idsByDoctor.values()) expect(set.size).toBe(1);
    expect(svc.sandbox.calls.length).toBe(before);
  });

  it('reads each Encounter\'s location, and its department as an Organization that is part of the practice', async () => {
    for (const e of encounters.slice(0, 5)) {
      const s = summaryOf(e);
      const before = svc.sandbox.calls.length;
      const location = await follow<Location>(e.location?.[0]?.location.reference);
      expect(location.body).toMatchObject({ resourceType: 'Location', name: s.location });
      // A name too long for an id is found again through the encounter that named it: one listing.
      expect(svc.sandbox.calls.length - before).toBe(directoryFits(s.location) ? 0 : 1);
      if (!s.department) continue;
      const department = await follow<Organization>(e.serviceProvider?.reference);
      expect(department.body).toMatchObject({ resourceType: 'Organization', active: true, name: s.department });
      const practice = await follow<Organization>(department.body.partOf?.reference);
      expect(practice.body).toMatchObject({ resourceType: 'Organization', active: true, name: 'Nextech practice 1001' });
      expect(practice.body.partOf).toBeUndefined();
      expect(location.body.managingOrganization?.reference).toBe(`Organization/${practice.body.id ?? ''}`);
    }
  });

  it('gives each DocumentReference its doctor as author and the practice as custodian', async () => {
    const { body } = await fhirFetch<Bundle>(`${svc.fhir}/DocumentReference?patient=${patientId}&_count=3&_summary=true`);
    const docs = (body.entry ?? []).map((e) => e.resource as DocumentReference);
    expect(docs.length).toBe(3);
    for (const d of docs) {
      const encounter = encounters.find((e) => `Encounter/${e.id ?? ''}` === d.context?.encounter?.[0]?.reference);
      expect(d.author?.[0]?.reference).toBe(encounter?.participant?.[0]?.individual?.reference);
      const custodian = await follow<Organization>(d.custodian?.reference);
      expect(custodian.body.name).toBe('Nextech practice 1001');
    }
  });

  it('finds a long location name again through the encounter that named it: one id per encounter, readable like the encounter', async () => {
    const long = encounters.filter((e) => !directoryFits(summaryOf(e).location));
    expect(long.length).toBeGreaterThan(1);
    const refs = long.map((e) => e.location?.[0]?.location.reference);
    expect(new Set(refs).size).toBe(long.length);
    // Another practice's base does not open it; neither does an altered one.
    const id = (refs[0] ?? '').slice('Location/'.length);
    await expectOutcome(`${svc.origin}/practices/1002/fhir/Location/${id}`, 404);
    await expectOutcome(`${svc.fhir}/Location/${id.slice(0, -2)}`, 404);
  });

  it('answers 404 for an altered id, an id of another practice or kind, and a made-up one', async () => {
    const ref = encounters[0]?.participant?.[0]?.individual?.reference ?? '';
    const id = ref.slice('Practitioner/'.length);
    const altered = `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`;
    await expectOutcome(`${svc.fhir}/Practitioner/${altered}`, 404);
    await expectOutcome(`${svc.origin}/practices/1002/fhir/Practitioner/${id}`, 404);
    await expectOutcome(`${svc.fhir}/Location/${id}`, 404);
    await expectOutcome(`${svc.fhir}/Organization/made-up`, 404);
  });

  it('includes the doctors, locations and departments of a page of Encounters (_include), each once, as a read of the reference returns them, with no upstream call of their own', async () => {
    const url = `${svc.fhir}/Encounter?patient=${patientId}&_count=50&_include=Encounter:participant&_include=Encounter:location&_include=Encounter:service-provider`;
    const plain = await fhirFetch<Bundle>(`${svc.fhir}/Encounter?patient=${patientId}&_count=50`);
    const before = svc.sandbox.calls.length;
    const { status, body } = await fhirFetch<Bundle>(url);
    expect(status).toBe(200);
    // The listing the plain search just read serves this one too: the included resources cost nothing upstream.
    expect(svc.sandbox.calls.length - before).toBe(0);
    const matches = (body.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as Encounter);
    expect(matches).toEqual((plain.body.entry ?? []).map((e) => e.resource));
    const included = (body.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource!);
    const refs = new Set(
      matches.flatMap((e) => [e.participant?.[0]?.individual?.reference, e.location?.[0]?.location.reference, e.serviceProvider?.reference]).filter(Boolean),
    );
    expect(new Set(included.map((r) => `${r.resourceType}/${r.id}`))).toEqual(refs);
    expect(included.length).toBe(refs.size);
    for (const r of included.slice(0, 6)) {
      const { body: read } = await follow(`${r.resourceType}/${r.id}`);
      expect(r).toEqual(read);
    }
    for (const e of body.entry?.filter((x) => x.search?.mode === 'include') ?? []) expect(e.fullUrl).toBe(`${svc.fhir}/${e.resource?.resourceType}/${e.resource?.id}`);
  });

  it('includes only the kind asked for (Encounter:practitioner gives Practitioners only) and refuses an unknown include under handling=strict', async () => {
    const { body } = await fhirFetch<Bundle>(`${svc.fhir}/Encounter?patient=${patientId}&_count=5&_include=Encounter:practitioner`);
    const types = new Set((body.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource?.resourceType));
    expect(types).toEqual(new Set(['Practitioner']));
    await expectOutcome(`${svc.fhir}/Encounter?patient=${patientId}&_include=Encounter:diagnosis`, 400, { headers: { prefer: 'handling=strict' } });
  });

  it('declares the three reads in the CapabilityStatement', async () => {
    const { body } = await fhirFetch<{ rest: { resource: { type: string; interaction: { code: string }[] }[] }[] }>(`${svc.fhir}/metadata`);
    for (const type of ['Practitioner', 'Location', 'Organization']) {
      const entry = body.rest[0]?.resource.find((r) => r.type === type);
      expect(entry?.interaction).toEqual([{ code: 'read' }]);
    }
  });
});

describe('directory resources under a patient-scoped SMART token', () => {
  let smart: TestService;
  beforeAll(async () => {
    smart = await startTestService({ ...SMART_ENV, ANONYMOUS_ACCESS: 'false' });
  });
  afterAll(() => smart.close());

  it('reads the doctor and location of the patient in context\'s encounters, and refuses one reached through another patient\'s encounter', async () => {
    const { token, picked } = await launch(smart, 'launch/patient patient/*.rs', { pickQuery: patient.json.lastName });
    const auth = { authorization: `Bearer ${token.access_token}` };
    // Both services run on the sandbox's id key: the same patient has the same id.
    expect(picked).toBe(patientId);
    const own = await fhirFetch<Bundle>(`${smart.fhir}/Encounter?_count=5`, { headers: auth });
    const e = own.body.entry?.[0]?.resource as Encounter;
    for (const ref of [e.participant?.[0]?.individual?.reference, e.location?.[0]?.location.reference, e.serviceProvider?.reference]) {
      expect((await fhirFetch(`${smart.fhir}/${ref ?? ''}`, { headers: auth })).status).toBe(200);
    }
    // Another patient's encounter, read without SMART, names a location whose id is anchored there.
    const [other] = edgeCases('locked-as-string', '1001');
    const otherPatient = sandboxPatient(smart.sandbox, '1001', other?.patientId ?? 0);
    const anchored = await anchoredLocationOf(otherPatient);
    expect(anchored).toMatch(/^Location\//);
    expect((await fhirFetch(`${smart.fhir}/${anchored ?? ''}`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${smart.fhir}/${e.location?.[0]?.location.reference ?? ''}`)).status).toBe(401);
  });

  it('includes only resources of types the scopes allow: a token for Encounters alone gets no Practitioner, Patient or DocumentReference (CCD) through _include/_revinclude', async () => {
    const url = `${smart.fhir}/Encounter?_count=3&_include=Encounter:participant&_include=Encounter:patient&_revinclude=DocumentReference:encounter`;
    const narrow = await launch(smart, 'launch/patient patient/Encounter.rs', { pickQuery: patient.json.lastName });
    const { status, body } = await fhirFetch<Bundle>(url, { headers: { authorization: `Bearer ${narrow.token.access_token}` } });
    expect(status).toBe(200);
    expect(body.entry?.filter((e) => e.search?.mode === 'match')).toHaveLength(3);
    expect(body.entry?.filter((e) => e.search?.mode !== 'match')).toEqual([]);
    // With the scopes for them, the same request includes all three kinds.
    const wide = await launch(smart, 'launch/patient patient/Encounter.rs patient/Practitioner.rs patient/Patient.rs patient/DocumentReference.rs', { pickQuery: patient.json.lastName });
    const all = await fhirFetch<Bundle>(url, { headers: { authorization: `Bearer ${wide.token.access_token}` } });
    const kinds = new Set(all.body.entry?.filter((e) => e.search?.mode === 'include').map((e) => e.resource?.resourceType));
    expect(kinds).toEqual(new Set(['Practitioner', 'Patient', 'DocumentReference']));
  });
});

/** A Location reference anchored to one of `p`'s encounters, as the anonymous door of the first service sees it. */
async function anchoredLocationOf(p: SandboxPatient): Promise<string | undefined> {
  const id = await patientFhirId(svc.fhir, p);
  const { body } = await fhirFetch<Bundle>(`${svc.fhir}/Encounter?patient=${id}&_count=50`);
  const e = (body.entry ?? []).map((x) => x.resource as Encounter).find((x) => !directoryFits(x.location?.[0]?.location.display ?? ''));
  return e?.location?.[0]?.location.reference;
}
