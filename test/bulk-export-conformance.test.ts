/**
 * Bulk export conformance (issue 18, item 9, export part):
 * - an export holds every resource its resources reference: every `reference` in every line
 *   of every exported type resolves to a line of the export — the practice Organization
 *   (documents' custodian, locations' managing organization, departments' partOf) included,
 *   once per job; one that cannot be read (an id that names nothing, Nextech failing) is left
 *   out and named, while the resources referencing it are still exported;
 * - `includeAssociatedData`, which this server cannot honour (it keeps no Provenance), is a
 *   400 OperationOutcome unless the kick-off sends `Prefer: handling=lenient` (Bulk Data 2.0,
 *   export kick-off parameters), then 202 naming it as ignored — for GET and POST kick-offs.
 */
import type { Bundle, Encounter, FhirResource } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_TYPES, JobStore, type Job } from '../src/bulk/export-jobs.ts';
import { unreadable } from '../src/bulk/export-runner.ts';
import { jobContext } from '../src/bulk/job-context.ts';
import { resolveReferences } from '../src/bulk/member-export.ts';
import { buildSandboxData } from '../src/sandbox/index.ts';
import { clientKeyPair, type ClientKeyPair } from './helpers/backend.ts';
import { auth, backendToken, finished, groupByChart, kickOff, outputs } from './helpers/bulk.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { assertValidFhir } from './helpers/validator.ts';

let keys: ClientKeyPair;
let svc: TestService;

beforeAll(async () => {
  // Indexed now, not between two requests: a blocked event loop lets a kept-alive connection go stale under a request.
  assertValidFhir({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] });
  keys = await clientKeyPair('ES384');
  svc = await startTestService({
    BACKEND_CLIENTS: JSON.stringify([{ client_id: 'hie', jwks: keys.jwks, practices: ['1001'], scope: 'system/Group.cruds system/*.rs' }]),
    BULK_EXPORT_FILE_RESOURCES: '7',
  });
});
afterAll(() => svc.close());

/** Every `reference` anywhere in a resource, with where it sits. */
function references(value: unknown, path: string): { path: string; reference: string }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => references(v, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => (k === 'reference' && typeof v === 'string' ? [{ path, reference: v }] : references(v, `${path}.${k}`)));
}

describe('Group $export referential integrity', () => {
  it('exports every resource its resources reference, the practice Organization among them, each once', async () => {
    const t = await backendToken(svc.origin, 'hie', keys);
    const cohort = buildSandboxData().practices[0]!.patients.slice(1, 6).map((p) => p.json.chartNumber);
    const { id, patients } = await groupByChart(svc.fhir, t, cohort);
    const { manifest } = await finished(await kickOff(svc.fhir, t, id), t);
    expect(manifest.error).toEqual([]);
    const all: FhirResource[] = [];
    for (const { entry, resources } of await outputs(manifest, t)) {
      expect(resources).toHaveLength(entry.count);
      for (const r of resources) {
        expect(r.resourceType).toBe(entry.type);
        assertValidFhir(r);
      }
      all.push(...resources);
    }
    const written = all.map((r) => `${r.resourceType}/${r.id ?? ''}`);
    expect(new Set(written).size).toBe(written.length);
    const exported = new Set(written);
    // Every reference of every type, wherever it sits, resolves within the export.
    const refs = all.flatMap((r) => references(r, `${r.resourceType}/${r.id ?? ''}`));
    const dangling = refs.filter((x) => !exported.has(x.reference));
    expect(dangling).toEqual([]);
    // The references the issue found dangling are among those checked.
    const by = (type: string, element: string) => refs.filter((x) => x.path.startsWith(`${type}/`) && x.path.includes(element));
    for (const [type, element] of [['DocumentReference', '.custodian'], ['Location', '.managingOrganization'], ['Organization', '.partOf']] as const) {
      expect(by(type, element).length, `${type}${element}`).toBeGreaterThan(0);
    }
    // The practice: the one Organization without partOf, as the API reads it.
    const custodian = by('DocumentReference', '.custodian')[0]?.reference ?? '';
    const practice = all.find((r) => `${r.resourceType}/${r.id ?? ''}` === custodian);
    const { body: read } = await fhirFetch(`${svc.fhir}/${custodian}`, { headers: auth(t) });
    expect(practice).toEqual(read);
    expect(patients.every((p) => exported.has(`Patient/${p}`))).toBe(true);
  }, 120_000);
});

