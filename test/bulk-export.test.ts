/**
 * Bulk export (issue 12): a Backend Services client exports a Group of sandbox patients with
 * `$export`: 202 + status URL, progress while it runs, a manifest when done, NDJSON files that
 * validate as FHIR R4 line by line and hold what the search API returns for the same
 * patients; the job stays within its share of Nextech's budget while an interactive client
 * keeps getting answers; a member whose record fails is an OperationOutcome in `error`; a job
 * survives a restart without losing or repeating anything; only its client sees it.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, DocumentReference, FhirResource, Group } from 'fhir/r4';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientKeyPair, type ClientKeyPair } from './helpers/backend.ts';
import { auth, backendToken, finished, kickOff, ndjson } from './helpers/bulk.ts';
import { patientFhirId, sandboxPatient } from './helpers/encounters.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { busiestSecond } from './helpers/upstream-rate.ts';
import { APP, launch, SMART_ENV, tokenCall } from './helpers/smart.ts';
import { assertValidFhir } from './helpers/validator.ts';
import { ExportRunner } from '../src/bulk/export-runner.ts';
import { createLogger } from '../src/logging.ts';

let keys: ClientKeyPair;
let other: ClientKeyPair;
let svc: TestService;
let env: Record<string, string>;

/** A Backend Services token of `hie` (or `other`) at `s`. */
const token = (s: TestService, clientId: 'hie' | 'other' = 'hie', scope?: string) => backendToken(s.origin, clientId, clientId === 'hie' ? keys : other, scope);

