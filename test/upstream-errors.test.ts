/**
 * How the facade answers when Nextech misbehaves: every upstream status, broken bodies,
 * slow answers and dropped connections, seen over HTTP through the real service in
 * pass-through mode against a scripted fake Nextech. The fake puts a recognisable secret
 * in every failure it sends, which must never reach the caller or the logs.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, OperationOutcome, Patient } from 'fhir/r4';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fhirFetch, startTestService, type FhirResponse, type TestService } from './helpers/service.ts';

const SECRET = 'SECRET-UPSTREAM-BODY';
const PATIENT_ID_SYSTEM = 'urn:nextech:practice:1001:patient-id';

/** One scripted answer of the fake Nextech. */
interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Answer only after this long (the answer is dropped if the caller leaves first). */
  delayMs?: number;
  /** Send the headers and the start of the body, then nothing more. */
  stallBody?: boolean;
  /** Destroy the socket instead of answering. */
  destroy?: boolean;
}

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

interface FakeNextech {
  /** The API base to configure as NEXTECH_BASE_URL (has a path, as Nextech's does). */
  baseUrl: string;
  seen: SeenRequest[];
  /** Answers the next requests in order; the last reply repeats. Clears `seen`. */
  script(...replies: Reply[]): void;
  close(): Promise<void>;
}

const quirkyRow = {
  patientId: '4242',
  chartNumber: 'C-4242',
  firstName: 'Ann',
  lastName: 'Smith',
  middleName: null,
  dob: '1980-02-29T00:00:00',
  ssn: null,
  // homePhone absent; fields Nextech may add later:
  email: 'ann@example.org',
  portal: { enabled: true },
};
const ok = (rows: unknown[] = [quirkyRow]): Reply => ({ status: 200, body: JSON.stringify(rows) });
/** An upstream failure carrying the secret in its body and in a header. */
const failure = (status: number, headers: Record<string, string> = {}): Reply => ({
  status,
  headers: { 'x-upstream-debug': SECRET, ...headers },
  body: JSON.stringify({ message: `Patient Smith ${SECRET} could not be processed` }),
});
const okBody = (body: string): Reply => ({ status: 200, body });