describe('Group $export includeAssociatedData', () => {
  it('refuses values it cannot honour (400) unless the kick-off asks for lenient handling, then names them as ignored', async () => {
    const t = await backendToken(svc.origin, 'hie', keys);
    const { id } = await groupByChart(svc.fhir, t, buildSandboxData().practices[0]!.patients.slice(60, 61).map((p) => p.json.chartNumber));
    const url = `${svc.fhir}/Group/${id}/$export?_type=Patient`;
    for (const value of ['LatestProvenanceResources', 'RelevantProvenanceResources', '_custom']) {
      const { issue } = await expectOutcome(`${url}&includeAssociatedData=${value}`, 400, { headers: { ...auth(t), prefer: 'respond-async' } });
      expect(issue).toMatchObject({ severity: 'error', code: 'not-supported' });
      expect(issue.diagnostics).toMatch(/^includeAssociatedData: .*handling=lenient/);
      expect(issue.diagnostics).not.toContain(value);
    }
    // A Parameters body is held to the same rule.
    const body = JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: '_type', valueString: 'Patient' }, { name: 'includeAssociatedData', valueCode: 'LatestProvenanceResources' }] });
    const post = { method: 'POST', body, headers: { ...auth(t), 'content-type': 'application/fhir+json' } };
    await expectOutcome(`${svc.fhir}/Group/${id}/$export`, 400, { ...post, headers: { ...post.headers, prefer: 'respond-async' } });
    // Lenient: accepted, the value named as ignored; in one Prefer header or two.
    for (const prefer of [['respond-async, handling=lenient'], ['respond-async; handling=lenient'], ['respond-async', 'handling=lenient']]) {
      const headers = new Headers(auth(t));
      for (const p of prefer) headers.append('prefer', p);
      const res = await fhirFetch<{ issue: { severity: string; diagnostics?: string }[] }>(`${url}&includeAssociatedData=LatestProvenanceResources`, { headers });
      expect(res.status).toBe(202);
      expect(res.body.issue).toContainEqual(expect.objectContaining({ severity: 'information', diagnostics: 'includeAssociatedData is not supported and was ignored' }));
      expect((await fetch(res.headers.get('content-location') ?? '', { method: 'DELETE', headers: auth(t) })).status).toBe(202);
    }
    const lenientPost = await fhirFetch(`${svc.fhir}/Group/${id}/$export`, { ...post, headers: { ...post.headers, prefer: 'respond-async, handling=lenient' } });
    expect(lenientPost.status).toBe(202);
    expect((await fetch(lenientPost.headers.get('content-location') ?? '', { method: 'DELETE', headers: auth(t) })).status).toBe(202);
    // Strict handling, or none, is no leave to ignore it.
    await expectOutcome(`${url}&includeAssociatedData=LatestProvenanceResources`, 400, { headers: { ...auth(t), prefer: 'respond-async, handling=strict' } });
  }, 60_000);
});

describe('Group $export references that cannot be read', () => {
  it('leaves out a referenced directory resource it cannot read (an id naming nothing, Nextech failing) and names it, resolving the others', async () => {
    const t = await backendToken(svc.origin, 'hie', keys);
    const row = buildSandboxData().practices[0]!.patients[8]!;
    const { patients } = await groupByChart(svc.fhir, t, [row.json.chartNumber]);
    const { body } = await fhirFetch<Bundle>(`${svc.fhir}/Encounter?patient=${patients[0] ?? ''}&_count=1`, { headers: auth(t) });
    const encounter = body.entry?.[0]?.resource as Encounter;
    // Practice 1001's location names do not fit an id: the id names this encounter, and reading it lists the encounter's day at Nextech.
    const location = encounter.location?.[0]?.location.reference ?? '';
    const doctor = encounter.participant?.[0]?.individual?.reference ?? '';
    const department = encounter.serviceProvider?.reference ?? '';
    expect([location, doctor, department].map((r) => r.slice(0, r.indexOf('/')))).toEqual(['Location', 'Practitioner', 'Organization']);
    // A reference whose id names no doctor (as one Nextech no longer knows would).
    const unknown = `Practitioner/${'x'.repeat(40)}`;
    const referencing: Encounter = { ...encounter, participant: [...(encounter.participant ?? []), { individual: { reference: unknown } }] };
    const job: Job = {
      id: JobStore.newId(),
      practiceId: '1001',
      owner: 'hie',
      status: 'running',
      request: `${svc.fhir}/Group/g/$export`,
      transactionTime: new Date().toISOString(),
      types: [...EXPORT_TYPES],
      typeFilters: {},
      members: patients,
      next: 0,
      files: [],
      seen: [],
      unresolved: [],
      failed: [],
      perFile: 7,
      attachments: 'inline',
      runAs: 'service',
      expiresAt: Number.MAX_SAFE_INTEGER,
    };
    let calls = 0;
    const ctx = jobContext(job, { services: svc.running.services, store: svc.running.sharedStore, callsPerSecond: 100, runner: 'test', counted: () => calls++ });
    svc.sandbox.faults.add({ fault: { kind: 'status', status: 503 }, path: `/ehr/api/${row.patientId}/encounters/search` });
    const seen: string[] = [];
    let resolved: Awaited<ReturnType<typeof resolveReferences>>;
    try {
      resolved = await resolveReferences(ctx, job, [referencing], seen, unreadable);
      expect(svc.sandbox.faults.injected.status).toBeGreaterThan(0);
    } finally {
      svc.sandbox.faults.clear();
    }
    expect(resolved.unresolved).toHaveLength(2);
    expect(resolved.unresolved).toEqual(
      expect.arrayContaining([
        { reference: location, why: 'server-error' },
        { reference: unknown, why: 'not-found' },
      ]),
    );
    // The others are read as the API reads them, the practice (which the department is part of) among them.
    const found = resolved.found.map((r) => `${r.resourceType}/${r.id ?? ''}`);
    expect(found.slice(0, 2)).toEqual([doctor, department]);
    expect(found).toHaveLength(3);
    expect(seen).toEqual(found);
    for (const r of resolved.found) expect(r).toEqual((await fhirFetch(`${svc.fhir}/${r.resourceType}/${r.id ?? ''}`, { headers: auth(t) })).body);
    // Given up on once, a reference is not tried again by the job's next members.
    const again = await resolveReferences(ctx, { ...job, seen: found, unresolved: [location, unknown] }, [referencing], [], unreadable);
    expect(again).toEqual({ found: [], unresolved: [] });
    expect(calls).toBeGreaterThan(0);
  }, 60_000);
});