/** A group of the first `n` patients of practice 1001 (skipping `skip`). */
async function groupOf(s: TestService, t: string, n: number, skip = 0): Promise<{ id: string; patients: string[] }> {
  const rows = s.sandbox.data.practices[0]!.patients.slice(skip, skip + n);
  const patients = await Promise.all(rows.map((p) => patientFhirId(s.fhir, sandboxPatient(s.sandbox, '1001', p.patientId))));
  const res = await fhirFetch<Group>(`${s.fhir}/Group`, {
    method: 'POST',
    headers: { ...auth(t), 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Group', type: 'person', actual: true, member: patients.map((id) => ({ entity: { reference: `Patient/${id}` } })) }),
  });
  expect(res.status).toBe(201);
  return { id: res.body.id ?? '', patients };
}

/** A second runner over a service's jobs and shared store, as another replica has. */
function replicaRunner(s: TestService): ExportRunner {
  const bulk = s.running.bulk;
  return new ExportRunner({
    services: s.running.services,
    jobs: bulk.jobs,
    store: s.running.sharedStore,
    fileKey: bulk.fileKey,
    logger: createLogger('silent'),
    callsPerSecond: 20,
    concurrency: 2,
    retentionMs: 60_000,
  });
}

beforeAll(async () => {
  keys = await clientKeyPair('ES384');
  other = await clientKeyPair('ES384');
  env = {
    BACKEND_CLIENTS: JSON.stringify([
      { client_id: 'hie', jwks: keys.jwks, practices: ['1001'], scope: 'system/Group.cruds system/*.rs' },
      { client_id: 'other', jwks: other.jwks, practices: ['1001'], scope: 'system/Group.cruds system/*.rs' },
    ]),
    BULK_EXPORT_FILE_RESOURCES: '25',
  };
  svc = await startTestService(env);
});
afterAll(() => svc.close());

describe('Group $export', () => {
  it('exports a group end to end: valid NDJSON per type, the same resources the API returns, within half the budget while an interactive client is served', async () => {
    const t = await token(svc);
    const { id, patients } = await groupOf(svc, t, 50);
    await new Promise((r) => setTimeout(r, 1_100));
    const since = Date.now();
    const statusUrl = await kickOff(svc.fhir, t, id, '?_outputFormat=application%2Ffhir%2Bndjson');
    // An interactive client meanwhile (anonymous: the same Nextech credential).
    const interactive: number[] = [];
    const { manifest, progress } = await (async () => {
      const done = finished(statusUrl, t);
      let settled = false;
      void done.finally(() => (settled = true));
      while (!settled) {
        interactive.push((await fetch(`${svc.fhir}/Patient/${patients[0]}`)).status);
        await new Promise((r) => setTimeout(r, 100));
      }
      return done;
    })();
    expect(interactive.length).toBeGreaterThan(0);
    expect(interactive.every((s) => s === 200)).toBe(true);
    expect(progress.some((p) => /^\d{1,3}% \(\d+ of 50 patients\)$/.test(p))).toBe(true);
    expect(manifest).toMatchObject({ requiresAccessToken: true, request: `${svc.fhir}/Group/${id}/$export?_outputFormat=application%2Ffhir%2Bndjson`, error: [] });
    expect(Date.parse(manifest.transactionTime)).toBeLessThanOrEqual(Date.now());
    // The job's end is logged with its counts and the upstream calls it spent, never patient data.
    const done = svc.logs.find((l) => l.msg === 'bulk export job done' && l.members === 50);
    expect(done).toMatchObject({ members: 50, errors: 0 });
    expect(Number(done?.upstreamCalls)).toBeGreaterThanOrEqual(50);
    // The export took at most half of Nextech's 20 per second (the API's own calls are on top, and few).
    const calls = svc.sandbox.calls.filter((c) => c.receivedAt >= since);
    expect(busiestSecond(calls.map((c) => c.receivedAt))).toBeLessThanOrEqual(10 + 2);

    const byType = new Map<string, FhirResource[]>();
    for (const o of manifest.output) {
      const rs = await ndjson(o.url, t);
      expect(rs.length).toBe(o.count);
      expect(o.count).toBeLessThanOrEqual(25);
      for (const r of rs) {
        expect(r.resourceType).toBe(o.type);
        assertValidFhir(r);
      }
      byType.set(o.type, [...(byType.get(o.type) ?? []), ...rs]);
    }
    const idsOf = (type: string) => (byType.get(type) ?? []).map((r) => r.id).sort();
    expect(idsOf('Patient')).toEqual([...patients].sort());
    // What the search API returns for the same patients.
    const viaApi = async (type: string) => {
      const all: string[] = [];
      for (const p of patients) {
        const { body } = await fhirFetch<Bundle>(`${svc.fhir}/${type}?patient=${p}&_count=1000&_elements=id`, { headers: auth(t) });
        all.push(...(body.entry ?? []).map((e) => e.resource?.id ?? ''));
      }
      return all.sort();
    };
    expect(idsOf('Encounter')).toEqual(await viaApi('Encounter'));
    expect(idsOf('DocumentReference')).toEqual(await viaApi('DocumentReference'));
    // Each doctor once, and every Encounter's participant among them.
    const practitioners = new Set(idsOf('Practitioner'));
    expect(practitioners.size).toBe(idsOf('Practitioner').length);
    for (const e of byType.get('Encounter') ?? []) {
      const ref = (e as { participant?: { individual?: { reference?: string } }[] }).participant?.[0]?.individual?.reference;
      if (ref) expect(practitioners.has(ref.replace('Practitioner/', ''))).toBe(true);
    }
    // At rest the files are encrypted and owner-only: no name of an exported patient is readable on disk.
    const folder = join(svc.running.config.dataDir, 'exports', '1001', statusUrl.slice(statusUrl.lastIndexOf('/') + 1));
    const names = svc.sandbox.data.practices[0]!.patients.slice(0, 50).map((p) => p.json.lastName).filter((n) => n.length >= 6); // shorter ones occur by chance in ciphertext
    for (const f of readdirSync(folder)) {
      expect(statSync(join(folder, f)).mode & 0o777).toBe(0o600);
      const raw = readFileSync(join(folder, f), 'latin1');
      for (const n of names) expect(raw.includes(n), `${f} holds a name in clear`).toBe(false);
    }
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(names.length).toBeGreaterThan(3);
    // Files need the job's client's token (without one, the sandbox's anonymous door is refused), and only that client sees the job.
    expect((await fetch(manifest.output[0]?.url ?? '')).status).toBe(403);
    const stranger = await token(svc, 'other');
    await expectOutcome(statusUrl, 404, { headers: auth(stranger) });
    await expectOutcome(manifest.output[0]?.url ?? '', 404, { headers: auth(stranger) });
  }, 120_000);

  it('honours _type, _since and _typeFilter, and records a member whose record fails in the error file', async () => {
    const t = await token(svc);
    const { id, patients } = await groupOf(svc, t, 3, 20);
    const broken = svc.sandbox.data.practices[0]!.patients[21]!;
    svc.sandbox.faults.add({ fault: { kind: 'status', status: 500 }, path: `/ehr/api/${broken.patientId}/encounters/search` });
    try {
      // Two filters in one value (comma before the next Type?): ORed; together they keep finished encounters only.
      const filters = encodeURIComponent('Encounter?status=finished,Encounter?status=finished&class=AMB');
      // _type repeated: together they name the types.
      const statusUrl = await kickOff(svc.fhir, t, id, `?_type=Encounter&_type=Patient&_since=2020-01-01T00:00:00Z&_typeFilter=${filters}`);
      const { manifest } = await finished(statusUrl, t);
      expect(new Set(manifest.output.map((o) => o.type))).toEqual(new Set(['Patient', 'Encounter']));
      const encounters = (await Promise.all(manifest.output.filter((o) => o.type === 'Encounter').map((o) => ndjson(o.url, t)))).flat();
      for (const e of encounters as { status: string; period?: { start?: string } }[]) {
        expect(e.status).toBe('finished');
        expect(Date.parse(e.period?.start ?? '')).toBeGreaterThanOrEqual(Date.parse('2020-01-01T00:00:00Z'));
      }
      expect(manifest.error).toHaveLength(1);
      const [problem] = await ndjson(manifest.error[0]?.url ?? '', t);
      const brokenId = patients[1];
      expect(JSON.stringify(problem)).toContain(`Patient/${brokenId}`);
      const exportedPatients = (await Promise.all(manifest.output.filter((o) => o.type === 'Patient').map((o) => ndjson(o.url, t)))).flat();
      expect(exportedPatients.map((p) => p.id).sort()).toEqual([patients[0], patients[2]].sort());
    } finally {
      svc.sandbox.faults.clear();
    }
  }, 120_000);

  it('declares $export on Group and instantiates the Bulk Data CapabilityStatement', async () => {
    const { body } = await fhirFetch<{ instantiates?: string[]; rest: { resource: { type: string; operation?: { name: string; definition: string }[] }[] }[] }>(`${svc.fhir}/metadata`);
    expect(body.instantiates).toEqual(['http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server', 'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data']);
    const group = body.rest[0]?.resource.find((r) => r.type === 'Group');
    expect(group?.operation).toEqual([expect.objectContaining({ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export' })]);
  });

  it('refuses bad kick-offs with 4xx, and cancels a job on DELETE', async () => {
    const t = await token(svc);
    const { id } = await groupOf(svc, t, 2, 30);
    const url = `${svc.fhir}/Group/${id}/$export`;
    const h = { ...auth(t), prefer: 'respond-async' };
    await expectOutcome(url, 400, { headers: auth(t) });
    await expectOutcome(`${url}?_type=Observation`, 400, { headers: h });
    await expectOutcome(`${url}?_outputFormat=text/csv`, 400, { headers: h });
    await expectOutcome(`${url}?_since=yesterday`, 400, { headers: h });
    await expectOutcome(`${url}?_typeFilter=${encodeURIComponent('Encounter?nonsense=1')}`, 400, { headers: h });
    await expectOutcome(`${url}?_typeFilter=${encodeURIComponent('Encounter?date=notadate')}`, 400, { headers: h });
    await expectOutcome(`${url}?_typeFilter=${encodeURIComponent('Practitioner?name=x')}`, 400, { headers: h });
    // Each filter is one more search per patient: at most 10 per type.
    const filters = (n: number) => Array.from({ length: n }, (_, i) => `_typeFilter=${encodeURIComponent(`Encounter?date=ge${2010 + i}-01-01`)}`).join('&');
    const { issue: tooMany } = await expectOutcome(`${url}?${filters(11)}`, 400, { headers: h });
    expect(tooMany.diagnostics).toBe('At most 10 _typeFilters per type');
    const ten = await fetch(`${url}?_type=Encounter&${filters(10)}`, { headers: h });
    expect(ten.status).toBe(202);
    expect((await fetch(ten.headers.get('content-location') ?? '', { method: 'DELETE', headers: auth(t) })).status).toBe(202);
    await expectOutcome(`${svc.fhir}/Group/no-such-group/$export`, 404, { headers: h });
    // Parameters that would narrow the export are refused, not ignored (ignoring them would export more).
    await expectOutcome(`${url}?patient=Patient/x`, 400, { headers: h });
    await expectOutcome(`${url}?_elements=id`, 400, { headers: h });
    // A `+` sent unencoded arrives as a space: still the NDJSON format.
    const plus = await fetch(`${url}?_outputFormat=application/fhir+ndjson`, { headers: h });
    expect(plus.status).toBe(202);
    expect((await fetch(plus.headers.get('content-location') ?? '', { method: 'DELETE', headers: auth(t) })).status).toBe(202);
    // Scopes: reading Groups is not enough to export a type the token may not read.
    const narrow = await token(svc, 'hie', 'system/Group.rs system/Patient.rs');
    await expectOutcome(`${url}?_type=Encounter`, 403, { headers: { ...auth(narrow), prefer: 'respond-async' } });
    await expectOutcome(url, 403, { headers: { prefer: 'respond-async' } });
    // A job cancelled is gone, with its files.
    const statusUrl = await kickOff(svc.fhir, t, id);
    // Three at a time per client: the fourth waits its turn.
    const more = [await kickOff(svc.fhir, t, id), await kickOff(svc.fhir, t, id)];
    const fourth = await expectOutcome(url, 429, { headers: h });
    expect(fourth.headers.get('retry-after')).toBe('30');
    for (const m of more) expect((await fetch(m, { method: 'DELETE', headers: auth(t) })).status).toBe(202);
    const cancelled = await fetch(statusUrl, { method: 'DELETE', headers: auth(t) });
    expect(cancelled.status).toBe(202);
    await expectOutcome(statusUrl, 404, { headers: auth(t) });
  }, 60_000);
});

describe('Group $export retention', () => {
  it('answers 404 once a finished job has expired, and deletes its files', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'facade-bulk-expiry-'));
    // Kept about two seconds.
    const short = { ...env, DATA_DIR: dataDir, BULK_EXPORT_RETENTION_HOURS: '0.0006' };
    const first = await startTestService(short);
    const t = await token(first);
    const { id } = await groupOf(first, t, 2);
    const statusUrl = await kickOff(first.fhir, t, id, '?_type=Patient');
    const { manifest } = await finished(statusUrl, t);
    expect((await fetch(manifest.output[0]?.url ?? '', { headers: auth(t) })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2_500));
    await expectOutcome(statusUrl, 404, { headers: auth(t) });
    await expectOutcome(manifest.output[0]?.url ?? '', 404, { headers: auth(t) });
    await first.close();
    // The next start sweeps it away.
    const second = await startTestService(short);
    await second.close();
    expect(readdirSync(join(dataDir, 'exports', '1001'))).toEqual([]);
  }, 60_000);
});

describe('Group $export across a restart', () => {
  it('resumes after a restart without losing or repeating a resource', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'facade-bulk-restart-'));
    // A slow share (1 call/s), so the service stops mid-job.
    const slow = { ...env, DATA_DIR: dataDir, BULK_EXPORT_SHARE: '0.05' };
    const first = await startTestService(slow);
    const t1 = await token(first);
    const { id, patients } = await groupOf(first, t1, 6);
    const statusUrl = await kickOff(first.fhir, t1, id, '?_type=Patient,Encounter');
    for (;;) {
      const res = await fetch(statusUrl, { headers: auth(t1) });
      const m = /\((\d+) of/.exec(res.headers.get('x-progress') ?? '');
      if (Number(m?.[1] ?? 0) >= 2) break;
      expect(res.status).toBe(202);
      await new Promise((r) => setTimeout(r, 200));
    }
    await first.close();
    const second = await startTestService({ ...slow, BULK_EXPORT_SHARE: '1' });
    try {
      const t2 = await token(second);
      const { manifest } = await finished(statusUrl.replace(first.origin, second.origin), t2);
      const all = (await Promise.all(manifest.output.map((o) => ndjson(o.url.replace(first.origin, second.origin), t2)))).flat();
      const ids = all.map((r) => `${r.resourceType}/${r.id ?? ''}`);
      expect(new Set(ids).size).toBe(ids.length);
      expect(all.filter((r) => r.resourceType === 'Patient').map((r) => r.id).sort()).toEqual([...patients].sort());
    } finally {
      await second.close();
    }
  }, 120_000);
});

