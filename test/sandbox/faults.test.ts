import { spawn } from 'node:child_process';
import { request, type Dispatcher } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSandbox, SANDBOX_CLIENT_ID, type FaultRule } from '../../src/sandbox/app.ts';
import { parseFaultSpec } from '../../src/sandbox/fault-spec.ts';
import { startSandbox } from '../../src/sandbox/server.ts';
import { postForm, startTestSandbox, type TestSandbox } from './helpers.ts';

const SEARCH = '/search?term=smith';

/** Draws handed to the sandbox's random source, in order; 0.999 once they run out. */
let draws: number[] = [];
let randomCalls = 0;
let sb: TestSandbox;
let normalBody: string;

/** GET over undici, the facade's HTTP client, with the token and practice header. */
function get(path: string, token: string | null = sb.accessToken): Promise<Dispatcher.ResponseData> {
  const headers: Record<string, string> = { 'x-nextech-practice-id': '1001' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return request(`${sb.apiBaseUrl}${path}`, { headers });
}

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work();
  return { result, ms: performance.now() - started };
}

/** Reads a body chunk by chunk; how many bytes came, and the error that ended it if any. */
async function drain(res: Dispatcher.ResponseData): Promise<{ bytes: number; error?: unknown }> {
  let bytes = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) bytes += chunk.length;
  } catch (error) {
    return { bytes, error };
  }
  return { bytes };
}

const statusSequence = async (path: string, n: number): Promise<number[]> => {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await get(path);
    await res.body.dump();
    statuses.push(res.statusCode);
  }
  return statuses;
};

beforeAll(async () => {
  sb = await startTestSandbox({
    random: () => {
      randomCalls++;
      return draws.shift() ?? 0.999;
    },
  });
  normalBody = await (await get(SEARCH)).body.text();
});
afterAll(() => sb.close());
beforeEach(() => {
  sb.sandbox.faults.clear();
  sb.sandbox.resetCalls();
  draws = [];
  randomCalls = 0;
});

describe('fault kinds over HTTP', () => {
  it('delays a latency fault by at least its ms, then answers normally', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'latency', ms: 150 } });
    const { result: res, ms } = await timed(() => get(SEARCH));
    expect(await res.body.text()).toBe(normalBody);
    // Node timers run on a millisecond-truncated clock: allow 1 ms of rounding.
    expect(ms).toBeGreaterThanOrEqual(149);
    expect(sb.sandbox.calls).toMatchObject([{ status: 200, fault: 'latency' }]);
  });

  it.each([500, 502, 503, 504] as const)('answers a status fault with %i and a JSON message', async (status) => {
    sb.sandbox.faults.add({ fault: { kind: 'status', status, retryAfter: '7' } });
    const res = await get(SEARCH);
    expect(res.statusCode).toBe(status);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(await res.body.json()).toEqual({ message: expect.any(String) as unknown });
  });

  it('answers rate-limit with 429 and a Retry-After in seconds or as an HTTP-date', async () => {
    const date = 'Wed, 21 Oct 2015 07:28:00 GMT';
    sb.sandbox.faults.add({ fault: { kind: 'rate-limit', retryAfter: '2' }, times: 1 });
    sb.sandbox.faults.add({ fault: { kind: 'rate-limit', retryAfter: date }, times: 1 });
    sb.sandbox.faults.add({ fault: { kind: 'rate-limit' }, times: 1 });
    const answers = [];
    for (let i = 0; i < 3; i++) {
      const res = await get(SEARCH);
      answers.push([res.statusCode, res.headers['retry-after']]);
      await res.body.dump();
    }
    expect(answers).toEqual([[429, '2'], [429, date], [429, undefined]]);
  });

  it('resets the connection: the client gets a socket error instead of a response', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'reset' } });
    const error: unknown = await get(SEARCH).then(() => undefined, (err: unknown) => err);
    expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain((error as { code?: string } | undefined)?.code);
    expect(sb.sandbox.calls).toMatchObject([{ status: 0, fault: 'reset' }]);
  });

  it('truncates: full content-length, half the real body, then a premature close', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'truncate' } });
    const res = await get(SEARCH);
    expect(res.statusCode).toBe(200);
    const length = Buffer.byteLength(normalBody);
    expect(res.headers['content-length']).toBe(String(length));
    const { bytes, error } = await drain(res);
    expect(bytes).toBe(Math.floor(length / 2));
    expect(error).toBeInstanceOf(Error);
    expect(sb.sandbox.calls).toMatchObject([{ status: 0, fault: 'truncate' }]);
  });

  it('sends 200 application/json that does not parse as JSON', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'malformed-json' } });
    const res = await get(SEARCH);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const text = await res.body.text();
    expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError);
  });

  it('sends 200 with valid JSON of the wrong shape', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'schema-break' } });
    const res = await get(SEARCH);
    expect(res.statusCode).toBe(200);
    const body = (await res.body.json()) as { patientId?: unknown }[];
    expect(body.length).toBeGreaterThan(0);
    expect(typeof body[0]?.patientId).not.toBe('number');
  });

  it('dribbles the real body out in chunks, with its content-length', async () => {
    const length = Buffer.byteLength(normalBody);
    const chunkBytes = Math.ceil(length / 4);
    const chunks = Math.ceil(length / chunkBytes);
    sb.sandbox.faults.add({ fault: { kind: 'slow-drip', chunkBytes, intervalMs: 60 } });
    const { result, ms } = await timed(async () => {
      const res = await get(SEARCH);
      return { res, text: await res.body.text() };
    });
    expect(result.res.headers['content-length']).toBe(String(length));
    expect(result.text).toBe(normalBody);
    expect(ms).toBeGreaterThanOrEqual((chunks - 1) * 60 - 1);
    expect(sb.sandbox.calls).toMatchObject([{ status: 200, fault: 'slow-drip' }]);
  });

  it('injects before the auth checks, as a failing upstream would', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'status', status: 503 } });
    const res = await get(SEARCH, null);
    await res.body.dump();
    expect(res.statusCode).toBe(503);
  });
});

