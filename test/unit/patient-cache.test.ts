// PatientCache (src/source/nextech/patient-cache.ts): a caller's patient search is reused
// for the TTL, shared while in flight, never across callers or practices, forgotten when it
// fails, and off with a TTL of 0.
import { describe, expect, it } from 'vitest';
import type { CallContext } from '../../src/source/call.ts';
import type { NextechClient } from '../../src/source/nextech/client.ts';
import { PatientCache } from '../../src/source/nextech/patient-cache.ts';
import type { EhrPatient } from '../../src/source/nextech/schemas.ts';

function fakeNextech(fail = () => false, rowsFor = (_term: string) => 1) {
  const calls: string[] = [];
  const client = {
    searchPatients(ctx: CallContext, term: string): Promise<EhrPatient[]> {
      calls.push(`${ctx.practiceId}/${ctx.callerKey}/${term}`);
      const rows = Array.from({ length: rowsFor(term) }, (_, i) => ({ patientId: calls.length * 1000 + i }) as EhrPatient);
      return fail() ? Promise.reject(new Error('down')) : Promise.resolve(rows);
    },
  };
  return { client: client as unknown as NextechClient, calls };
}

const call = (callerKey = 'a', practiceId = '1001'): CallContext => ({ practiceId, callerKey, credential: { kind: 'managed' } });

describe('PatientCache', () => {
  it('reuses a caller\'s answer for the TTL, shares it in flight, and asks again after it', async () => {
    let now = 0;
    const { client, calls } = fakeNextech();
    const cache = new PatientCache(client, 60_000, () => now);
    const [a, b] = await Promise.all([cache.get(call(), 'smith'), cache.get(call(), 'smith')]);
    expect(b).toBe(a);
    now = 59_999;
    expect(await cache.get(call(), 'smith')).toBe(a);
    now = 60_000;
    await cache.get(call(), 'smith');
    expect(calls).toEqual(['1001/a/smith', '1001/a/smith']);
  });

  it('never shares between callers, practices or terms', async () => {
    const { client, calls } = fakeNextech();
    const cache = new PatientCache(client, 60_000);
    await cache.get(call('a'), 'smith');
    await cache.get(call('b'), 'smith');
    await cache.get(call('a', '1002'), 'smith');
    await cache.get(call('a'), 'jones');
    expect(calls).toHaveLength(4);
  });

  it('forgets a failed search at once, and keeps nothing with a TTL of 0', async () => {
    let failing = true;
    const { client, calls } = fakeNextech(() => failing);
    const cache = new PatientCache(client, 60_000);
    await expect(cache.get(call(), 'smith')).rejects.toThrow('down');
    failing = false;
    await cache.get(call(), 'smith');
    expect(calls).toHaveLength(2);
    const off = new PatientCache(fakeNextech().client, 0);
    await off.get(call(), 'x');
    await off.get(call(), 'x');
    expect(off.stats).toEqual({ fetches: 2, reused: 0 });
  });

  it('keeps no answer longer than 200 patients, and at most 20,000 patient rows in all (oldest answers go first)', async () => {
    const { client, calls } = fakeNextech(undefined, (term) => (term === 'broad' ? 201 : 150));
    const cache = new PatientCache(client, 60_000);
    await cache.get(call(), 'broad');
    await cache.get(call(), 'broad');
    expect(calls).toHaveLength(2);
    for (let i = 0; i < 200; i++) await cache.get(call(), `t${i}`);
    expect(cache.rows).toBeLessThanOrEqual(20_000);
    expect(cache.rows).toBeGreaterThan(19_000);
    const before = calls.length;
    await cache.get(call(), 't199');
    await cache.get(call(), 't0');
    // The newest is still held; the oldest went to make room.
    expect(calls.length - before).toBe(1);
  });
});
