/**
 * Group (issue 12, cohorts for bulk export): Backend Services clients with system/Group
 * scopes create, read, search, update and delete cohorts; members given as Patient
 * references or chart-number identifiers are checked against Nextech and stored as Patient
 * ids; a member that resolves to no patient fails the whole write with an OperationOutcome
 * naming it; no other door or scope reaches a Group; groups survive a restart.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Group, Patient } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientKeyPair, signAssertion, tokenForm, type ClientKeyPair } from './helpers/backend.ts';
import { patientFhirId, sandboxPatient } from './helpers/encounters.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { launch, SMART_ENV } from './helpers/smart.ts';
import { SANDBOX_PRACTICE_IDS } from '../src/sandbox/index.ts';

let svc: TestService;
let keys: ClientKeyPair;
let env: Record<string, string>;

async function systemToken(s: TestService, scope: string): Promise<string> {
  const assertion = await signAssertion({ clientId: 'hie', tokenEndpoint: `${s.origin}/auth/token`, privateKey: keys.privateKey, kid: keys.kid, alg: keys.alg });
  const res = await fetch(`${s.origin}/auth/token`, { method: 'POST', body: tokenForm(assertion, scope) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

const json = (token: string, body?: unknown) => ({
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});

/** The first `n` patients of practice 1001 in the sandbox. */
const patients = (n: number) => svc.sandbox.data.practices[0]!.patients.slice(0, n).map((p) => sandboxPatient(svc.sandbox, '1001', p.patientId));

beforeAll(async () => {
  keys = await clientKeyPair('ES384');
  env = {
    ...SMART_ENV,
    BACKEND_CLIENTS: JSON.stringify([{ client_id: 'hie', jwks: keys.jwks, practices: ['1001'], scope: 'system/Group.cruds system/*.rs' }]),
  };
  svc = await startTestService(env);
});
afterAll(() => svc.close());

