// The two users of the document memory budget, with small made-up sizes: reading an upstream
// body (src/nextech/http.ts getJson) reserves its bytes until it is parsed, waits a bounded
// time for room and fails as `memory` (503) or `too large`; the encounter store
// (src/resources/encounter-store.ts) counts the CCD text it keeps, gives it back least
// recently used first when a body needs room, and cancels a call nobody waits for any more.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toFhirError, UpstreamError } from '../../src/source/errors.ts';
import type { CallContext, RequestRoom } from '../../src/source/call.ts';
import { getJson } from '../../src/source/nextech/http.ts';
import { MemoryBudget } from '../../src/source/memory-budget.ts';
import type { EncounterQuery, NextechClient } from '../../src/source/nextech/client.ts';
import type { EhrEncounter } from '../../src/source/nextech/schemas.ts';
import { EncounterStore } from '../../src/source/nextech/encounter-store.ts';

/** A JSON array body of about `bytes` bytes. */
const jsonOf = (bytes: number): Buffer => Buffer.from(JSON.stringify(['x'.repeat(Math.max(0, bytes - 6))]));

/** What the test server sends for a path: a body announced or chunked, in pieces, maybe cut short. */
type Plan = { body: Buffer; announce: boolean; pieces: number; gapMs: number; cut?: boolean };
const plans = new Map<string, Plan>();
/** Lets the test look at the budget while a body is half-sent (called once the first piece is out). */
const halfway = new Map<string, () => void>();

async function send(res: ServerResponse, plan: Plan, path: string): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/json', ...(plan.announce ? { 'content-length': plan.body.length } : {}) });
  const size = Math.ceil(plan.body.length / plan.pieces);
  for (let i = 0; i < plan.pieces; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, plan.gapMs));
    if (res.destroyed) return;
    if (plan.cut && i === Math.floor(plan.pieces / 2)) return void res.destroy();
    await new Promise<void>((r) => res.write(plan.body.subarray(i * size, (i + 1) * size), () => r()));
    if (i === 0) halfway.get(path)?.();
  }
  res.end();
}

let server: Server;
let origin: string;
const dispatcher = new Agent();
beforeAll(async () => {
  server = createServer((req, res) => {
    const plan = plans.get(req.url ?? '');
    if (!plan) return void res.writeHead(404).end();
    void send(res, plan, req.url ?? '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await dispatcher.close();
});

function get(path: string, memory: MemoryBudget, signal: AbortSignal = new AbortController().signal, room?: RequestRoom & { keep: boolean }) {
  return getJson({ url: new URL(path, origin), headers: {}, dispatcher, signal, timedOut: () => false, endpoint: 'test', memory, ...(room ? { room } : {}) });
}

async function upstreamFailure(p: Promise<unknown>): Promise<UpstreamError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof UpstreamError) return err;
    throw err;
  }
  throw new Error('expected an UpstreamError');
}