describe('groups declared in BULK_GROUPS_FILE', () => {
  it('serves a declared group read-only, resolves its members (Patient ids and chart numbers) at export, and refuses an invalid file at start', async () => {
    const [a, b] = svc.sandbox.data.practices[0]!.patients.slice(40, 42);
    const aId = await patientFhirId(svc.fhir, sandboxPatient(svc.sandbox, '1001', a!.patientId));
    const bId = await patientFhirId(svc.fhir, sandboxPatient(svc.sandbox, '1001', b!.patientId));
    const dir = mkdtempSync(join(tmpdir(), 'facade-groups-file-'));
    const file = join(dir, 'groups.json');
    writeFileSync(file, JSON.stringify([{ id: 'north', practice: '1001', name: 'North clinic', members: [`Patient/${aId}`, { chartNumber: b!.json.chartNumber }] }]));
    // The same sandbox data and resource-id key: the same Patient ids.
    const declared = await startTestService({ ...env, BULK_GROUPS_FILE: file });
    try {
      const t = await token(declared);
      const { body } = await fhirFetch<Group>(`${declared.fhir}/Group/north`, { headers: auth(t) });
      expect(body).toMatchObject({ id: 'north', name: 'North clinic', quantity: 2, member: [{ entity: { reference: `Patient/${aId}` } }, { entity: { identifier: { value: b!.json.chartNumber } } }] });
      const found = await fhirFetch<Bundle>(`${declared.fhir}/Group?name=north`, { headers: auth(t) });
      expect(found.body.entry?.map((e) => e.resource?.id)).toEqual(['north']);
      await expectOutcome(`${declared.fhir}/Group/north`, 405, { method: 'DELETE', headers: auth(t) });
      await expectOutcome(`${declared.fhir}/Group/north`, 405, {
        method: 'PUT',
        headers: { ...auth(t), 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Group', id: 'north', type: 'person', actual: true }),
      });
      const { manifest } = await finished(await kickOff(declared.fhir, t, 'north', '?_type=Patient'), t);
      const exported = (await Promise.all(manifest.output.map((o) => ndjson(o.url, t)))).flat();
      expect(exported.map((p) => p.id).sort()).toEqual([aId, bId].sort());
    } finally {
      await declared.close();
    }
    writeFileSync(file, JSON.stringify([{ id: 'bad id!', practice: '1001', members: [] }]));
    await expect(startTestService({ ...env, BULK_GROUPS_FILE: file })).rejects.toThrow(/BULK_GROUPS_FILE .*groups\.json: 0\.id/);
  }, 60_000);
});

describe('Group $export run once', () => {
  it('runs a job on one runner only: a second one finds it leased, and takes over when the first stops', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'facade-bulk-once-'));
    const s = await startTestService({ ...env, DATA_DIR: dataDir, BULK_EXPORT_SHARE: '0.1' });
    try {
      const t = await token(s);
      const { id, patients } = await groupOf(s, t, 5);
      const statusUrl = await kickOff(s.fhir, t, id, '?_type=Patient');
      const jobId = statusUrl.slice(statusUrl.lastIndexOf('/') + 1);
      const bulk = s.running.bulk;
      // A second runner over the same jobs and the same shared store, as another replica has.
      const twin = replicaRunner(s);
      const job = await bulk.jobs.get('1001', jobId);
      twin.start(job!);
      await new Promise((r) => setTimeout(r, 300));
      // Leased by the first: the twin did nothing.
      expect(twin.running).toBe(0);
      // The first stops (a replica going away); its lease is given back and the twin takes over.
      bulk.runner.close();
      for (let i = 0; i < 100 && bulk.runner.running > 0; i++) await new Promise((r) => setTimeout(r, 100));
      await twin.resumeAll();
      const { manifest } = await finished(statusUrl, t);
      const exported = (await Promise.all(manifest.output.map((o) => ndjson(o.url, t)))).flat();
      expect(exported.map((p) => p.id).sort()).toEqual([...patients].sort());
      // A runner handed the job as it was queued (unstarted) reads its state first: done, it is left alone.
      const late = replicaRunner(s);
      late.start(job!);
      await new Promise((r) => setTimeout(r, 500));
      expect((await finished(statusUrl, t)).manifest).toEqual(manifest);
      expect((await Promise.all(manifest.output.map((o) => ndjson(o.url, t)))).flat()).toEqual(exported);
      late.close();
      twin.close();
    } finally {
      await s.close();
    }
  }, 90_000);
});

