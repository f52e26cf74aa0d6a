import type { Bundle, Patient } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ CORS_ORIGINS: 'https://app.example.org,http://localhost:3000' });
});
afterAll(() => svc.close());

describe('CORS', () => {
  it('allows exactly the configured origins', async () => {
    const ok = await fetch(`${svc.fhir}/metadata`, { headers: { origin: 'https://app.example.org' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.org');
    const other = await fetch(`${svc.fhir}/metadata`, { headers: { origin: 'https://evil.example.com' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers a preflight for an allowed origin with the headers a SMART app sends', async () => {
    const res = await fetch(`${svc.fhir}/Patient`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
  });

  it('is off when no origins are configured', async () => {
    const plain = await startTestService();
    try {
      const res = await fetch(`${plain.fhir}/metadata`, { headers: { origin: 'https://app.example.org' } });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await plain.close();
    }
  });
});

describe('request limits', () => {
  it('answers an over-long URL with 414 before any upstream call', async () => {
    svc.sandbox.resetCalls();
    const { issue } = await expectOutcome(`${svc.fhir}/Patient?family=smith&${'x=1&'.repeat(2100)}`, 414);
    expect(issue.code).toBe('too-long');
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it('answers too many parameters with 400 before any upstream call', async () => {
    svc.sandbox.resetCalls();
    const query = Array.from({ length: 150 }, (_, i) => `family=s${i}`).join('&');
    await expectOutcome(`${svc.fhir}/Patient?${query}`, 400);
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it('answers an over-large POST _search body with 413', async () => {
    await expectOutcome(`${svc.fhir}/Patient/_search`, 413, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `family=${'a'.repeat(70_000)}`,
    });
  });
});

describe('operations endpoints', () => {
  it('reports liveness and readiness', async () => {
    expect((await fetch(`${svc.origin}/healthz`)).status).toBe(200);
    const ready = await fetch(`${svc.origin}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('reports not ready, and answers 503, once the managed credentials are refused', async () => {
    const own = await startTestService();
    try {
      expect((await fhirFetch(`${own.fhir}/Patient?family=smith`)).status).toBe(200);
      own.sandbox.revokeAll();
      // Another search: the answer to the first is reused for PATIENT_CACHE_SECONDS without asking Nextech.
      const { issue, headers } = await expectOutcome(`${own.fhir}/Patient?family=jones`, 503);
      expect(issue.code).toBe('security');
      expect(issue.diagnostics).toContain('renew');
      expect(headers.get('retry-after')).not.toBeNull();
      const ready = await fetch(`${own.origin}/readyz`);
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toContain('nextech-credentials');
    } finally {
      await own.close();
    }
  });
});

describe('logs', () => {
  it('writes one audit line per interaction naming caller, practice and the ids returned', async () => {
    const { body } = await fhirFetch<Bundle>(`${svc.fhir}/Patient?family=smith&_count=2`, { headers: { 'x-request-id': 'audit-1' } });
    const ids = (body.entry ?? []).map((e) => `Patient/${(e.resource as Patient).id}`);
    const line = svc.logs.find((l) => l.log === 'audit' && l.requestId === 'audit-1');
    expect(line).toMatchObject({ interaction: 'search-type', resourceType: 'Patient', practice: '1001', ids });
    expect(typeof line?.caller).toBe('string');
  });

  it('logs parameter names, never their values, and the route pattern, never the path', async () => {
    const patient = svc.sandbox.data.practices[0]?.patients[3];
    const family = patient?.json.lastName ?? '';
    const { body } = await fhirFetch<Bundle>(`${svc.fhir}/Patient?family=${encodeURIComponent(family)}&weird-${family}=1`, {
      headers: { 'x-request-id': 'names-1' },
    });
    const id = (body.entry?.[0]?.resource as Patient).id ?? '';
    await fhirFetch(`${svc.fhir}/Patient/${id}`, { headers: { 'x-request-id': 'names-2' } });
    const search = svc.logs.find((l) => l.msg === 'request' && l.requestId === 'names-1');
    expect(search).toMatchObject({ route: '/fhir/Patient', params: ['family', '(other)'], status: 200 });
    const read = svc.logs.find((l) => l.msg === 'request' && l.requestId === 'names-2');
    expect(read).toMatchObject({ route: '/fhir/Patient/:id' });
    const requestLines = JSON.stringify(svc.logs.filter((l) => l.msg === 'request'));
    expect(requestLines).not.toContain(family);
  });
});
