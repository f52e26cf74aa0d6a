/**
 * Anonymous access stays on the machine (issue 18, item 5). With anonymous access on (the
 * sandbox default) a page whose name an attacker rebinds to 127.0.0.1 could read patients:
 * nothing checked `Host` or `Origin`. Now only requests addressed to the service are
 * answered: Host the public host or a loopback literal with the listening port, Origin (if
 * any) this service's or an allowed CORS origin. Every variant is sent here as raw HTTP (the
 * Host header exactly as written); the browser itself is in test/browser/rebinding.test.ts.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange, type RawResponse } from './helpers/raw-http.ts';
import { startTestService, type TestService } from './helpers/service.ts';
import { assertValidFhir } from './helpers/validator.ts';

/** One HTTP/1.1 request to 127.0.0.1:`port` with exactly these headers (Host included, or not). */
function send(port: number, path: string, headers: Record<string, string>, method = 'GET', body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, setHost: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The refusal a FHIR client sees: the status, an OperationOutcome, and no Nextech call behind it. */
function expectRefusal(res: RawResponse, status: number, s: TestService): void {
  expect(res.status).toBe(status);
  expect(res.type).toBe('application/fhir+json; charset=utf-8');
  const outcome = JSON.parse(res.body) as { resourceType: string; issue: { code: string }[] };
  assertValidFhir(outcome);
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue[0]?.code).toBe('forbidden');
  expect(s.sandbox.calls).toHaveLength(0);
}

const SEARCH = '/fhir/Patient?family=smith';
let svc: TestService;
let port: number;

beforeAll(async () => {
  svc = await startTestService({ CORS_ORIGINS: 'https://app.example.org' });
  port = Number(new URL(svc.origin).port);
  expect(svc.running.services.doors.anonymous).toBe(true);
});
afterAll(() => svc.close());

describe('anonymous access answers requests addressed to this service', () => {
  it.each([
    ['the public host (localhost:PORT, as the README\'s curl sends it)', (p: number) => `localhost:${p}`],
    ['127.0.0.1 with the listening port', (p: number) => `127.0.0.1:${p}`],
    ['[::1] with the listening port', (p: number) => `[::1]:${p}`],
    ['the public host in other letter cases', (p: number) => `LocalHost:${p}`],
  ])('serves %s', async (_, host) => {
    const res = await send(port, SEARCH, { host: host(port) });
    expect(res.status).toBe(200);
    expect((JSON.parse(res.body) as { resourceType: string }).resourceType).toBe('Bundle');
  });

  it('serves fetch (undici) and the origin of the page itself or an allowed CORS origin', async () => {
    expect((await fetch(`${svc.fhir}/Patient?family=smith`)).status).toBe(200);
    for (const origin of [svc.origin, `http://127.0.0.1:${port}`, 'https://app.example.org']) {
      expect((await send(port, SEARCH, { host: `localhost:${port}`, origin })).status).toBe(200);
    }
    // A same-origin form on a no-referrer page (the SMART picker) posts with Origin: null.
    expect((await send(port, SEARCH, { host: `localhost:${port}`, origin: 'null', 'sec-fetch-site': 'same-origin' })).status).toBe(200);
  });
});

