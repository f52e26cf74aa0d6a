/**
 * Response compression over real HTTP (src/routes/compress.ts): FHIR JSON (a Patient
 * searchset, a DocumentReference searchset carrying a >1 MB CCD), a bulk export NDJSON file
 * and the API reference page go out brotli- or gzip-compressed as the client's
 * Accept-Encoding asks, and decode to exactly the bytes an identity client gets; q-values
 * (q=0, identity preferred) are honoured, small bodies and HEAD go out as they are, every
 * compressible answer says Vary: Accept-Encoding, and the OAuth endpoints under /auth never
 * compress (BREACH). Clients with their default settings (Node's fetch, undici, fhir-kit-client)
 * decode it themselves.
 *
 * Bodies are read raw (undici's `request`, which never decodes) and decoded here with node:zlib.
 */
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { Bundle, DocumentReference, Patient } from 'fhir/r4';
import { Client } from 'fhir-kit-client';
import { fetch as undiciFetch, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_BYTES } from '../src/routes/compress.ts';
import { SMALL_BYTES } from '../src/routes/compressed-body.ts';
import { buildSandboxData } from '../src/sandbox/index.ts';
import { clientKeyPair, signAssertion, tokenForm, type ClientKeyPair } from './helpers/backend.ts';
import { auth, backendToken, finished, groupByChart, kickOff } from './helpers/bulk.ts';
import { edgePatient } from './helpers/documents.ts';
import { startTestService, type TestService } from './helpers/service.ts';
import { APP, pick, signIn, SMART_ENV, txnOf } from './helpers/smart.ts';
import { assertValidFhir } from './helpers/validator.ts';

const data = buildSandboxData();
const charts = (from: number, n: number) => data.practices[0]!.patients.slice(from, from + n).map((p) => p.json.chartNumber);

let svc: TestService;
let keys: ClientKeyPair;
/** URLs of the four kinds of answer, with the headers each needs. */
let targets: { name: string; url: string; headers: Record<string, string>; sized?: boolean }[];

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body exactly as it arrived. */
  bytes: Buffer;
}

async function raw(url: string, headers: Record<string, string>, method: 'GET' | 'HEAD' | 'POST' = 'GET', body?: string): Promise<Raw> {
  const res = await request(url, { method, headers, ...(body === undefined ? {} : { body }) });
  return { status: res.statusCode, headers: res.headers, bytes: Buffer.from(await res.body.arrayBuffer()) };
}

const header = (r: Raw, name: string) => {
  const v = r.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

function decoded(r: Raw): Buffer {
  const coding = header(r, 'content-encoding');
  if (coding === 'br') return brotliDecompressSync(r.bytes);
  if (coding === 'gzip') return gunzipSync(r.bytes);
  expect(coding).toBeUndefined();
  return r.bytes;
}

/** Paging links are sealed afresh for every answer (page-cursors.ts): the rest of a body is the same each time. */
const sameCursors = (text: string) => text.replace(/_cursor=[A-Za-z0-9_-]+/g, '_cursor=…');

const varies = (r: Raw) => (header(r, 'vary') ?? '').split(',').map((v) => v.trim().toLowerCase()).includes('accept-encoding');

beforeAll(async () => {
  // Indexed now, not between two requests: a blocked event loop lets a kept-alive connection go stale under a request.
  assertValidFhir({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] });
  keys = await clientKeyPair('ES384');
  svc = await startTestService({
    ...SMART_ENV,
    BACKEND_CLIENTS: JSON.stringify([{ client_id: 'hie', jwks: keys.jwks, practices: ['1001'], scope: 'system/Group.cruds system/*.rs' }]),
  });
  const t = await backendToken(svc.origin, 'hie', keys);
  const large = await edgePatient(svc.sandbox, svc.fhir, 'large-ccd');
  const group = await groupByChart(svc.fhir, t, charts(1, 4));
  const { manifest } = await finished(await kickOff(svc.fhir, t, group.id, '?_type=Patient,Encounter'), t);
  const file = manifest.output.find((o) => o.type === 'Encounter');
  if (!file) throw new Error('no Encounter file');
  const bearer = auth(t);
  targets = [
    { name: 'a Patient searchset', url: `${svc.fhir}/Patient?name=a&_count=50`, headers: bearer, sized: true },
    { name: 'a DocumentReference searchset with a >1 MB CCD', url: `${svc.fhir}/DocumentReference?patient=${large.id}`, headers: bearer },
    { name: 'a bulk export NDJSON file', url: file.url, headers: { ...bearer, accept: 'application/fhir+ndjson' } },
    { name: 'the API reference page (HTML)', url: `${svc.origin}/docs`, headers: {} },
  ];
}, 120_000);
afterAll(() => svc.close());