describe('reading an upstream body under the memory budget', () => {
  it('reserves an announced body whole before reading it and gives it back once parsed', async () => {
    const body = jsonOf(4_000);
    plans.set('/announced', { body, announce: true, pieces: 4, gapMs: 40 });
    const budget = new MemoryBudget({ maxBytes: 10_000 });
    let seen = -1;
    halfway.set('/announced', () => setTimeout(() => (seen = budget.inFlight), 15));
    const res = await get('/announced', budget);
    expect((res.body as string[])[0]).toHaveLength(3_994);
    expect(seen).toBe(body.length);
    expect([budget.inFlight, budget.highWater, budget.stats.reservations]).toEqual([0, body.length, 1]);
  });

  it('reserves a body of unannounced length as its chunks arrive', async () => {
    const body = jsonOf(4_000);
    plans.set('/chunked', { body, announce: false, pieces: 4, gapMs: 40 });
    const budget = new MemoryBudget({ maxBytes: 10_000 });
    let seen = -1;
    halfway.set('/chunked', () => setTimeout(() => (seen = budget.inFlight), 15));
    await get('/chunked', budget);
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(body.length);
    expect([budget.inFlight, budget.highWater]).toEqual([0, body.length]);
  });

  it('refuses a body larger than the whole budget as too large, announced or not, without waiting', async () => {
    plans.set('/huge-announced', { body: jsonOf(2_000), announce: true, pieces: 1, gapMs: 0 });
    plans.set('/huge-chunked', { body: jsonOf(2_000), announce: false, pieces: 4, gapMs: 5 });
    const budget = new MemoryBudget({ maxBytes: 1_000 });
    for (const path of ['/huge-announced', '/huge-chunked']) {
      const err = await upstreamFailure(get(path, budget));
      expect(err.failure).toEqual({ kind: 'bad-response', detail: 'body too large' });
    }
    expect([budget.used, budget.stats.waits]).toEqual([0, 0]);
  });

  it('fails as `memory` — 503, transient, Retry-After — when no room comes within the wait', async () => {
    plans.set('/waits', { body: jsonOf(500), announce: true, pieces: 1, gapMs: 0 });
    const budget = new MemoryBudget({ maxBytes: 1_000, maxWaitMs: 50 });
    const holder = budget.reserve();
    await holder.grow(900);
    const err = await upstreamFailure(get('/waits', budget));
    expect(err.failure).toEqual({ kind: 'memory', retryAfterSeconds: 2 });
    const fhir = toFhirError(err);
    expect(fhir.status).toBe(503);
    expect(fhir.headers).toEqual({ 'Retry-After': '2' });
    expect(fhir.outcome.issue[0]).toMatchObject({ code: 'transient', diagnostics: 'The service is at its memory limit for documents; retry shortly' });
    expect([budget.inFlight, budget.stats.refused]).toEqual([900, 1]);
    holder.release();
  });

  it('holds nothing once its caller leaves while it waits, or once the body breaks off', async () => {
    plans.set('/leaves', { body: jsonOf(500), announce: true, pieces: 1, gapMs: 0 });
    plans.set('/cut', { body: jsonOf(4_000), announce: true, pieces: 4, gapMs: 10, cut: true });
    const budget = new MemoryBudget({ maxBytes: 1_000 });
    const holder = budget.reserve();
    await holder.grow(900);
    const client = new AbortController();
    const leaving = get('/leaves', budget, client.signal);
    await new Promise((r) => setTimeout(r, 20));
    expect(budget.waiting).toBe(1);
    client.abort(new Error('client left'));
    await expect(leaving).rejects.toThrow('client left');
    holder.release();
    const roomy = new MemoryBudget({ maxBytes: 10_000 });
    expect((await upstreamFailure(get('/cut', roomy))).failure.kind).toBe('connection');
    expect([budget.used, budget.waiting, roomy.used]).toEqual([0, 0, 0]);
  });
});