describe('anonymous access refuses requests addressed to another name', () => {
  it.each([
    ['a rebound name', (p: number) => `rebind.attacker.example:${p}`],
    ['a rebound name in capitals', (p: number) => `REBIND.Attacker.EXAMPLE:${p}`],
    ['a rebound name with a trailing dot', (p: number) => `rebind.attacker.example.:${p}`],
    ['localhost with a trailing dot', (p: number) => `localhost.:${p}`],
    ['a rebound name without a port', () => 'rebind.attacker.example'],
    ['localhost on another port', (p: number) => `localhost:${p === 1 ? 2 : p - 1}`],
    ['localhost without a port', () => 'localhost'],
    ['another loopback address', (p: number) => `127.0.0.2:${p}`],
  ])('answers %s with 421 and no upstream call', async (_, host) => {
    svc.sandbox.resetCalls();
    expectRefusal(await send(port, SEARCH, { host: host(port) }), 421, svc);
  });

  it('answers a request without Host (HTTP/1.0) with 421', async () => {
    svc.sandbox.resetCalls();
    expectRefusal(await rawExchange(port, `GET ${SEARCH} HTTP/1.0\r\n\r\n`), 421, svc);
  });

  it('answers an absolute-form request naming a rebound authority with 421, whatever its Host', async () => {
    svc.sandbox.resetCalls();
    expectRefusal(await rawExchange(port, `GET http://rebind.attacker.example:${port}${SEARCH} HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\n\r\n`), 421, svc);
  });

  it.each([
    ['null (a sandboxed frame, a file: page)', 'null'],
    ['null from another site, as the browser says (Sec-Fetch-Site)', 'null|cross-site'],
    ['the rebound page\'s origin', 'http://rebind.attacker.example:PORT'],
    ['another site', 'https://evil.example.com'],
    ['the public host over another scheme', 'https://localhost:PORT'],
    ['something that is not an origin', 'not an origin'],
  ])('answers Origin %s with 403 and no upstream call', async (_, origin) => {
    const [value = '', site] = origin.replace('PORT', String(port)).split('|');
    const headers = { host: `localhost:${port}`, origin: value, ...(site ? { 'sec-fetch-site': site } : {}) };
    svc.sandbox.resetCalls();
    expectRefusal(await send(port, SEARCH, headers), 403, svc);
    // A POST search from a page on another site, as a browser sends it (no preflight: a form).
    svc.sandbox.resetCalls();
    const post = await send(port, '/fhir/Patient/_search', { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, 'POST', 'family=smith');
    expectRefusal(post, 403, svc);
  });

  it('guards /auth (OAuth JSON), /docs and /metrics too, but not the probes', async () => {
    const host = `rebind.attacker.example:${port}`;
    const token = await send(port, '/auth/token', { host, 'content-type': 'application/x-www-form-urlencoded' }, 'POST', 'grant_type=refresh_token&refresh_token=x');
    expect(token.status).toBe(421);
    expect(JSON.parse(token.body)).toMatchObject({ error: 'invalid_request' });
    expect((await send(port, '/docs', { host })).status).toBe(421);
    expect((await send(port, '/practices/1001/fhir/metadata', { host })).status).toBe(421);
    expect((await send(port, '/metrics', { host })).status).toBe(421);
    expect((await send(port, '/healthz', { host })).status).toBe(200);
    expect((await send(port, '/readyz', { host })).status).toBe(200);
    // Addressed here, /metrics still answers its loopback peer.
    expect((await send(port, '/metrics', { host: `localhost:${port}` })).status).toBe(200);
  });
});

describe('with a configured public base or without anonymous access', () => {
  it('answers the public host (a balancer\'s name) and loopback, and refuses others', async () => {
    const own = await startTestService({ PUBLIC_BASE_URL: 'https://fhir.example.test' });
    try {
      const p = Number(new URL(own.origin).port);
      for (const host of ['fhir.example.test', 'FHIR.example.test', 'fhir.example.test:443', `localhost:${p}`]) {
        expect((await send(p, SEARCH, { host })).status, host).toBe(200);
      }
      expect((await send(p, SEARCH, { host: 'fhir.example.test', origin: 'https://fhir.example.test' })).status).toBe(200);
      for (const host of ['fhir.example.test:80', 'fhir.example.test.', `rebind.attacker.example:${p}`]) {
        own.sandbox.resetCalls();
        expectRefusal(await send(p, SEARCH, { host }), 421, own);
      }
    } finally {
      await own.close();
    }
  });

  it('leaves requests alone when anonymous access is off (the bearer is the protection), but keeps /metrics to its own host', async () => {
    const own = await startTestService({ ANONYMOUS_ACCESS: 'false' });
    try {
      const p = Number(new URL(own.origin).port);
      const host = `rebind.attacker.example:${p}`;
      const res = await send(p, SEARCH, { host });
      expect(res.status).toBe(401);
      expect((await send(p, '/fhir/metadata', { host, origin: 'https://evil.example.com' })).status).toBe(200);
      // A rebound page is a loopback peer: /metrics answers its own host only.
      expect((await send(p, '/metrics', { host })).status).toBe(404);
      expect((await send(p, '/metrics', { host: `127.0.0.1:${p}` })).status).toBe(200);
    } finally {
      await own.close();
    }
  });
});