describe('compressed answers', () => {
  it('sends br and gzip that decode to exactly the identity bytes, for FHIR JSON, NDJSON and HTML, with Vary', async () => {
    for (const t of targets) {
      const plain = await raw(t.url, { ...t.headers, 'accept-encoding': 'identity' });
      expect(plain.status, t.name).toBe(200);
      expect(header(plain, 'content-encoding'), t.name).toBeUndefined();
      expect(varies(plain), t.name).toBe(true);
      expect(plain.bytes.length, t.name).toBeGreaterThan(MIN_BYTES);
      if (t.sized) expect(plain.bytes.length, t.name).toBeLessThanOrEqual(SMALL_BYTES);
      for (const coding of ['br', 'gzip']) {
        const packed = await raw(t.url, { ...t.headers, 'accept-encoding': coding });
        expect(packed.status, t.name).toBe(200);
        expect(header(packed, 'content-encoding'), `${t.name} ${coding}`).toBe(coding);
        expect(header(packed, 'content-type'), t.name).toBe(header(plain, 'content-type'));
        expect(varies(packed), t.name).toBe(true);
        // Known and small enough to compress in one call (the Patient searchset): sent with its length; the rest streamed.
        expect(header(packed, 'content-length'), t.name).toBe(t.sized ? String(packed.bytes.length) : undefined);
        expect(packed.bytes.length, `${t.name} ${coding}`).toBeLessThan(plain.bytes.length / 2);
        expect(sameCursors(decoded(packed).toString('utf8')), `${t.name} ${coding}`).toBe(sameCursors(plain.bytes.toString('utf8')));
      }
    }
    // What was compared is what it should be: a searchset carrying the CCD, NDJSON lines, a page.
    const [patients, docs, file, page] = await Promise.all(targets.map(async (t) => (await raw(t.url, { ...t.headers, 'accept-encoding': 'gzip' })).bytes).map(async (b) => gunzipSync(await b).toString('utf8')));
    const bundle = JSON.parse(docs ?? '') as Bundle<DocumentReference>;
    expect(bundle.entry?.some((e) => (e.resource?.content[0]?.attachment.data?.length ?? 0) > 1_000_000)).toBe(true);
    assertValidFhir(JSON.parse(patients ?? '') as Bundle<Patient>);
    for (const line of (file ?? '').trimEnd().split('\n')) expect(JSON.parse(line)).toMatchObject({ resourceType: 'Encounter' });
    expect(page).toMatch(/^<!doctype html>/i);
  }, 90_000);

  it('honours q-values: br when equally acceptable, the heavier one otherwise, nothing for q=0 or a preferred identity', async () => {
    const t = targets[0]!;
    const cases: [string | undefined, string | undefined][] = [
      [undefined, undefined],
      ['', undefined],
      ['identity', undefined],
      ['gzip, br', 'br'],
      ['gzip, deflate, br, zstd', 'br'],
      ['br;q=0.5, gzip', 'gzip'],
      ['br;q=0, gzip;q=0', undefined],
      ['gzip;q=0', undefined],
      ['*', 'br'],
      ['br;q=0, *', 'gzip'],
      ['*;q=0, identity', undefined],
      ['gzip;q=0.5, identity', undefined],
      ['GZIP;Q=1', 'gzip'],
      ['deflate', undefined],
    ];
    for (const [accept, expected] of cases) {
      const res = await raw(t.url, { ...t.headers, ...(accept === undefined ? {} : { 'accept-encoding': accept }) });
      expect(res.status).toBe(200);
      expect(header(res, 'content-encoding'), `Accept-Encoding: ${accept ?? '(none)'}`).toBe(expected);
      expect(varies(res)).toBe(true);
      expect(JSON.parse(decoded(res).toString('utf8'))).toMatchObject({ resourceType: 'Bundle' });
    }
  });

  it('sends small bodies and HEAD answers as they are, with their length and Vary', async () => {
    const t = targets[0]!;
    const small = await raw(`${svc.fhir}/Patient/no-such-patient`, { ...t.headers, 'accept-encoding': 'br, gzip' });
    expect(small.status).toBe(404);
    expect(small.bytes.length).toBeLessThan(MIN_BYTES);
    expect(header(small, 'content-encoding')).toBeUndefined();
    expect(header(small, 'content-length')).toBe(String(small.bytes.length));
    expect(varies(small)).toBe(true);
    expect(JSON.parse(small.bytes.toString('utf8'))).toMatchObject({ resourceType: 'OperationOutcome' });

    const head = await raw(t.url, { ...t.headers, 'accept-encoding': 'br, gzip' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(header(head, 'content-encoding')).toBeUndefined();
    expect(varies(head)).toBe(true);
  });

  it('never compresses the OAuth and SMART endpoints under /auth (their pages, the token answer), whose answers hold secrets', async () => {
    // A SMART launch: the patient picker pages (HTML with a CSRF-bound transaction), then the token call.
    const { verifier, response, cookie } = await signIn(svc, 'launch/patient patient/*.rs openid fhirUser offline_access');
    expect(response.status).toBe(200);
    const picker = await response.text();
    const list = await pick(svc, { txn: txnOf(picker), q: 'smith', action: 'search' }, cookie);
    const listed = await list.text();
    for (const [page, html] of [[response, picker], [list, listed]] as const) {
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      // Node's fetch asked for gzip: the page is larger than what is compressed elsewhere, and came as it is.
      expect(page.headers.get('content-encoding')).toBeNull();
      expect(html.length).toBeGreaterThan(MIN_BYTES);
    }
    const patient = [...listed.matchAll(/name="patient" value="([^"]+)"/g)][0]?.[1] ?? '';
    const chosen = await pick(svc, { txn: txnOf(picker), patient, action: 'choose' }, cookie);
    expect(chosen.status).toBe(302);
    const code = new URL(chosen.headers.get('location') ?? '').searchParams.get('code') ?? '';
    const form = { grant_type: 'authorization_code', code, redirect_uri: APP.redirectUri, client_id: APP.clientId, code_verifier: verifier };
    const res = await raw(
      `${svc.origin}/auth/token`,
      { 'content-type': 'application/x-www-form-urlencoded', 'accept-encoding': 'br, gzip' },
      'POST',
      new URLSearchParams(form).toString(),
    );
    expect(res.status).toBe(200);
    expect(header(res, 'content-encoding')).toBeUndefined();
    const token = JSON.parse(res.bytes.toString('utf8')) as { access_token: string; refresh_token: string; id_token: string };
    expect(token.refresh_token.length).toBeGreaterThan(20);
    expect(token.id_token.split('.')).toHaveLength(3);
    // Large enough that it would have been compressed anywhere else.
    expect(res.bytes.length).toBeGreaterThan(MIN_BYTES);

    // A Backend Services token, too (smaller, but the endpoint is the same).
    const assertion = await signAssertion({ clientId: 'hie', tokenEndpoint: `${svc.origin}/auth/token`, privateKey: keys.privateKey, kid: keys.kid, alg: keys.alg });
    const backend = await raw(
      `${svc.origin}/auth/token`,
      { 'content-type': 'application/x-www-form-urlencoded', 'accept-encoding': 'br, gzip' },
      'POST',
      tokenForm(assertion, 'system/Group.cruds system/*.rs').toString(),
    );
    expect(backend.status).toBe(200);
    expect(header(backend, 'content-encoding')).toBeUndefined();
  });
});

describe('clients with their default settings', () => {
  it('Node fetch and undici ask for gzip themselves and decode it to the identity body', async () => {
    const t = targets[1]!;
    const plain = sameCursors((await raw(t.url, { ...t.headers, 'accept-encoding': 'identity' })).bytes.toString('utf8'));
    for (const client of [fetch, undiciFetch] as ((url: string, init: { headers: Record<string, string> }) => Promise<Response>)[]) {
      const res = await client(t.url, { headers: t.headers });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-encoding')).toBe('gzip');
      expect(sameCursors(await res.text())).toBe(plain);
    }
  });

  it('fhir-kit-client reads a compressed searchset as it reads any other', async () => {
    const t = targets[0]!;
    const client = new Client({ baseUrl: svc.fhir, customHeaders: t.headers });
    const bundle = (await client.search({ resourceType: 'Patient', searchParams: { name: 'a', _count: '50' } })) as unknown as Bundle<Patient>;
    const plain = JSON.parse((await raw(t.url, { ...t.headers, 'accept-encoding': 'identity' })).bytes.toString('utf8')) as Bundle<Patient>;
    expect(bundle.entry?.map((e) => e.resource?.id)).toEqual(plain.entry?.map((e) => e.resource?.id));
    expect(bundle.entry?.length).toBe(50);
  });
});
