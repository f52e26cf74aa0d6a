/**
 * Issue 18, item 8 (shared answers): what Redis holds of one caller's shared answers — sealed
 * encounter listings with their CCDs, patient searches — is bounded across replicas
 * (SHARED_ANSWERS_MB_PER_CALLER), and so is what it holds of all answers (SHARED_ANSWERS_MB).
 * Before, 64 DocumentReference searches over distinct date ranges for the patient with a 1 MB CCD
 * put 99 MB of sealed listings into Redis in 6.4 s: one credential could fill a `noeviction`
 * Redis and push every replica into degraded mode. Here two production replicas share a real
 * redis-server, the bounds are set low (4 and 8 MB), and Redis's own accounting (MEMORY USAGE
 * of every key, INFO's used_memory) shows they hold; every search is still answered in full.
 */
import type { Bundle } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceProcess } from '../src/dev/soak/service-process.ts';
import { edgeCases } from '../src/sandbox/index.ts';
import { patientFhirId, sandboxPatient } from './helpers/encounters.ts';
import { startReplicas, tokenForm, type Replicas } from './helpers/replicas.ts';

const MB = 1024 * 1024;
const PER_CALLER_MB = 4;
const TOTAL_MB = 8;
/** Redis's allocator rounds a large string up to its size class (jemalloc: at most a quarter more). */
const ALLOCATOR_SLACK = 1.25;
const PREFIX = 'nextech-fhir:';

let d: Replicas;
let patient: string;
beforeAll(async () => {
  d = await startReplicas({ SHARED_ANSWERS_MB_PER_CALLER: String(PER_CALLER_MB), SHARED_ANSWERS_MB: String(TOTAL_MB) });
  const [large] = edgeCases('large-ccd', '1001');
  patient = await patientFhirId(`${d.a.origin}/fhir`, sandboxPatient(d.upstream.sandbox, '1001', large?.patientId ?? 0));
}, 60_000);
afterAll(() => d?.close());

/** Bytes Redis holds for the keys matching `pattern` (MEMORY USAGE: value, key and allocator overhead), and how many. */
async function held(pattern: string): Promise<{ bytes: number; keys: number }> {
  const r = d.redisClient();
  const keys = await r.keys(`${PREFIX}${pattern}`);
  const sizes = await Promise.all(keys.map(async (k) => Number((await r.memory('USAGE', k, 'SAMPLES', '0')) ?? 0)));
  return { bytes: sizes.reduce((a, b) => a + b, 0), keys: keys.length };
}

/** Redis's whole memory in use (INFO memory). */
async function usedMemory(): Promise<number> {
  const info = await d.redisClient().info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? NaN);
}

/** A DocumentReference search of the large-CCD patient over the range ending `day`, as `token`'s caller (anonymous without). */
async function search(r: ServiceProcess, day: number, token?: string): Promise<{ status: number; ids: string[] }> {
  const url = `${r.origin}/fhir/DocumentReference?patient=${patient}&date=le2040-01-${String(day).padStart(2, '0')}&_count=50`;
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const body = (await res.json()) as Bundle;
  return { status: res.status, ids: (body.entry ?? []).map((e) => e.resource?.id ?? '') };
}

/** Waits until the replicas' fire-and-forget writes have settled (two equal readings). */
async function settled(): Promise<void> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = (await held('answer:*')).keys;
    if (now === last) return;
    last = now;
  }
}

const backendToken = async (clientId: 'hie' | 'other-hie') =>
  ((await (await d.backendToken(d.a, tokenForm(await d.assertion(clientId), 'system/DocumentReference.rs'))).json()) as { access_token: string }).access_token;

describe('shared answers in Redis, per caller and in all', () => {
  it('keeps one caller\'s sealed listings within its bound across both replicas, answering every search in full, while another caller still shares', async () => {
    const before = await usedMemory();
    const answers = [];
    // One caller (anonymous), distinct ranges (each a listing with the 1 MB CCD), at both replicas.
    for (let day = 1; day <= 20; day++) answers.push(await search(day % 2 ? d.a : d.b, day));
    expect(answers.every((x) => x.status === 200)).toBe(true);
    expect(new Set(answers.map((x) => JSON.stringify(x.ids))).size).toBe(1);
    expect(answers[0]?.ids.length).toBeGreaterThan(1);
    await settled();
    const mine = await held('answer:*');
    // Shared up to the bound, not turned off: at least one listing is there.
    expect(mine.keys).toBeGreaterThanOrEqual(1);
    expect(mine.bytes).toBeLessThanOrEqual(PER_CALLER_MB * MB * ALLOCATOR_SLACK);
    // The ledgers that count them are small.
    expect((await held('answer-quota:*')).bytes).toBeLessThan(64 * 1024);
    // Redis as a whole grew by about that much, not by twenty listings (~30 MB before).
    expect((await usedMemory()) - before).toBeLessThanOrEqual(PER_CALLER_MB * MB * ALLOCATOR_SLACK + 2 * MB);

    // Another caller's answers are still shared: its own bound, within the total.
    const hie = await backendToken('hie');
    expect((await search(d.b, 21, hie)).status).toBe(200);
    await settled();
    expect((await held('answer:*')).keys).toBeGreaterThan(mine.keys);
  }, 120_000);

  it('keeps all answers within the total bound when several callers fill theirs', async () => {
    const other = await backendToken('other-hie');
    const hie = await backendToken('hie');
    for (let day = 1; day <= 8; day++) {
      expect((await search(day % 2 ? d.a : d.b, day, other)).status).toBe(200);
      expect((await search(day % 2 ? d.b : d.a, day + 8, hie)).status).toBe(200);
    }
    await settled();
    expect((await held('answer:*')).bytes).toBeLessThanOrEqual(TOTAL_MB * MB * ALLOCATOR_SLACK);
  }, 120_000);
});