describe('Group', () => {
  it('creates a cohort from Patient references and chart numbers, resolved to Patient ids, and reads and searches it back', async () => {
    const token = await systemToken(svc, 'system/Group.cruds system/Patient.rs');
    const [a, b] = patients(2);
    const aId = await patientFhirId(svc.fhir, a!);
    const bId = await patientFhirId(svc.fhir, b!);
    const body: Group = {
      resourceType: 'Group',
      type: 'person',
      actual: true,
      name: 'HIE cohort north',
      member: [
        { entity: { reference: `Patient/${aId}` } },
        { entity: { identifier: { system: 'urn:nextech:practice:1001:chart-number', value: b!.json.chartNumber ?? '' } } },
      ],
    };
    const created = await fhirFetch<Group>(`${svc.fhir}/Group`, { method: 'POST', ...json(token, body) });
    expect(created.status).toBe(201);
    const id = created.body.id ?? '';
    expect(created.headers.get('location')).toBe(`${svc.fhir}/Group/${id}`);
    expect(created.headers.get('etag')).toBe('W/"1"');
    expect(created.body).toMatchObject({
      resourceType: 'Group',
      type: 'person',
      actual: true,
      name: 'HIE cohort north',
      quantity: 2,
      member: [{ entity: { reference: `Patient/${aId}` } }, { entity: { reference: `Patient/${bId}` } }],
      meta: { versionId: '1' },
    });
    const read = await fhirFetch<Group>(`${svc.fhir}/Group/${id}`, json(token));
    expect(read.body).toEqual(created.body);
    const found = await fhirFetch<{ entry?: { resource: Group }[] }>(`${svc.fhir}/Group?name=hie%20cohort`, json(token));
    expect(found.body.entry?.map((e) => e.resource.id)).toEqual([id]);
    const none = await fhirFetch<{ entry?: unknown[] }>(`${svc.fhir}/Group?name=south`, json(token));
    expect(none.body.entry ?? []).toEqual([]);
    // The members are this server's Patients.
    expect((await fhirFetch<Patient>(`${svc.fhir}/Patient/${bId}`, json(token))).body.id).toBe(bId);
  });

  it('replaces a cohort (new version) and deletes it', async () => {
    const token = await systemToken(svc, 'system/Group.cruds system/Patient.rs');
    const [a, b, c] = patients(3);
    const ids = await Promise.all([a!, b!, c!].map((p) => patientFhirId(svc.fhir, p)));
    const created = await fhirFetch<Group>(`${svc.fhir}/Group`, { method: 'POST', ...json(token, { resourceType: 'Group', type: 'person', actual: true, member: [{ entity: { reference: `Patient/${ids[0]}` } }] }) });
    const id = created.body.id ?? '';
    const updated = await fhirFetch<Group>(`${svc.fhir}/Group/${id}`, {
      method: 'PUT',
      ...json(token, { resourceType: 'Group', id, type: 'person', actual: true, name: 'renamed', member: ids.slice(1).map((x) => ({ entity: { reference: `Patient/${x}` } })) }),
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ name: 'renamed', quantity: 2, meta: { versionId: '2' } });
    expect(updated.headers.get('etag')).toBe('W/"2"');
    // Version-aware: a read gives the ETag; If-Match naming an older version is refused, nothing changed.
    expect((await fetch(`${svc.fhir}/Group/${id}`, json(token))).headers.get('etag')).toBe('W/"2"');
    const stale = { resourceType: 'Group', id, type: 'person', actual: true, name: 'stale' };
    await expectOutcome(`${svc.fhir}/Group/${id}`, 412, { method: 'PUT', ...json(token, stale), headers: { ...json(token).headers, 'if-match': 'W/"1"' } });
    await expectOutcome(`${svc.fhir}/Group/${id}`, 400, { method: 'PUT', ...json(token, stale), headers: { ...json(token).headers, 'if-match': 'version one' } });
    await expectOutcome(`${svc.fhir}/Group/${id}`, 412, { method: 'DELETE', headers: { ...json(token).headers, 'if-match': '"1"' } });
    expect((await fhirFetch<Group>(`${svc.fhir}/Group/${id}`, json(token))).body).toMatchObject({ name: 'renamed', meta: { versionId: '2' } });
    const matched = await fhirFetch<Group>(`${svc.fhir}/Group/${id}`, { method: 'PUT', ...json(token, { ...stale, name: 'renamed again' }), headers: { ...json(token).headers, 'if-match': 'W/"2"' } });
    expect(matched.status).toBe(200);
    expect(matched.body).toMatchObject({ name: 'renamed again', meta: { versionId: '3' } });
    // Ten updates of the same version at once: one wins, the others are told (409/412), none is lost silently.
    const racing = await Promise.all(
      Array.from({ length: 10 }, (_, i) => fetch(`${svc.fhir}/Group/${id}`, { method: 'PUT', ...json(token, { ...stale, name: `race-${i}` }), headers: { ...json(token).headers, 'if-match': 'W/"3"' } })),
    );
    const statuses = racing.map((r) => r.status);
    expect(statuses.filter((x) => x === 200)).toHaveLength(1);
    // With If-Match, a loser's precondition failed: 412 (FHIR), whether it lost before or during its write.
    expect(statuses.filter((x) => x !== 200).every((x) => x === 412)).toBe(true);
    expect((await fhirFetch<Group>(`${svc.fhir}/Group/${id}`, json(token))).body.meta?.versionId).toBe('4');
    // An id that is not the URL's, and an update of a group that does not exist (ids are the server's).
    await expectOutcome(`${svc.fhir}/Group/${id}`, 400, { method: 'PUT', ...json(token, { resourceType: 'Group', id: 'other', type: 'person', actual: true }) });
    await expectOutcome(`${svc.fhir}/Group/made-up-id`, 404, { method: 'PUT', ...json(token, { resourceType: 'Group', id: 'made-up-id', type: 'person', actual: true }) });
    const deleted = await fetch(`${svc.fhir}/Group/${id}`, { method: 'DELETE', ...json(token) });
    expect(deleted.status).toBe(204);
    await expectOutcome(`${svc.fhir}/Group/${id}`, 404, json(token));
    await expectOutcome(`${svc.fhir}/Group/${id}`, 404, { method: 'DELETE', ...json(token) });
  });

  it('refuses the whole write, naming each member that resolves to no patient, and stores nothing', async () => {
    const token = await systemToken(svc, 'system/Group.cruds system/Patient.rs');
    const [a] = patients(1);
    const aId = await patientFhirId(svc.fhir, a!);
    const count = async () => ((await fhirFetch<{ entry?: unknown[] }>(`${svc.fhir}/Group?_count=1000`, json(token))).body.entry ?? []).length;
    const before = await count();
    const res = await expectOutcome(`${svc.fhir}/Group`, 422, {
      method: 'POST',
      ...json(token, {
        resourceType: 'Group',
        type: 'person',
        actual: true,
        member: [
          { entity: { reference: `Patient/${aId}` } },
          { entity: { identifier: { value: 'NO-SUCH-CHART-0000' } } },
          { entity: { reference: 'Patient/not-an-id' } },
          { entity: { reference: 'Encounter/abc' } },
        ],
      }),
    });
    expect(res.body.issue.map((i) => (i as { expression?: string[] }).expression?.[0])).toEqual(['Group.member[1].entity', 'Group.member[2].entity', 'Group.member[3].entity']);
    // No chart number or name is echoed back.
    expect(JSON.stringify(res.body)).not.toContain('NO-SUCH-CHART-0000');
    expect(await count()).toBe(before);
    expect(before).toBeGreaterThan(0);
  });

  it('answers bad bodies with a 4xx OperationOutcome', async () => {
    const token = await systemToken(svc, 'system/Group.cruds');
    const post = (body: string, type = 'application/fhir+json') =>
      fhirFetch(`${svc.fhir}/Group`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': type }, body });
    for (const [body, status] of [
      ['not json', 400],
      [JSON.stringify({ resourceType: 'Patient' }), 400],
      [JSON.stringify({ resourceType: 'Group', type: 'animal', actual: true }), 400],
      [JSON.stringify({ resourceType: 'Group', type: 'person', actual: false }), 400],
      [JSON.stringify({ resourceType: 'Group', type: 'person', actual: true, characteristic: [] }), 400],
      [JSON.stringify({ resourceType: 'Group', type: 'person', actual: true, member: [{ entity: {} }] }), 400],
      [JSON.stringify({ resourceType: 'Group', type: 'person', actual: true, member: Array.from({ length: 1001 }, () => ({ entity: { reference: 'Patient/x' } })) }), 400],
    ] as const) {
      const res = await post(body);
      expect(res.status, body.slice(0, 60)).toBe(status);
      expect((res.body as { resourceType: string }).resourceType).toBe('OperationOutcome');
    }
    expect((await post('{}', 'text/plain')).status).toBe(415);
    expect((await post(JSON.stringify({ resourceType: 'Group', type: 'person', actual: true, name: 'x'.repeat(70 * 1024) }))).status).toBe(413);
  });

  it('is written only by a Backend Services client with the scope for the interaction, and read by system or user scopes, never patient scopes', async () => {
    const readOnly = await systemToken(svc, 'system/Group.rs');
    const body = { resourceType: 'Group', type: 'person', actual: true };
    await expectOutcome(`${svc.fhir}/Group`, 403, { method: 'POST', ...json(readOnly, body) });
    expect((await fhirFetch(`${svc.fhir}/Group`, json(readOnly))).status).toBe(200);
    const noGroup = await systemToken(svc, 'system/Patient.rs');
    await expectOutcome(`${svc.fhir}/Group`, 403, json(noGroup));
    // A person's app: with user scopes it reads and searches cohorts but never writes one; with patient scopes it sees none.
    const { token } = await launch(svc, 'launch/patient patient/*.rs user/*.rs');
    expect((await fhirFetch(`${svc.fhir}/Group`, json(token.access_token))).status).toBe(200);
    await expectOutcome(`${svc.fhir}/Group`, 403, { method: 'POST', ...json(token.access_token, body) });
    const { token: patientOnly } = await launch(svc, 'launch/patient patient/*.rs');
    await expectOutcome(`${svc.fhir}/Group`, 403, json(patientOnly.access_token));
    const { token: userNoGroup } = await launch(svc, 'user/Patient.rs');
    await expectOutcome(`${svc.fhir}/Group`, 403, json(userNoGroup.access_token));
    // An anonymous caller.
    await expectOutcome(`${svc.fhir}/Group`, 403);
    // Another practice's base: the token does not cover it.
    const writer = await systemToken(svc, 'system/Group.cruds');
    const id = (await fhirFetch<Group>(`${svc.fhir}/Group`, { method: 'POST', ...json(writer, body) })).body.id ?? '';
    await expectOutcome(`${svc.origin}/practices/${SANDBOX_PRACTICE_IDS[1]}/fhir/Group/${id}`, 403, json(writer));
  });

  it('declares create, read, update, delete and search in the CapabilityStatement', async () => {
    const { body } = await fhirFetch<{ rest: { resource: { type: string; interaction: { code: string }[]; versioning: string }[] }[] }>(`${svc.fhir}/metadata`);
    const group = body.rest[0]?.resource.find((r) => r.type === 'Group');
    expect(group?.interaction.map((i) => i.code)).toEqual(['read', 'search-type', 'create', 'update', 'delete']);
    expect(group?.versioning).toBe('versioned-update');
  });

  it('keeps its groups across a restart', async () => {
    const dataDir = svc.running.config.dataDir;
    const token = await systemToken(svc, 'system/Group.cruds');
    const id = (await fhirFetch<Group>(`${svc.fhir}/Group`, { method: 'POST', ...json(token, { resourceType: 'Group', type: 'person', actual: true, name: 'kept' }) })).body.id ?? '';
    // Owner-only on disk, and nothing but Patient ids: no chart number or name.
    const folder = join(dataDir, 'groups', '1001');
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    const file = join(folder, `${id}.json`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    for (const p of patients(2)) expect(text.includes(p.json.lastName)).toBe(false);
    // Sealed: not even the group's own name is readable.
    expect(readFileSync(file).includes('kept')).toBe(false);
    expect(text.startsWith('{')).toBe(false);
    const again = await startTestService({ ...env, DATA_DIR: dataDir });
    try {
      const assertion = await signAssertion({ clientId: 'hie', tokenEndpoint: `${again.origin}/auth/token`, privateKey: keys.privateKey, kid: keys.kid, alg: keys.alg });
      const t = ((await (await fetch(`${again.origin}/auth/token`, { method: 'POST', body: tokenForm(assertion, 'system/Group.rs') })).json()) as { access_token: string }).access_token;
      expect((await fhirFetch<Group>(`${again.fhir}/Group/${id}`, json(t))).body).toMatchObject({ id, name: 'kept' });
    } finally {
      await again.close();
    }
  });
});