async function startFakeNextech(): Promise<FakeNextech> {
  let queue: Reply[] = [ok()];
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const reply = (queue.length > 1 ? queue.shift() : queue[0]) ?? ok();
    if (reply.destroy) {
      req.socket.destroy();
      return;
    }
    const send = () => {
      res.writeHead(reply.status ?? 200, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
      if (reply.stallBody) res.write('[{"patientId":');
      else res.end(reply.body ?? '');
    };
    if (reply.delayMs === undefined) return send();
    const timer = setTimeout(send, reply.delayMs);
    res.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/ehr/api`,
    seen,
    script(...replies) {
      queue = replies;
      seen.splice(0, seen.length);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

let fake: FakeNextech;
let svc: TestService;
beforeAll(async () => {
  fake = await startFakeNextech();
  svc = await startTestService({
    NEXTECH_BASE_URL: fake.baseUrl,
    NEXTECH_AUTH: 'passthrough',
    NEXTECH_PRACTICE_ID: '1001',
    NEXTECH_TIMEOUT_SECONDS: '1',
    // Every request here must reach Nextech: no reuse of an earlier answer to the same search.
    PATIENT_CACHE_SECONDS: '0',
  });
});
afterAll(async () => {
  await svc.close();
  await fake.close();
});
beforeEach(() => fake.script(ok()));

const AUTH = { authorization: 'Bearer abc' };
const searchSmith = (headers: Record<string, string> = AUTH) => fhirFetch(`${svc.fhir}/Patient?name=smith`, { headers });

/** Everything the caller can see of a response, as one string. */
const visible = (res: FhirResponse) => JSON.stringify(res.body) + JSON.stringify([...res.headers]);

/** Every attempt went to the patient search with the caller's token and the practice header. */
function expectForwarded(attempts: number): void {
  expect(fake.seen).toHaveLength(attempts);
  for (const call of fake.seen) {
    expect(call.method).toBe('GET');
    expect(call.url).toBe('/ehr/api/search?term=smith');
    expect(call.headers.authorization).toBe('Bearer abc');
    expect(call.headers['x-nextech-practice-id']).toBe('1001');
  }
}

/** The service still answers a healthy upstream normally. */
async function expectRecovered(): Promise<void> {
  fake.script(ok());
  const next = await searchSmith();
  expect(next.status).toBe(200);
  expect((next.body as unknown as Bundle).total).toBe(1);
}

const outcomeOf = (code: OperationOutcome['issue'][number]['code'], diagnostics: string): OperationOutcome => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code, diagnostics }],
});

interface FailureCase {
  upstream: string;
  replies: Reply[];
  status: number;
  outcome: OperationOutcome;
  attempts: number;
  /** Expected response headers; `retry-after` and `www-authenticate` must be absent unless listed. */
  headers?: Record<string, string | RegExp>;
}

const REJECTED = outcomeOf('invalid', 'The Nextech API rejected the request as invalid');
const UNREACHABLE = outcomeOf('transient', 'The Nextech API could not be reached');
const NOT_UNDERSTOOD = outcomeOf('exception', 'The Nextech API returned a response that could not be understood');
const THROTTLED = outcomeOf('throttled', 'The Nextech API rate limit was reached; retry later');
const failedWith = (status: number) => outcomeOf('transient', `The Nextech API failed (HTTP ${status})`);

const failureCases: FailureCase[] = [
  { upstream: '400', replies: [failure(400)], status: 400, outcome: REJECTED, attempts: 1 },
  {
    upstream: '401',
    replies: [failure(401, { 'www-authenticate': `Bearer realm="${SECRET}", error="invalid_token"` })],
    status: 401,
    outcome: outcomeOf('login', 'The Nextech API did not accept the access token'),
    attempts: 1,
    headers: { 'www-authenticate': /^Bearer\b/ },
  },
  {
    upstream: '403',
    replies: [failure(403)],
    status: 403,
    outcome: outcomeOf('forbidden', 'The Nextech API refused access to this practice'),
    attempts: 1,
  },
  {
    upstream: '404',
    replies: [failure(404)],
    status: 404,
    outcome: outcomeOf('not-found', 'The Nextech API has no such record'),
    attempts: 1,
  },
  {
    upstream: '429 with Retry-After: 7',
    replies: [failure(429, { 'retry-after': '7' })],
    status: 429,
    outcome: THROTTLED,
    attempts: 1,
    headers: { 'retry-after': '7' },
  },
  { upstream: '429 without Retry-After', replies: [failure(429)], status: 429, outcome: THROTTLED, attempts: 1 },
  {
    upstream: '429 with an unreadable Retry-After',
    replies: [failure(429, { 'retry-after': `soon ${SECRET}` })],
    status: 429,
    outcome: THROTTLED,
    attempts: 1,
  },
  {
    // A wait of 0 fits any deadline: the service waits and retries once, then passes the 429 on.
    upstream: '429 with a Retry-After date in the past',
    replies: [failure(429, { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' })],
    status: 429,
    outcome: THROTTLED,
    attempts: 2,
    headers: { 'retry-after': '0' },
  },
  // 500 is not retried: only 502/503/504 and connection failures are transient.
  { upstream: '500', replies: [failure(500)], status: 502, outcome: failedWith(500), attempts: 1 },
  { upstream: '501', replies: [failure(501)], status: 502, outcome: failedWith(501), attempts: 1 },
  { upstream: '502 every time', replies: [failure(502)], status: 502, outcome: failedWith(502), attempts: 3 },
  { upstream: '503 every time', replies: [failure(503)], status: 502, outcome: failedWith(503), attempts: 3 },
  { upstream: '504 every time', replies: [failure(504)], status: 502, outcome: failedWith(504), attempts: 3 },
  {
    upstream: 'a 302 redirect to a login page',
    replies: [failure(302, { location: `https://login.example/${SECRET}` })],
    status: 502,
    outcome: NOT_UNDERSTOOD,
    attempts: 1,
  },
  { upstream: 'a 200 whose body is not JSON', replies: [okBody(`<html>${SECRET}</html>`)], status: 502, outcome: NOT_UNDERSTOOD, attempts: 1 },
  { upstream: 'a 200 with an empty body', replies: [okBody('')], status: 502, outcome: NOT_UNDERSTOOD, attempts: 1 },
  {
    upstream: 'a 200 with a non-numeric patientId',
    replies: [okBody(JSON.stringify([{ patientId: 'abc', lastName: SECRET }]))],
    status: 502,
    outcome: NOT_UNDERSTOOD,
    attempts: 1,
  },
  {
    upstream: 'a 200 with an object instead of an array',
    replies: [okBody(JSON.stringify({ not: 'an array', detail: SECRET }))],
    status: 502,
    outcome: NOT_UNDERSTOOD,
    attempts: 1,
  },
  {
    upstream: 'a 200 with a dob that is not an ISO date',
    replies: [okBody(JSON.stringify([{ ...quirkyRow, dob: '29/02/1980', lastName: SECRET }]))],
    status: 502,
    outcome: NOT_UNDERSTOOD,
    attempts: 1,
  },
  { upstream: 'a 200 with a JSON null', replies: [okBody('null')], status: 502, outcome: NOT_UNDERSTOOD, attempts: 1 },
  { upstream: 'a connection reset every time', replies: [{ destroy: true }], status: 502, outcome: UNREACHABLE, attempts: 3 },
];