describe('fault rules', () => {
  it('applies a rule `times` times, then removes it', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'status', status: 503 }, times: 2 });
    expect(sb.sandbox.faults.rules).toEqual([{ fault: { kind: 'status', status: 503 }, times: 2 }]);
    expect(await statusSequence(SEARCH, 3)).toEqual([503, 503, 200]);
    expect(sb.sandbox.faults.rules).toEqual([]);
    expect(sb.sandbox.faults.injected).toEqual({ status: 2 });
  });

  it('injects when the random draw falls under the rate, and draws only for rates below 1', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'status', status: 502 }, rate: 0.1 });
    draws = [0.05, 0.5, 0.099, 0.1];
    expect(await statusSequence(SEARCH, 4)).toEqual([502, 200, 502, 200]);
    sb.sandbox.faults.clear();
    sb.sandbox.faults.add({ fault: { kind: 'latency', ms: 0 } });
    sb.sandbox.faults.add({ fault: { kind: 'status', status: 500 }, rate: 0 });
    randomCalls = 0;
    expect(await statusSequence(SEARCH, 2)).toEqual([200, 200]);
    expect(randomCalls).toBe(0);
  });

  it('limits a rule to paths containing a string or matching a RegExp', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'status', status: 504 }, path: '/encounters/categories' });
    sb.sandbox.faults.add({ fault: { kind: 'status', status: 500 }, path: /\/\d+\/encounters\/search$/g });
    expect(await statusSequence('/encounters/categories', 1)).toEqual([504]);
    expect(await statusSequence('/10001/encounters/search', 2)).toEqual([500, 500]);
    expect(await statusSequence(SEARCH, 1)).toEqual([200]);
  });

  it('injects the first applicable rule, after the delays of latency rules before it', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'latency', ms: 100 } });
    sb.sandbox.faults.add({ fault: { kind: 'status', status: 500 }, path: '/encounters/' });
    sb.sandbox.faults.add({ fault: { kind: 'status', status: 502 } });
    sb.sandbox.faults.add({ fault: { kind: 'status', status: 503 } });
    const { result, ms } = await timed(() => statusSequence(SEARCH, 1));
    expect(result).toEqual([502]);
    expect(ms).toBeGreaterThanOrEqual(99);
    expect(sb.sandbox.faults.injected).toEqual({ latency: 1, status: 1 });
    expect(sb.sandbox.calls).toMatchObject([{ status: 502, fault: 'status' }]);
  });

  it('never touches the OAuth routes', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'reset' } });
    const res = await postForm(sb.tokenUrl, { grant_type: 'refresh_token', client_id: SANDBOX_CLIENT_ID, refresh_token: sb.refreshToken });
    expect(res.status).toBe(200);
    expect((await fetch(sb.authorizeUrl)).status).toBeLessThan(500);
    expect(sb.sandbox.faults.injected).toEqual({});
  });

  it('records faulted requests with the status sent and the kind, normal ones without', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'rate-limit' }, times: 1 });
    expect(await statusSequence(SEARCH, 2)).toEqual([429, 200]);
    expect(sb.sandbox.calls.map(({ receivedAt: _at, credential: _c, ...call }) => call)).toEqual([
      { method: 'GET', path: '/ehr/api/search', query: { term: 'smith' }, practiceId: '1001', status: 429, fault: 'rate-limit' },
      { method: 'GET', path: '/ehr/api/search', query: { term: 'smith' }, practiceId: '1001', status: 200 },
    ]);
  });

  it('clears every rule and the counts', async () => {
    sb.sandbox.faults.add({ fault: { kind: 'status', status: 503 } });
    expect(await statusSequence(SEARCH, 1)).toEqual([503]);
    sb.sandbox.faults.clear();
    expect(sb.sandbox.faults.rules).toEqual([]);
    expect(sb.sandbox.faults.injected).toEqual({});
    expect(await statusSequence(SEARCH, 1)).toEqual([200]);
  });

  it('rejects invalid rules when they are added', () => {
    const bad = [
      { fault: { kind: 'status', status: 418 } },
      { fault: { kind: 'latency', ms: -1 } },
      { fault: { kind: 'slow-drip', chunkBytes: 0, intervalMs: 10 } },
      { fault: { kind: 'rate-limit', retryAfter: 'soon' } },
      { fault: { kind: 'reset' }, rate: 1.5 },
      { fault: { kind: 'reset' }, times: 0 },
      { fault: { kind: 'explode' } },
    ] as unknown as FaultRule[];
    for (const rule of bad) expect(() => sb.sandbox.faults.add(rule)).toThrow(/^Invalid fault rule: /);
    expect(sb.sandbox.faults.rules).toEqual([]);
  });

  it('takes per-run rules from the options', async () => {
    const running = await startSandbox({ faults: [{ fault: { kind: 'status', status: 503 }, times: 1 }] });
    try {
      const { accessToken } = running.sandbox.issueTokens();
      const headers = { authorization: `Bearer ${accessToken}`, 'x-nextech-practice-id': '1001' };
      const statuses = [];
      for (let i = 0; i < 2; i++) statuses.push((await fetch(`${running.apiBaseUrl}${SEARCH}`, { headers })).status);
      expect(statuses).toEqual([503, 200]);
    } finally {
      await running.close();
    }
  });

  it('fails the body stream of a cut response when called in-process', async () => {
    const sandbox = createSandbox({ faults: [{ fault: { kind: 'truncate' } }] });
    const headers = { authorization: `Bearer ${sandbox.issueTokens().accessToken}`, 'x-nextech-practice-id': '1001' };
    const res = await sandbox.app.request(`/ehr/api${SEARCH}`, { headers });
    await expect(res.text()).rejects.toThrow(/dropped the connection/);
  });
});