describe('Group $export cancelled at another replica', () => {
  it('stops the runner holding the job, which writes nothing more and never brings the job back', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'facade-bulk-cancel-'));
    const s = await startTestService({ ...env, DATA_DIR: dataDir, BULK_EXPORT_SHARE: '0.1' });
    try {
      const t = await token(s);
      const { id } = await groupOf(s, t, 8);
      const statusUrl = await kickOff(s.fhir, t, id, '?_type=Patient,Encounter');
      const jobId = statusUrl.slice(statusUrl.lastIndexOf('/') + 1);
      const bulk = s.running.bulk;
      await new Promise((r) => setTimeout(r, 600));
      expect(bulk.runner.running).toBe(1);
      // Another replica's runner (same shared store and volume) takes the DELETE.
      const other = replicaRunner(s);
      await other.cancel((await bulk.jobs.get('1001', jobId))!);
      for (let i = 0; i < 100 && bulk.runner.running > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(bulk.runner.running).toBe(0);
      await new Promise((r) => setTimeout(r, 300));
      expect(readdirSync(join(dataDir, 'exports', '1001'))).toEqual([]);
      await expectOutcome(statusUrl, 404, { headers: auth(t) });
      other.close();
    } finally {
      await s.close();
    }
  }, 60_000);
});

