/**
 * Passthrough callers Nextech has not accepted yet (issue 18, item 4). Tokens nobody has
 * vouched for share one slice of Nextech's rate — inventing tokens must not widen it — and in
 * that slice callers queue by where they come from, never by the token they made up: a flood
 * of invented bearers from one address is one queue, so a real token's first request from
 * another address waits at most a turn of it, and never gets a 429. Behind a load balancer the
 * address is the one a trusted proxy forwards; from anyone else X-Forwarded-For means nothing.
 * A token Nextech has accepted is remembered (a keyed hash) by every replica and across
 * restarts, through Redis, and no longer queues with the unproven.
 *
 * Clients are bound to other loopback addresses (Linux routes all of 127.0.0.0/8 to `lo`).
 * Waiting is judged against the flood's own requests, never by wall-clock times: of the flood's
 * requests already waiting when the newcomer was sent, how many reached Nextech before it and how
 * many after. Waiting a turn of the flood's queue, it passes most of them, however slowly a busy
 * machine carries it to the queue; queued behind the flood, it passes none.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Bundle } from 'fhir/r4';
import { Agent, request, type Dispatcher } from 'undici';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type RecordedCall, type RunningSandbox } from '../src/sandbox/index.ts';
import { freePort, startHaproxy, startRedis, type RealBalancer, type RealRedis } from './helpers/real-servers.ts';
import { sandboxAccessToken } from './helpers/sandbox-token.ts';
import { startTestService, type TestService } from './helpers/service.ts';
import { assertValidFhir } from './helpers/validator.ts';
import { waitFor } from './helpers/wait.ts';

/** As in the review that found it: 70 clients, each with a bearer of its own invention. */
const INVENTED = 70;
/** A flooding client stops after this many requests, if it was not stopped before. */
const PER_CLIENT = 60;

const FLOOD_ADDRESS = '127.0.0.2';
const agents: Agent[] = [];
/** An HTTP client whose connections leave from `address`. */
function from(address: string): Agent {
  const agent = new Agent({ localAddress: address });
  agents.push(agent);
  return agent;
}
afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What the sandbox logs of a request's credential (call-log.ts): never the token itself. */
const credentialOf = (token: string) => createHash('sha256').update(`Bearer ${token}`).digest('hex').slice(0, 12);
/** `http://127.0.0.1:PORT`: an IPv4 origin, so clients bound to 127.0.0.x can reach it. */
const ipv4 = (origin: string) => `http://127.0.0.1:${new URL(origin).port}`;

interface Flood {
  /** Requests of the flood answered 429 so far. */
  refused(): number;
  /** When each flood request was sent and answered (Infinity until it is), by its search term. */
  requests: ReadonlyMap<string, { sent: number; answered: number }>;
  /** Some of the tokens the flood made up. */
  tokens: string[];
  /** Stops every client after its current request; resolves with every status the flood got. */
  stop(): Promise<number[]>;
}

/**
 * INVENTED clients, each with its own made-up bearer, sending searches one after another
 * through `dispatcher` (a 429 makes one wait 100 ms: many times Nextech's rate all the same),
 * or client `i` through `dispatcher(i)`. `headers(i)` adds what client `i` writes besides.
 */
function flood(fhir: string, dispatchers: Dispatcher | ((i: number) => Dispatcher), headers: (i: number) => Record<string, string> = () => ({})): Flood {
  let stopped = false;
  const statuses: number[] = [];
  const requests = new Map<string, { sent: number; answered: number }>();
  const tokens = Array.from({ length: INVENTED }, (_, i) => `invented-${i}-${randomBytes(12).toString('hex')}`);
  const client = async (i: number) => {
    const dispatcher = typeof dispatchers === 'function' ? dispatchers(i) : dispatchers;
    const token = tokens[i] ?? '';
    for (let n = 0; n < PER_CLIENT && !stopped; n++) {
      const times = { sent: Date.now(), answered: Infinity };
      requests.set(`fl${i}x${n}`, times);
      const res = await request(`${fhir}/Patient?family=fl${i}x${n}`, { dispatcher, headers: { authorization: `Bearer ${token}`, ...headers(i) } });
      times.answered = Date.now();
      await res.body.dump();
      statuses.push(res.statusCode);
      if (res.statusCode === 429) await sleep(100);
    }
  };
  const clients = Promise.all(Array.from({ length: INVENTED }, (_, i) => client(i)));
  return {
    refused: () => statuses.filter((s) => s === 429).length,
    requests,
    tokens,
    stop: async () => {
      stopped = true;
      await clients;
      return statuses;
    },
  };
}