describe('reading a body for a request that holds room', () => {
  it('takes `perByte` bytes per body byte and keeps them after the parse, until the request releases its room', async () => {
    const body = jsonOf(1_000);
    plans.set('/for-request', { body, announce: true, pieces: 2, gapMs: 5 });
    plans.set('/for-request-chunked', { body, announce: false, pieces: 4, gapMs: 5 });
    const budget = new MemoryBudget({ maxBytes: 100_000 });
    const reservation = budget.reserve();
    await get('/for-request', budget, undefined, { reservation, perByte: 7, keep: true });
    expect([reservation.bytes, budget.inFlight]).toEqual([7 * body.length, 7 * body.length]);
    // A second body for the same request adds to the same room, chunk by chunk when unannounced.
    await get('/for-request-chunked', budget, undefined, { reservation, perByte: 3, keep: true });
    expect(reservation.bytes).toBe(10 * body.length);
    // A body it does not keep (a patient search) counts in the same room until parsed.
    let seen = -1;
    halfway.set('/for-request', () => setTimeout(() => (seen = reservation.bytes), 2));
    await get('/for-request', budget, undefined, { reservation, perByte: 1, keep: false });
    expect([seen, reservation.bytes]).toEqual([11 * body.length, 10 * body.length]);
    expect(budget.stats.reservations).toBe(1);
    reservation.release();
    expect(budget.used).toBe(0);
  });

  it('takes past the body itself only up to three quarters of the budget, so a body that fits is never refused for its factor and the request keeps room for its small reads', async () => {
    const body = jsonOf(1_000);
    plans.set('/capped', { body, announce: true, pieces: 1, gapMs: 0 });
    const budget = new MemoryBudget({ maxBytes: 3_000 });
    const reservation = budget.reserve();
    await reservation.grow(500);
    await get('/capped', budget, undefined, { reservation, perByte: 7, keep: true });
    expect(reservation.bytes).toBe(2_250);
    // The body itself may take the whole budget.
    const alone = budget.reserve();
    reservation.release();
    plans.set('/whole', { body: jsonOf(2_900), announce: true, pieces: 1, gapMs: 0 });
    await get('/whole', budget, undefined, { reservation: alone, perByte: 7, keep: true });
    expect(alone.bytes).toBe(jsonOf(2_900).length);
    alone.release();
  });

  it('goes on counting on its own when the request it was read for is done mid-read (others still want the body)', async () => {
    const body = jsonOf(4_000);
    plans.set('/orphaned', { body, announce: false, pieces: 4, gapMs: 60 });
    const budget = new MemoryBudget({ maxBytes: 100_000 });
    const reservation = budget.reserve();
    let heldBefore = -1;
    // Between the first piece and the second: the read has begun in the request's room.
    halfway.set('/orphaned', () =>
      setTimeout(() => {
        heldBefore = reservation.bytes;
        reservation.release();
      }, 30),
    );
    const res = await get('/orphaned', budget, undefined, { reservation, perByte: 7, keep: true });
    expect((res.body as string[])[0]).toHaveLength(3_994);
    expect(heldBefore).toBeGreaterThan(0);
    expect([budget.used, budget.stats.reservations]).toEqual([0, 2]);
  });

  it('gives back what a failed read took, keeping what the request held before; a released room makes the read count on its own', async () => {
    plans.set('/broken', { body: Buffer.from('{"not json'), announce: true, pieces: 1, gapMs: 0 });
    plans.set('/after', { body: jsonOf(1_000), announce: true, pieces: 1, gapMs: 0 });
    const budget = new MemoryBudget({ maxBytes: 100_000 });
    const reservation = budget.reserve();
    await reservation.grow(100);
    expect((await upstreamFailure(get('/broken', budget, undefined, { reservation, perByte: 7, keep: true }))).failure.kind).toBe('bad-response');
    expect(reservation.bytes).toBe(100);
    reservation.release();
    await get('/after', budget, undefined, { reservation, perByte: 7, keep: true });
    expect([budget.used, budget.highWater, budget.stats.reservations]).toEqual([0, jsonOf(1_000).length, 2]);
  });
});

/** A NextechClient stand-in whose encounter search answers `rows` after `delayMs` and records each call's signal. */
function fakeNextech(rows: (query: EncounterQuery) => EhrEncounter[], delayMs = 0) {
  const signals: AbortSignal[] = [];
  const client = {
    searchEncounters(ctx: CallContext, _patientId: number, query: EncounterQuery): Promise<EhrEncounter[]> {
      if (ctx.signal) signals.push(ctx.signal);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => resolve(rows(query)), delayMs);
        ctx.signal?.addEventListener('abort', () => (clearTimeout(t), reject(ctx.signal?.reason as Error)), { once: true });
      });
    },
  };
  // Only searchEncounters is used by the store.
  return { client: client as unknown as NextechClient, signals };
}

/** One encounter whose CCD has `chars` characters (the store counts two bytes each). */
const listing = (chars: number): EhrEncounter[] => [{ ccd: 'c'.repeat(chars) } as EhrEncounter];
const call: CallContext = { practiceId: '1001', credential: { kind: 'managed' }, callerKey: 'anonymous' };
const window = (start: string): EncounterQuery => ({ start, end: '2030-01-01' });