describe('Group $export with BULK_EXPORT_ATTACHMENTS=binary', () => {
  it('exports each CCD as the URL of its Binary (with size and hash), which the same token reads back as the same bytes', async () => {
    const s = await startTestService({ ...env, BULK_EXPORT_ATTACHMENTS: 'binary' });
    try {
      const t = await token(s);
      const { id, patients } = await groupOf(s, t, 3);
      const { manifest } = await finished(await kickOff(s.fhir, t, id, '?_type=DocumentReference'), t);
      const docs = (await Promise.all(manifest.output.map((o) => ndjson(o.url, t)))).flat() as DocumentReference[];
      // As many as the API has for these patients.
      let expected = 0;
      for (const p of patients) expected += (await fhirFetch<Bundle>(`${s.fhir}/DocumentReference?patient=${p}&_count=1&_total=accurate`, { headers: auth(t) })).body.total ?? 0;
      expect(docs.length).toBe(expected);
      expect(docs.length).toBeGreaterThan(0);
      for (const doc of docs) {
        assertValidFhir(doc);
        const attachment = doc.content[0]?.attachment;
        expect(attachment?.data).toBeUndefined();
        expect(attachment?.url).toBe(`${s.fhir}/Binary/${doc.id ?? ''}`);
        // Not marked subsetted: url instead of data is a whole representation.
        expect(doc.meta?.tag ?? []).toEqual([]);
        const html = await fetch(attachment?.url ?? '', { headers: { ...auth(t), accept: 'text/html' } });
        expect(html.status).toBe(200);
        const bytes = Buffer.from(await html.arrayBuffer());
        expect(bytes.length).toBe(attachment?.size);
        expect(createHash('sha1').update(bytes).digest('base64')).toBe(attachment?.hash);
      }
      // What the same export inlines by default.
      const inline = (await fhirFetch<DocumentReference>(`${s.fhir}/DocumentReference/${docs[0]?.id ?? ''}`, { headers: auth(t) })).body;
      expect(inline.content[0]?.attachment.hash).toBe(docs[0]?.content[0]?.attachment.hash);
    } finally {
      await s.close();
    }
  }, 90_000);
});