/** Resolves once the flood fills its queue: its excess is being refused and Nextech is being called. */
async function floodUnderWay(f: Flood, upstream: RunningSandbox, since: number): Promise<void> {
  await waitFor(() => f.refused() >= INVENTED && upstream.sandbox.calls.filter((c) => c.receivedAt >= since).length >= 5, 20_000);
}

let searches = 0;
/** A real token's search: its status, when it was sent, and its upstream call (none when refused). */
interface Search {
  status: number;
  sent: number;
  call?: RecordedCall;
}

/**
 * A real token's search (a term of its own each time, so no answer cached by a replica stands
 * in for the upstream call).
 */
async function search(fhir: string, token: string, upstream: RunningSandbox, dispatcher?: Dispatcher): Promise<Search> {
  const sent = Date.now();
  const res = await request(`${fhir}/Patient?family=smith${++searches}`, { headers: { authorization: `Bearer ${token}` }, ...(dispatcher ? { dispatcher } : {}) });
  expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
  const body = (await res.body.json()) as Bundle;
  assertValidFhir(body);
  if (res.statusCode !== 200) return { status: res.statusCode, sent };
  const mine = upstream.sandbox.calls.filter((c) => c.receivedAt >= sent && c.credential === credentialOf(token));
  expect(mine).toHaveLength(1);
  return { status: res.statusCode, sent, ...(mine[0] ? { call: mine[0] } : {}) };
}

/**
 * Where a search's upstream call stands among the flood's requests still waiting for their
 * answer when it was sent: `ahead` reached Nextech before it (ties counted against it); `passed`
 * did not — they reached Nextech after it, or were refused at their deadline.
 */
function standing(s: Search, f: Flood, calls: readonly RecordedCall[]): { ahead: number; passed: number } {
  const call = s.call;
  if (!call) throw new Error('the search made no upstream call');
  const waiting = new Set([...f.requests].filter(([, r]) => r.sent < s.sent && r.answered > s.sent).map(([term]) => term));
  const ahead = calls.filter((c) => c !== call && c.receivedAt >= s.sent && c.receivedAt <= call.receivedAt && waiting.has(c.query.term ?? '')).length;
  return { ahead, passed: waiting.size - ahead };
}

/**
 * Served within a turn of the flood's queue: ahead of most of the flood's requests that were
 * already waiting when it was sent. (Queued behind the flood, it would pass none of them.)
 */
function expectServedInTurn(s: Search, f: Flood, calls: readonly RecordedCall[]): void {
  expect(s.status).toBe(200);
  const { ahead, passed } = standing(s, f, calls);
  expect(passed, `ahead of it: ${ahead} of the flood's requests waiting when it was sent; behind it: ${passed}`).toBeGreaterThan(ahead);
}

/** What the flood got: 401 from Nextech for each invented token that reached it, else our own 429 — never a 5xx. */
function checkFlood(statuses: number[], calls: RecordedCall[]): void {
  expect(new Set(statuses)).toEqual(new Set([401, 429]));
  // Invented tokens did not widen the budget: most of the flood was refused without asking Nextech.
  expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(statuses.length / 2);
  const floodCalls = calls.filter((c) => /^fl\d+x\d+$/.test(c.query.term ?? ''));
  expect(floodCalls.length).toBe(statuses.filter((s) => s === 401).length);
  expect(floodCalls.every((c) => c.status === 401)).toBe(true);
}

/**
 * Runs `work` once the flood `f` (started at `since`) is under way, then stops the flood (also
 * when `work` fails) and checks what it got. Once it resolves, every flood request that reached
 * Nextech is in the sandbox's log.
 */
async function during<T>(f: Flood, since: number, upstream: RunningSandbox, work: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    await floodUnderWay(f, upstream, since);
    result = await work();
  } finally {
    const statuses = await f.stop();
    checkFlood(statuses, upstream.sandbox.calls.filter((c) => c.receivedAt >= since));
  }
  return result;
}