describe('the encounter store under the memory budget', () => {
  it('counts the CCD text it keeps and gives the least recently used back when a body needs room', async () => {
    const budget = new MemoryBudget({ maxBytes: 1_000 });
    const { client } = fakeNextech(() => listing(100));
    const store = new EncounterStore(client, { ttlMs: 60_000, maxBytes: 1_000, memory: budget });
    for (const start of ['2020', '2021', '2022', '2023']) await store.get(call, 'anonymous', 1, window(start));
    expect([budget.held, store.bytes]).toEqual([800, 800]);
    // Used again: now the most recent.
    await store.get(call, 'anonymous', 1, window('2020'));
    await budget.reserve().grow(500);
    // 300 short: the two least recently used (2021, 2022) went, 2023 and 2020 stayed.
    expect([budget.held, budget.inFlight]).toEqual([400, 500]);
    const fetches = store.stats.fetches;
    await store.get(call, 'anonymous', 1, window('2020'));
    await store.get(call, 'anonymous', 1, window('2023'));
    expect(store.stats.fetches).toBe(fetches);
    await store.get(call, 'anonymous', 1, window('2021'));
    expect(store.stats.fetches).toBe(fetches + 1);
    expect(budget.highWater).toBeLessThanOrEqual(1_000);
  });

  it('answers but keeps nothing when bodies being read leave no room for the listing', async () => {
    const budget = new MemoryBudget({ maxBytes: 1_000 });
    const { client } = fakeNextech(() => listing(300));
    const store = new EncounterStore(client, { ttlMs: 60_000, maxBytes: 1_000, memory: budget });
    await budget.reserve().grow(700);
    expect((await store.get(call, 'anonymous', 1, window('2020'))).rows).toHaveLength(1);
    await store.get(call, 'anonymous', 1, window('2020'));
    expect([store.stats.fetches, budget.held, store.bytes]).toEqual([2, 0, 0]);
  });

  it('says whether a listing was read for the call itself, or reused from the cache or another call in flight', async () => {
    const { client } = fakeNextech(() => listing(10), 50);
    const store = new EncounterStore(client, { ttlMs: 60_000, maxBytes: 1_000 });
    const [first, joined] = await Promise.all([store.get(call, 'anonymous', 1, window('2020')), store.get(call, 'anonymous', 1, window('2020'))]);
    const cached = await store.get(call, 'anonymous', 1, window('2020'));
    expect([first.read, joined.read, cached.read]).toEqual([true, false, false]);
    expect(joined.rows).toBe(first.rows);
    expect(store.stats.fetches).toBe(1);
  });

  it('keeps within its own share of the budget', async () => {
    const budget = new MemoryBudget({ maxBytes: 10_000 });
    const { client } = fakeNextech(() => listing(100));
    const store = new EncounterStore(client, { ttlMs: 60_000, maxBytes: 500, memory: budget });
    for (const start of ['2020', '2021', '2022']) await store.get(call, 'anonymous', 1, window(start));
    expect([store.bytes, budget.held]).toEqual([400, 400]);
  });

  it('cancels a call in flight once every request waiting on it has left, and not before', async () => {
    const budget = new MemoryBudget({ maxBytes: 1_000 });
    const { client, signals } = fakeNextech(() => listing(10), 1_000);
    const store = new EncounterStore(client, { ttlMs: 60_000, maxBytes: 1_000, memory: budget });
    const a = new AbortController();
    const b = new AbortController();
    const first = store.get({ ...call, signal: a.signal }, 'anonymous', 1, window('2020'));
    const second = store.get({ ...call, signal: b.signal }, 'anonymous', 1, window('2020'));
    expect([store.stats.fetches, store.stats.reused, signals.length]).toEqual([1, 1, 1]);
    a.abort(new Error('a left'));
    await expect(first).rejects.toThrow('a left');
    expect(signals[0]?.aborted).toBe(false);
    b.abort(new Error('b left'));
    await expect(second).rejects.toThrow('b left');
    expect(signals[0]?.aborted).toBe(true);
    expect(budget.used).toBe(0);
  });
});
