/**
 * Nothing keyed by what an attacker sends grows without bound: 50,000 requests with random
 * practice ids, random bearers (made-up, and shaped like ours), random resource ids and a
 * few random searches leave the heap, after garbage collection, within a stated bound.
 */
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { startTestService } from './helpers/service.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Retained heap growth allowed for 50,000 hostile requests. */
const BOUND_MB = 16;
const TOTAL = 50_000;
const CONCURRENCY = 32;

const random = (bytes: number) => randomBytes(bytes).toString('base64url');
/** Reads by made-up id, per-practice codecs included (the directory types open ids with no upstream call). */
const DIRECTORY = ['Patient', 'Practitioner', 'Location', 'Organization'];

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

describe('state keyed by request input', () => {
  it(`stays within ${BOUND_MB} MB of retained heap after ${TOTAL} requests with random practices, bearers and ids`, async () => {
    const svc = await startTestService({ LOG_LEVEL: 'silent' });
    const port = new URL(svc.origin).port;
    const base = `http://127.0.0.1:${port}`;
    const request = (i: number): Promise<number> => {
      const practice = random(24).replace(/[_]/g, '-').slice(0, 48);
      const kind = i % 10;
      const [path, headers]: [string, Record<string, string>] =
        kind < 4
          ? [`/practices/${practice}/fhir/Patient?family=x`, { authorization: `Bearer ${random(32)}` }]
          : kind < 7
            ? [`/fhir/Encounter/${random(30)}`, { authorization: `Bearer v1.${random(60)}`, 'x-nextech-practice-id': practice }]
            : kind < 9
              ? [`/fhir/${DIRECTORY[i % DIRECTORY.length] ?? 'Patient'}/${random(30)}`, { 'x-nextech-practice-id': practice }]
              : [`/fhir/Binary/${random(30)}`, { 'x-nextech-practice-id': practice }];
      // One in a hundred goes upstream: a search for a random practice, which Nextech refuses.
      const upstream = i % 100 === 0;
      return fetch(`${base}${upstream ? `/practices/${practice}/fhir/Patient?family=${random(6)}` : path}`, { headers: upstream ? {} : headers }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      });
    };
    try {
      // Warm up (JIT, pools), then measure.
      for (let i = 0; i < 500; i++) await request(i);
      const before = heapAfterGc();
      const statuses = new Map<number, number>();
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < TOTAL) {
            const status = await request(next++);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          }
        }),
      );
      svc.sandbox.resetCalls();
      const grown = (heapAfterGc() - before) / 1024 / 1024;
      process.stdout.write(`bounded state: retained heap grew ${grown.toFixed(1)} MB over ${TOTAL} hostile requests (statuses ${JSON.stringify(Object.fromEntries(statuses))})\n`);
      // No request was served, and none was a server error.
      expect([...statuses.keys()].every((s) => s >= 400 && s < 500)).toBe(true);
      expect(grown).toBeLessThan(BOUND_MB);
    } finally {
      await svc.close();
    }
  }, 240_000);
});