describe('passthrough callers Nextech has not accepted yet', () => {
  let upstream: RunningSandbox;
  let svc: TestService;
  beforeAll(async () => {
    upstream = await startSandbox({ port: 0, rateLimitPerSecond: 20 });
    svc = await startTestService({ NEXTECH_BASE_URL: upstream.apiBaseUrl, NEXTECH_AUTH: 'passthrough', NEXTECH_PRACTICE_ID: '1001' });
  });
  afterAll(async () => {
    await svc.close();
    await upstream.close();
  });

  it('serves a fresh valid token’s first request from another address within a round of turns while 70 invented bearers flood from one address', async () => {
    const token = await sandboxAccessToken(upstream);
    const fhir = `${ipv4(svc.origin)}/fhir`;
    const since = Date.now();
    // From 127.0.0.1: a queue of its own beside the flood's one, whatever number of tokens it made up.
    const f = flood(fhir, from(FLOOD_ADDRESS));
    const first = await during(f, since, upstream, () => search(fhir, token, upstream));
    expectServedInTurn(first, f, upstream.sandbox.calls);
  }, 60_000);

  it('serves it within a round of turns too when the 70 invented bearers flood from 70 addresses: refused sources queue as one', async () => {
    const token = await sandboxAccessToken(upstream);
    const fhir = `${ipv4(svc.origin)}/fhir`;
    const since = Date.now();
    // 127.0.0.10 … 127.0.0.79: more sources than the unproven share has lanes for (64). Once
    // Nextech has refused each source's made-up token (the first ~4 s of the flood, one call every
    // 55 ms), they queue as one; the newcomer arrives in that steady state.
    const f = flood(fhir, (i) => from(`127.0.0.${10 + i}`));
    const refusedClients = () => new Set(upstream.sandbox.calls.filter((c) => c.receivedAt >= since && c.status === 401).map((c) => /^fl(\d+)x/.exec(c.query.term ?? '')?.[1])).size;
    const first = await during(f, since, upstream, async () => {
      await waitFor(() => refusedClients() >= INVENTED, 30_000);
      return search(fhir, token, upstream);
    });
    expectServedInTurn(first, f, upstream.sandbox.calls);
  }, 60_000);

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy: a flood writing 70 addresses is still one queue', async () => {
    const token = await sandboxAccessToken(upstream);
    const fhir = `${ipv4(svc.origin)}/fhir`;
    const since = Date.now();
    // Each client claims an address of its own, one of them the newcomer's: none is believed.
    const f = flood(fhir, from(FLOOD_ADDRESS), (i) => ({ 'x-forwarded-for': i === 0 ? '127.0.0.1' : `198.18.${i}.${i}` }));
    const first = await during(f, since, upstream, () => search(fhir, token, upstream));
    expectServedInTurn(first, f, upstream.sandbox.calls);
  }, 60_000);
});

describe('behind a trusted proxy (HAProxy with option forwardfor; TRUSTED_PROXIES names it)', () => {
  let upstream: RunningSandbox;
  let svc: TestService;
  let lb: RealBalancer;
  beforeAll(async () => {
    upstream = await startSandbox({ port: 0, rateLimitPerSecond: 20 });
    // HAProxy reaches the service from 127.0.0.1; clients reach HAProxy from other addresses.
    svc = await startTestService({ NEXTECH_BASE_URL: upstream.apiBaseUrl, NEXTECH_AUTH: 'passthrough', NEXTECH_PRACTICE_ID: '1001', TRUSTED_PROXIES: '127.0.0.1' });
    lb = await startHaproxy(await freePort(), [ipv4(svc.origin)], { forwardFor: true });
  });
  afterAll(async () => {
    await lb?.close();
    await svc?.close();
    await upstream?.close();
  });

  it('queues by the client address the proxy forwards, not by addresses clients wrote themselves', async () => {
    const token = await sandboxAccessToken(upstream);
    const fhir = `${lb.origin}/fhir`;
    const since = Date.now();
    // Every request reaches the service from HAProxy (127.0.0.1); only the header tells them apart.
    // The flood's own entries come before the one HAProxy appends, and are not believed.
    const f = flood(fhir, from(FLOOD_ADDRESS), (i) => ({ 'x-forwarded-for': `198.18.${i}.${i}, 10.${i}.0.1` }));
    const first = await during(f, since, upstream, () => search(fhir, token, upstream, from('127.0.0.3')));
    expectServedInTurn(first, f, upstream.sandbox.calls);
  }, 60_000);
});