describe('Group $export limits per caller', () => {
  it('keeps at most 20 exports per client: the next kick-off deletes the oldest finished one, never refused for it', async () => {
    const s = await startTestService(env);
    try {
      const t = await token(s);
      const g = await groupOf(s, t, 1);
      const urls: string[] = [];
      for (let i = 0; i < 20; i++) {
        urls.push(await kickOff(s.fhir, t, g.id, '?_type=Patient'));
        await finished(urls[i] ?? '', t);
      }
      const dir = join(s.running.config.dataDir, 'exports', '1001');
      expect(readdirSync(dir)).toHaveLength(20);
      // The 21st is accepted; the oldest is gone (its status 404), and the folder count holds.
      const next = await kickOff(s.fhir, t, g.id, '?_type=Patient');
      await expectOutcome(urls[0] ?? '', 404, { headers: auth(t) });
      expect((await fetch(urls[1] ?? '', { headers: auth(t) })).status).toBe(200);
      await finished(next, t);
      expect(readdirSync(dir)).toHaveLength(20);
    } finally {
      await s.close();
    }
  }, 90_000);

  it('starts one kick-off per caller at a time, so parallel kick-offs cannot pass the count together', async () => {
    const s = await startTestService({ ...env, BULK_EXPORT_SHARE: '0.05' });
    try {
      const t = await token(s);
      const g = await groupOf(s, t, 3);
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => fetch(`${s.fhir}/Group/${g.id}/$export?_type=Patient`, { headers: { ...auth(t), prefer: 'respond-async' } })),
      );
      const statuses = answers.map((r) => r.status);
      expect(statuses.filter((x) => x === 202).length).toBeLessThanOrEqual(3);
      expect(statuses.every((x) => x === 202 || x === 429)).toBe(true);
      for (const r of answers.filter((x) => x.status === 429)) expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
      const unfinished = (await s.running.bulk.jobs.list('1001')).filter((j) => j.status === 'running');
      expect(unfinished.length).toBeLessThanOrEqual(3);
      for (const r of answers.filter((x) => x.status === 202)) await fetch(r.headers.get('content-location') ?? '', { method: 'DELETE', headers: auth(t) });
    } finally {
      await s.close();
    }
  }, 60_000);
});

