import type { CapabilityStatement } from 'fhir/r4';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceModules } from '../src/resources/registry.ts';
import { startSandbox } from '../src/sandbox/index.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { waitFor } from './helpers/wait.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.close());

describe('FHIR protocol', () => {
  it('publishes an R4 CapabilityStatement listing exactly the registry', async () => {
    const { status, body } = await fhirFetch<CapabilityStatement>(`${svc.fhir}/metadata`);
    expect(status).toBe(200);
    expect(body.fhirVersion).toBe('4.0.1');
    expect(body.format).toContain('application/fhir+json');
    expect(body.implementation?.url).toBe(svc.fhir);
    const resources = body.rest?.[0]?.resource ?? [];
    expect(resources.map((r) => r.type)).toEqual(resourceModules.map((m) => m.type));
    for (const m of resourceModules) {
      const r = resources.find((x) => x.type === m.type);
      expect(r?.interaction?.map((i) => i.code)).toEqual([...m.interactions]);
      expect((r?.searchParam ?? []).map((p) => p.name)).toEqual(m.searchParams.map((p) => p.name));
      expect(r?.searchInclude ?? []).toEqual([...m.capabilities.includes]);
      expect(r?.searchRevInclude ?? []).toEqual([...m.capabilities.revincludes]);
      // Group's export is offered when a door that can use it is (SMART apps are, on the sandbox).
      const operations = [...(m.operations ?? []).map((o) => o.name), ...(m.type === 'Group' ? ['export'] : [])];
      expect((r?.operation ?? []).map((o) => o.name)).toEqual(operations);
    }
  });

  it('serves metadata at the practice base with that base as the implementation url', async () => {
    const { body } = await fhirFetch<CapabilityStatement>(`${svc.origin}/practices/1002/fhir/metadata`);
    expect(body.implementation?.url).toBe(`${svc.origin}/practices/1002/fhir`);
  });

  it('accepts _format=json and JSON or wildcard Accept headers', async () => {
    expect((await fhirFetch(`${svc.fhir}/metadata?_format=json`)).status).toBe(200);
    expect((await fhirFetch(`${svc.fhir}/metadata`, { headers: { accept: 'application/fhir+json' } })).status).toBe(200);
    expect((await fhirFetch(`${svc.fhir}/metadata`, { headers: { accept: 'text/html,*/*;q=0.8' } })).status).toBe(200);
  });

  it('answers 406 when XML is asked for explicitly', async () => {
    await expectOutcome(`${svc.fhir}/metadata?_format=xml`, 406);
    await expectOutcome(`${svc.fhir}/Patient?name=smith`, 406, { headers: { accept: 'application/fhir+xml' } });
  });

  it('pretty-prints with _pretty=true', async () => {
    const res = await fetch(`${svc.fhir}/metadata?_pretty=true`);
    expect(await res.text()).toContain('\n  "resourceType"');
  });

  it('answers unknown routes with a 404 OperationOutcome', async () => {
    const { issue } = await expectOutcome(`${svc.fhir}/Observation?patient=1`, 404);
    expect(issue.code).toBe('not-found');
    await expectOutcome(`${svc.origin}/nothing-here`, 404);
  });

  it('takes a client that leaves in the middle of its body for what it is (499), never a server error', async () => {
    const lines = () => svc.logs.filter((l) => l.route === '/fhir/Patient/_search');
    const before = lines().length;
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(svc.origin).port) });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // 10 of the 100 bytes announced, then gone.
    socket.write(`POST /fhir/Patient/_search HTTP/1.1\r\nHost: localhost:${new URL(svc.origin).port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nfamily=smi`);
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await waitFor(() => lines().length > before);
    expect(lines().slice(before).map((l) => l.status)).toEqual([499]);
    expect(svc.logs.filter((l) => l.msg === 'unhandled error')).toEqual([]);
  });

  it('answers writes with 405', async () => {
    await expectOutcome(`${svc.fhir}/Patient`, 405, { method: 'POST', body: '{}' });
    await expectOutcome(`${svc.fhir}/Patient/1-A`, 405, { method: 'DELETE' });
    await expectOutcome(`${svc.fhir}/Patient/1-A`, 405, { method: 'PUT', body: '{}' });
    // A GET on an unknown sub-path is simply not found.
    await expectOutcome(`${svc.fhir}/Patient/1-A/_history`, 404);
  });

  it('marks patient data as not cacheable and not sniffable, and returns a request id', async () => {
    const res = await fetch(`${svc.fhir}/Patient?name=smith`, { headers: { 'x-request-id': 'abc-123' } });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-request-id')).toBe('abc-123');
  });

  it('requires a practice on /fhir when none is configured, but not for metadata or SearchParameter', async () => {
    const upstream = await startSandbox({ port: 0 });
    const bare = await startTestService({ NEXTECH_BASE_URL: upstream.apiBaseUrl, NEXTECH_AUTH: 'passthrough' });
    try {
      const token = upstream.sandbox.issueTokens().accessToken;
      const headers = { authorization: `Bearer ${token}` };
      const { issue } = await expectOutcome(`${bare.fhir}/Patient?name=smith`, 400, { headers });
      expect(issue.diagnostics).toContain('x-nextech-practice-id');
      expect((await fhirFetch(`${bare.fhir}/metadata`)).status).toBe(200);
      // Conformance resources need neither a practice nor a token.
      expect((await fhirFetch(`${bare.fhir}/SearchParameter/DocumentReference-section`)).status).toBe(200);
      const ok = await fhirFetch(`${bare.fhir}/Patient?name=smith`, { headers: { ...headers, 'x-nextech-practice-id': '1002' } });
      expect(ok.status).toBe(200);
    } finally {
      await bare.close();
      await upstream.close();
    }
  });
});

describe('bad input', () => {
  const bad: [string, string, number][] = [
    ['a malformed date', 'family=smith&birthdate=1980-13-45', 400],
    ['an unknown date prefix', 'family=smith&birthdate=xx1980', 400],
    ['a negative _count', 'family=smith&_count=-1', 400],
    ['a non-numeric _count', 'family=smith&_count=ten', 400],
    ['a 300-character value', `family=${'a'.repeat(300)}`, 400],
    ['a 10 000-character value (the URL is then too long)', `family=${'a'.repeat(10_000)}`, 414],
    ['an unknown modifier', 'family:sounds-like=smith', 400],
    ['a bad :missing value', 'family:missing=perhaps', 400],
    ['too many OR values', 'family=a,b,c,d,e,f', 400],
    ['a token with two bars', 'family=smith&identifier=a|b|c', 400],
  ];
  it.each(bad)('answers %s with a 4xx OperationOutcome and no upstream call', async (_label, query, status) => {
    svc.sandbox.resetCalls();
    const { issue } = await expectOutcome(`${svc.fhir}/Patient?${query}`, status);
    expect(issue.severity).toBe('error');
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it('never echoes a search value into the error', async () => {
    const { issue } = await expectOutcome(`${svc.fhir}/Patient?family=smith&birthdate=1980-02-31`, 400);
    expect(issue.diagnostics).not.toContain('1980-02-31');
  });
});