describe('two replicas sharing a real redis-server', () => {
  let upstream: RunningSandbox;
  let redis: RealRedis;
  let monitor: Redis | undefined;
  /** Every command Redis ran (MONITOR: scripts' own commands included), keys and values as sent. */
  const commands: string[] = [];
  let env: Record<string, string>;
  const running: TestService[] = [];
  const replica = async () => {
    const s = await startTestService(env);
    running.push(s);
    return s;
  };
  beforeAll(async () => {
    upstream = await startSandbox({ port: 0, rateLimitPerSecond: 20 });
    redis = await startRedis();
    // Watched from the start: a key that lives a second (a rate ledger) is seen all the same.
    monitor = await new Redis(redis.url).monitor();
    monitor.on('monitor', (_time: string, args: string[]) => commands.push(args.join(' ')));
    env = {
      NEXTECH_BASE_URL: upstream.apiBaseUrl,
      NEXTECH_AUTH: 'passthrough',
      NEXTECH_PRACTICE_ID: '1001',
      REDIS_URL: redis.url,
      SHARED_STATE_KEY: randomBytes(32).toString('base64url'),
      REPLICAS: '2',
    };
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    monitor?.disconnect();
    await redis?.close();
    await upstream?.close();
  });

  /**
   * At `svc`, while invented bearers flood from FLOOD_ADDRESS, the search of `token` from the
   * same address. Unproven, it would join the flood's full queue (429, or behind all of it).
   */
  async function amidFloodFromItsAddress(svc: TestService, token: string): Promise<{ s: Search; f: Flood }> {
    const fhir = `${ipv4(svc.origin)}/fhir`;
    const since = Date.now();
    const f = flood(fhir, from(FLOOD_ADDRESS));
    return { s: await during(f, since, upstream, () => search(fhir, token, upstream, from(FLOOD_ADDRESS))), f };
  }

  /** What a token looks like unkeyed: itself, its SHA-256 (hex, base64url) and the 22-character prefix a fingerprint keeps. */
  const plainForms = (token: string) => {
    const b64 = createHash('sha256').update(token).digest('base64url');
    return [token, b64, b64.slice(0, 22), createHash('sha256').update(token).digest('hex')];
  };

  it('remembers a token Nextech accepted at replica A at replica B and after A restarts, as a keyed hash', async () => {
    const a = await replica();
    const b = await replica();
    const token = await sandboxAccessToken(upstream);
    expect((await search(`${ipv4(a.origin)}/fhir`, token, upstream)).status).toBe(200);

    // Proven at A, so at B it does not queue with the unproven: no 429, ahead of the flood's queue.
    const atB = await amidFloodFromItsAddress(b, token);
    expectServedInTurn(atB.s, atB.f, upstream.sandbox.calls);

    // The same situation for a token no replica has seen accepted: it waits with the flood.
    const fresh = await sandboxAccessToken(upstream);
    const unproven = await amidFloodFromItsAddress(b, fresh);
    if (unproven.s.status !== 429) {
      const { ahead, passed } = standing(unproven.s, unproven.f, upstream.sandbox.calls);
      expect(passed, `ahead of it: ${ahead}; behind it: ${passed}`).toBeLessThan(ahead);
    }

    // A restarts (a new process state, the same Redis): the token is still proven there.
    await a.close();
    running.splice(running.indexOf(a), 1);
    const a2 = await replica();
    const afterRestart = await amidFloodFromItsAddress(a2, token);
    expectServedInTurn(afterRestart.s, afterRestart.f, upstream.sandbox.calls);

    // Redis holds keyed hashes with an expiry, never the token or a plain hash of it.
    const r = new Redis(redis.url);
    try {
      const keys = await r.keys('nextech-fhir:proven:*');
      expect(keys.length).toBeGreaterThanOrEqual(1);
      for (const k of keys) {
        const ttl = await r.pttl(k);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(3_600_000);
      }
    } finally {
      r.disconnect();
    }
    // Nor was either ever sent to it, in a key or a value — rate ledgers included, though each
    // lives a second: every command Redis ran was watched.
    const sent = commands.join('\n');
    for (const t of [token, fresh, ...atB.f.tokens.slice(0, 5)]) for (const secret of plainForms(t)) expect(sent.includes(secret)).toBe(false);
    // Each token's own rate ledger is named by a keyed hash (43 characters), the shared ones by name.
    const ledgers = new Set(sent.match(/nextech-fhir:budget:\S+/g));
    expect([...ledgers].filter((k) => /^nextech-fhir:budget:[A-Za-z0-9_-]{43}:[a-z-]+$/.test(k)).length).toBeGreaterThan(1);
    for (const k of ledgers) expect(k).toMatch(/^nextech-fhir:budget:(unproven|managed|[A-Za-z0-9_-]{43}):[a-z-]+$/);
  }, 120_000);
});