describe('parseFaultSpec', () => {
  it('parses the documented example in order', () => {
    expect(parseFaultSpec('latency=200;status=503@0.1;rate-limit=2@0.05;reset@0.01')).toEqual([
      { fault: { kind: 'latency', ms: 200 } },
      { fault: { kind: 'status', status: 503 }, rate: 0.1 },
      { fault: { kind: 'rate-limit', retryAfter: '2' }, rate: 0.05 },
      { fault: { kind: 'reset' }, rate: 0.01 },
    ]);
  });

  it('parses every kind, optional arguments, spaces and empty rules', () => {
    const spec = ' status=502:30 ; rate-limit ; truncate@1 ; malformed-json@0 ; schema-break@.5 ; slow-drip=512:50@0.25 ; ';
    expect(parseFaultSpec(spec)).toEqual([
      { fault: { kind: 'status', status: 502, retryAfter: '30' } },
      { fault: { kind: 'rate-limit' } },
      { fault: { kind: 'truncate' }, rate: 1 },
      { fault: { kind: 'malformed-json' }, rate: 0 },
      { fault: { kind: 'schema-break' }, rate: 0.5 },
      { fault: { kind: 'slow-drip', chunkBytes: 512, intervalMs: 50 }, rate: 0.25 },
    ]);
    expect(parseFaultSpec('')).toEqual([]);
  });

  it.each([
    'explode', 'latency', 'latency=fast', 'latency=-5', 'status=404', 'status=503:soon', 'status', 'rate-limit=soon',
    'reset=1', 'slow-drip=512', 'slow-drip=0:10', 'reset@1.5', 'reset@', 'reset@0.1@0.2', 'reset@abc',
  ])('rejects "%s" with an error naming the rule', (spec) => {
    expect(() => parseFaultSpec(`latency=1;${spec}`)).toThrow(`Invalid fault spec rule "${spec}"`);
  });
});

describe('npm run sandbox with SANDBOX_FAULTS', () => {
  it('injects the faults of the spec for the whole run', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sandbox/main.ts'], {
      env: { ...process.env, SANDBOX_PORT: '0', SANDBOX_FAULTS: 'status=503:5', SANDBOX_FAULTS_SEED: '7' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('curl ')) resolve();
      });
      child.on('exit', () => reject(new Error(`exited early:\n${output}`)));
    });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      expect(output).toContain('Faults         status=503:5');
      const [, auth = '', url = ''] = /-H 'Authorization: Bearer ([^']+)' -H '[^']+' '([^']+)'/.exec(output) ?? [];
      const res = await fetch(url, { headers: { authorization: `Bearer ${auth}`, 'x-nextech-practice-id': '1001' } });
      expect([res.status, res.headers.get('retry-after')]).toEqual([503, '5']);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exit).toBe(0);
  });

  it('refuses to start on a bad spec, naming the rule', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sandbox/main.ts'], {
      env: { ...process.env, SANDBOX_PORT: '0', SANDBOX_FAULTS: 'status=418' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(stderr).toContain('Invalid fault spec rule "status=418"');
  });
});
