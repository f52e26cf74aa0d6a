/**
 * A Backend Services client of bulk export, over plain HTTP against any running service
 * (in this process or a child): a token, a cohort written by chart number, a kick-off, the
 * status polled to the manifest, and files read back as NDJSON. Each step checks what the
 * Bulk Data spec says it answers.
 */
import type { FhirResource, Group } from 'fhir/r4';
import { expect } from 'vitest';
import { signAssertion, tokenForm, type ClientKeyPair } from './backend.ts';
import { fhirFetch } from './service.ts';

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count: number }[];
}

export const auth = (t: string) => ({ authorization: `Bearer ${t}` });

/** A Backend Services access token of `clientId` (its key pair registered in BACKEND_CLIENTS). */
export async function backendToken(origin: string, clientId: string, keys: ClientKeyPair, scope = 'system/Group.cruds system/*.rs'): Promise<string> {
  const assertion = await signAssertion({ clientId, tokenEndpoint: `${origin}/auth/token`, privateKey: keys.privateKey, kid: keys.kid, alg: keys.alg });
  const res = await fetch(`${origin}/auth/token`, { method: 'POST', body: tokenForm(assertion, scope) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Writes a cohort of the patients with these chart numbers at `fhir`; its id and the members' Patient ids. */
export async function groupByChart(fhir: string, t: string, charts: readonly string[]): Promise<{ id: string; patients: string[] }> {
  const res = await fhirFetch<Group>(`${fhir}/Group`, {
    method: 'POST',
    headers: { ...auth(t), 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ resourceType: 'Group', type: 'person', actual: true, member: charts.map((value) => ({ entity: { identifier: { value } } })) }),
  });
  expect(res.status).toBe(201);
  const patients = (res.body.member ?? []).map((m) => (m.entity.reference ?? '').replace(/^Patient\//, ''));
  expect(patients).toHaveLength(charts.length);
  return { id: res.body.id ?? '', patients };
}

/** Kicks off a Group export; the status URL. */
export async function kickOff(fhir: string, t: string, groupId: string, query = ''): Promise<string> {
  const res = await fetch(`${fhir}/Group/${groupId}/$export${query}`, { headers: { ...auth(t), accept: 'application/fhir+json', prefer: 'respond-async' } });
  expect(res.status).toBe(202);
  const location = res.headers.get('content-location') ?? '';
  expect(location.startsWith(`${fhir}/bulk/status/`)).toBe(true);
  return location;
}

/**
 * Polls the status URL until the manifest: how many polls it took, and the `X-Progress` of
 * each 202 (every one of which says when to poll again, in `Retry-After` seconds).
 */
export async function finished(statusUrl: string, t: string, timeoutMs = 90_000): Promise<{ manifest: Manifest; polls: number; progress: string[] }> {
  const until = Date.now() + timeoutMs;
  const progress: string[] = [];
  for (let polls = 1; ; polls++) {
    const res = await fetch(statusUrl, { headers: auth(t) });
    if (res.status === 200) return { manifest: (await res.json()) as Manifest, polls, progress };
    expect(res.status).toBe(202);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    progress.push(res.headers.get('x-progress') ?? '');
    await res.body?.cancel();
    if (Date.now() > until) throw new Error('export did not finish');
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** A file's lines, parsed (the file must be NDJSON ending in a newline). */
export async function ndjson(url: string, t: string): Promise<FhirResource[]> {
  const res = await fetch(url, { headers: { ...auth(t), accept: 'application/fhir+ndjson' } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/fhir+ndjson');
  const text = await res.text();
  expect(text.endsWith('\n')).toBe(true);
  return text.trimEnd().split('\n').map((l) => JSON.parse(l) as FhirResource);
}

/** Every output file of a manifest, read: its entry and its resources. */
export async function outputs(manifest: Manifest, t: string): Promise<{ entry: Manifest['output'][number]; resources: FhirResource[] }[]> {
  const out = [];
  for (const entry of manifest.output) out.push({ entry, resources: await ndjson(entry.url, t) });
  return out;
}

/** The job id in a status URL. */
export const jobIdOf = (statusUrl: string) => statusUrl.slice(statusUrl.lastIndexOf('/') + 1);