describe('upstream failures through the facade', () => {
  it.each(failureCases)('answers upstream $upstream with $status', async (c) => {
    fake.script(...c.replies);
    const res = await searchSmith();
    expect(res.status).toBe(c.status);
    expect(res.body).toEqual(c.outcome);
    const expectedHeaders: Record<string, string | RegExp | null> = { 'retry-after': null, 'www-authenticate': null, ...c.headers };
    for (const [name, want] of Object.entries(expectedHeaders)) {
      if (want instanceof RegExp) expect(res.headers.get(name)).toMatch(want);
      else expect(res.headers.get(name)).toBe(want);
    }
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(visible(res)).not.toContain(SECRET);
    expect(JSON.stringify(svc.logs)).not.toContain(SECRET);
    expectForwarded(c.attempts);
    await expectRecovered();
  });

  it('turns a Retry-After HTTP-date into whole seconds', async () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    fake.script(failure(429, { 'retry-after': at }));
    const res = await searchSmith();
    expect(res.status).toBe(429);
    expect(res.body).toEqual(THROTTLED);
    const seconds = res.headers.get('retry-after') ?? '';
    expect(seconds).toMatch(/^\d+$/);
    // The date has one-second precision and a moment passed since it was written.
    expect(Number(seconds)).toBeGreaterThanOrEqual(28);
    expect(Number(seconds)).toBeLessThanOrEqual(30);
    await expectRecovered();
  });

  it('retries a 503 and answers 200 when the next attempt succeeds', async () => {
    fake.script(failure(503), ok());
    const res = await searchSmith();
    expect(res.status).toBe(200);
    expect((res.body as unknown as Bundle).total).toBe(1);
    expectForwarded(2);
  });

  it('retries a connection reset and answers 200 when the next attempt succeeds', async () => {
    fake.script({ destroy: true }, ok());
    const res = await searchSmith();
    expect(res.status).toBe(200);
    expectForwarded(2);
  });

  it('answers 504 timeout when Nextech is slower than NEXTECH_TIMEOUT_SECONDS', async () => {
    // Would be a 200 if the facade waited for it.
    fake.script({ ...ok(), delayMs: 1_500 });
    const started = performance.now();
    const res = await searchSmith();
    const elapsed = performance.now() - started;
    expect(res.status).toBe(504);
    expect(res.body).toEqual(outcomeOf('timeout', 'The Nextech API did not answer in time'));
    // Not early: the deadline is the configured second.
    expect(elapsed).toBeGreaterThanOrEqual(950);
    // A timeout is not retried: the deadline covers the whole call.
    expectForwarded(1);
    await expectRecovered();
  });

  it('answers 504 timeout when the body stalls after the headers', async () => {
    fake.script({ stallBody: true });
    const res = await searchSmith();
    expect(res.status).toBe(504);
    expect(res.body).toEqual(outcomeOf('timeout', 'The Nextech API did not answer in time'));
    expectForwarded(1);
    await expectRecovered();
  });
});

describe('documented quirks in a 200 body', () => {
  it('maps a patient with a null middleName, no homePhone, extra fields and a string patientId', async () => {
    fake.script(ok([quirkyRow]));
    const res = await searchSmith();
    expect(res.status).toBe(200);
    const bundle = res.body as unknown as Bundle;
    expect(bundle.total).toBe(1);
    const patient = bundle.entry?.[0]?.resource as Patient;
    // The id is opaque (src/ids): a FHIR id that does not show the chart number.
    expect(patient.id).not.toContain('C-4242');
    expect(patient).toEqual({
      resourceType: 'Patient',
      id: expect.stringMatching(/^[A-Za-z0-9\-.]{1,64}$/) as unknown,
      meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'] },
      identifier: [
        {
          use: 'usual',
          type: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' }],
            text: 'Chart number',
          },
          system: 'urn:nextech:practice:1001:chart-number',
          value: 'C-4242',
        },
        {
          use: 'secondary',
          type: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PI', display: 'Patient internal identifier' }],
            text: 'Nextech patient id',
          },
          system: PATIENT_ID_SYSTEM,
          value: '4242',
        },
      ],
      name: [{ use: 'official', family: 'Smith', given: ['Ann'] }],
      gender: 'unknown',
      birthDate: '1980-02-29',
    });
    expect(JSON.stringify(bundle)).not.toContain('ann@example.org');
    expectForwarded(1);
  });
});

describe('pass-through credentials', () => {
  it.each([
    ['no Authorization header', {}],
    ['a Basic Authorization header', { authorization: 'Basic YWJjOmRlZg==' }],
    ['an empty bearer token', { authorization: 'Bearer ' }],
  ])('answers 401 login with a Bearer challenge and calls nobody for %s', async (_label, headers: Record<string, string>) => {
    const res = await searchSmith(headers);
    expect(res.status).toBe(401);
    expect((res.body as unknown as OperationOutcome).issue[0]?.code).toBe('login');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    expect(fake.seen).toHaveLength(0);
  });

  it('serves /fhir/metadata without an Authorization header or an upstream call', async () => {
    const res = await fhirFetch(`${svc.fhir}/metadata`);
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('CapabilityStatement');
    expect(fake.seen).toHaveLength(0);
  });
});