describe('Group $export queue', () => {
  it('runs BULK_EXPORT_CONCURRENCY jobs at once, queues the rest taking turns between clients, and shows them in /metrics', async () => {
    // One job at a time, slowly (1 upstream call a second), so the queue can be watched.
    const s = await startTestService({ ...env, BULK_EXPORT_CONCURRENCY: '1', BULK_EXPORT_SHARE: '0.05' });
    try {
      const [ta, tb] = [await token(s, 'hie'), await token(s, 'other')];
      const ga = await groupOf(s, ta, 2);
      const gb = await groupOf(s, tb, 2, 2);
      const a1 = await kickOff(s.fhir, ta, ga.id, '?_type=Patient');
      const a2 = await kickOff(s.fhir, ta, ga.id, '?_type=Patient');
      const b1 = await kickOff(s.fhir, tb, gb.id, '?_type=Patient');
      const progress = async (url: string, t: string) => (await fetch(url, { headers: auth(t) })).headers.get('x-progress');
      expect(await progress(a2, ta)).toBe('queued');
      expect(await progress(b1, tb)).toBe('queued');
      const metrics = await (await fetch(`${s.origin}/metrics`)).text();
      expect(metrics).toMatch(/^bulk_export_jobs_running 1$/m);
      expect(metrics).toMatch(/^bulk_export_jobs_queued 2$/m);
      // Upstream calls per running job, labelled with the job id of its status URL.
      const a1Id = a1.slice(a1.lastIndexOf('/') + 1);
      await finished(a1, ta);
      // The other client's job ran before the first client's second one.
      const done: string[] = [];
      await Promise.all([finished(a2, ta).then(() => done.push('a2')), finished(b1, tb).then(() => done.push('b1'))]);
      expect(done).toEqual(['b1', 'a2']);
      const after = await (await fetch(`${s.origin}/metrics`)).text();
      expect(after).toMatch(/^bulk_export_jobs_running 0$/m);
      expect(after).toMatch(/^bulk_export_jobs_queued 0$/m);
      // A job's series leaves with it.
      expect(after).not.toContain(`job="${a1Id}"`);
      const total = Number(/^bulk_export_upstream_calls_total (\d+)$/m.exec(after)?.[1]);
      expect(total).toBeGreaterThanOrEqual(6);
    } finally {
      await s.close();
    }
  }, 90_000);

  it('shows the upstream calls a running job has spent, by job id, and serves none of its files before it is done', async () => {
    const s = await startTestService({ ...env, BULK_EXPORT_SHARE: '0.05' });
    try {
      const t = await token(s);
      const g = await groupOf(s, t, 4);
      const url = await kickOff(s.fhir, t, g.id, '?_type=Patient');
      const id = url.slice(url.lastIndexOf('/') + 1);
      let seen = 0;
      for (let i = 0; i < 50 && seen < 2; i++) {
        const text = await (await fetch(`${s.origin}/metrics`)).text();
        seen = Number(new RegExp(`^bulk_export_job_upstream_calls\\{job="${id}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(seen).toBeGreaterThanOrEqual(2);
      // A running job's files are not served, though its first part is on disk (progress counts checkpointed patients).
      let progress = '';
      for (let i = 0; i < 100 && !/\(([1-3]) of 4 /.test(progress); i++) {
        progress = (await fetch(url, { headers: auth(t) })).headers.get('x-progress') ?? '';
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(progress).toMatch(/\(([1-3]) of 4 /);
      await expectOutcome(`${s.fhir}/bulk/files/${id}/Patient-1.ndjson`, 404, { headers: auth(t) });
      expect((await fetch(url, { method: 'DELETE', headers: auth(t) })).status).toBe(202);
    } finally {
      await s.close();
    }
  }, 60_000);
});

describe('Group $export with a person\'s SMART token', () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService({ ...env, ...SMART_ENV, BACKEND_CLIENTS: env.BACKEND_CLIENTS ?? '' });
  });
  afterAll(() => s.close());
  const apiCalls = (from: number) => s.sandbox.calls.slice(from).filter((c) => c.path.startsWith('/ehr/api/'));

  it('runs with the person\'s own Nextech sign-in (user scopes), and the job is that sign-in\'s only', async () => {
    const hie = await token(s);
    const g = await groupOf(s, hie, 3, 40);
    const { token: user } = await launch(s, 'openid fhirUser user/*.rs offline_access');
    // What the person's own API requests send Nextech.
    const before = s.sandbox.calls.length;
    expect((await fetch(`${s.fhir}/Patient/${g.patients[0] ?? ''}`, { headers: auth(user.access_token) })).status).toBe(200);
    const personal = new Set(apiCalls(before).map((c) => c.credential));
    expect(personal.size).toBe(1);
    const started = s.sandbox.calls.length;
    const statusUrl = await kickOff(s.fhir, user.access_token, g.id, '?_type=Patient,Encounter');
    const { manifest } = await finished(statusUrl, user.access_token);
    // Ended, the job's state keeps no Nextech token of the person's.
    const ended = await s.running.bulk.jobs.get('1001', statusUrl.slice(statusUrl.lastIndexOf('/') + 1));
    expect(ended?.person).toBeDefined();
    expect(ended?.person?.nextechToken).toBeUndefined();
    // It records who started it: every audit line of the job — the kick-off's, each poll's, its own — names that sign-in's caller key.
    expect(ended?.caller).toMatch(/^smart:/);
    const audited = s.logs.filter((l) => l.log === 'audit' && l.job === ended?.id);
    expect(audited.map((l) => l.interaction)).toEqual(expect.arrayContaining(['operation:export', 'export-manifest', 'export-job']));
    expect(new Set(audited.map((l) => l.caller))).toEqual(new Set([ended?.caller]));
    // Every call of the job carried the person's credential, none the service's.
    const byJob = apiCalls(started);
    expect(byJob.length).toBeGreaterThanOrEqual(6);
    expect(byJob.every((c) => personal.has(c.credential))).toBe(true);
    const exported = (await Promise.all(manifest.output.filter((o) => o.type === 'Patient').map((o) => ndjson(o.url, user.access_token)))).flat();
    expect(exported.map((p) => p.id).sort()).toEqual([...g.patients].sort());
    // Nobody else sees it: not the Backend Services client whose group it is, not another sign-in of the same app.
    await expectOutcome(statusUrl, 404, { headers: auth(hie) });
    const { token: someoneElse } = await launch(s, 'openid fhirUser user/*.rs');
    await expectOutcome(statusUrl, 404, { headers: auth(someoneElse.access_token) });
    await expectOutcome(manifest.output[0]?.url ?? '', 404, { headers: auth(someoneElse.access_token) });
    // The same sign-in, its token narrowed on refresh: still its job, but no longer the Encounter file.
    const narrowed = await tokenCall(s, { grant_type: 'refresh_token', refresh_token: user.refresh_token ?? '', client_id: APP.clientId, scope: 'user/Patient.rs user/Group.rs' });
    expect(narrowed.status).toBe(200);
    const patientOnly = ((await narrowed.json()) as { access_token: string }).access_token;
    expect((await fetch(statusUrl, { headers: auth(patientOnly) })).status).toBe(200);
    await expectOutcome(manifest.output.find((o) => o.type === 'Encounter')?.url ?? '', 403, { headers: auth(patientOnly) });
    // Scopes must cover every exported type.
    await expectOutcome(`${s.fhir}/Group/${g.id}/$export?_type=Patient,DocumentReference`, 403, { headers: { ...auth(patientOnly), prefer: 'respond-async' } });
  }, 120_000);

  it('refuses patient scopes and user tokens without user/Group.rs', async () => {
    const hie = await token(s);
    const g = await groupOf(s, hie, 1, 45);
    const { token: app } = await launch(s, 'launch/patient patient/*.rs');
    await expectOutcome(`${s.fhir}/Group/${g.id}/$export?_type=Patient`, 403, { headers: { ...auth(app.access_token), prefer: 'respond-async' } });
    const { token: noGroup } = await launch(s, 'user/Patient.rs user/Encounter.rs');
    await expectOutcome(`${s.fhir}/Group/${g.id}/$export?_type=Patient`, 403, { headers: { ...auth(noGroup.access_token), prefer: 'respond-async' } });
  }, 60_000);

  it('stops, saying why, when the person\'s sign-in is revoked', async () => {
    const hie = await token(s);
    const g = await groupOf(s, hie, 10, 50);
    const { token: user } = await launch(s, 'user/*.rs offline_access');
    const statusUrl = await kickOff(s.fhir, user.access_token, g.id, '?_type=Patient,Encounter,DocumentReference');
    // A refresh token used twice: reuse revokes the whole sign-in.
    const form = { grant_type: 'refresh_token', refresh_token: user.refresh_token ?? '', client_id: APP.clientId };
    const renewed = await tokenCall(s, form);
    expect(renewed.status).toBe(200);
    expect((await tokenCall(s, form)).status).toBe(400);
    const { access_token: fresh } = (await renewed.json()) as { access_token: string };
    // The revoked sign-in cannot even ask any more; the job's state says it failed, and why.
    await expectOutcome(statusUrl, 401, { headers: auth(fresh) });
    const id = statusUrl.slice(statusUrl.lastIndexOf('/') + 1);
    let job = await s.running.bulk.jobs.get('1001', id);
    for (let i = 0; i < 100 && job?.status === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = await s.running.bulk.jobs.get('1001', id);
    }
    // It stopped before its end (30 paced calls take ~3 s; the revocation came at once).
    expect(job?.status).toBe('failed');
    expect(job?.next).toBeLessThan(job?.members.length ?? 0);
    expect(job?.failure).toMatch(/sign-in that started this export has ended/);
  }, 60_000);
});

describe('Group $export with a person\'s token Nextech stops accepting', () => {
  it('fails the job with an OperationOutcome saying the sign-in expired, instead of an error line per patient', async () => {
    const s = await startTestService({ ...env, ...SMART_ENV, BULK_EXPORT_SHARE: '0.05' });
    try {
      const hie = await token(s);
      const g = await groupOf(s, hie, 6);
      const { token: user } = await launch(s, 'user/*.rs');
      const statusUrl = await kickOff(s.fhir, user.access_token, g.id, '?_type=Patient');
      await new Promise((r) => setTimeout(r, 1_500));
      // Nextech revokes every token (the person's among them).
      s.sandbox.revokeAll();
      const res = await (async () => {
        for (let i = 0; i < 100; i++) {
          const r = await fetch(statusUrl, { headers: auth(user.access_token) });
          if (r.status !== 202) return r;
          await new Promise((x) => setTimeout(x, 200));
        }
        throw new Error('still running');
      })();
      expect(res.status).toBe(500);
      const body = (await res.json()) as { resourceType: string; issue: { diagnostics?: string }[] };
      expect(body.resourceType).toBe('OperationOutcome');
      expect(body.issue[0]?.diagnostics).toMatch(/no longer accepts the sign-in/);
    } finally {
      await s.close();
    }
  }, 60_000);
});
