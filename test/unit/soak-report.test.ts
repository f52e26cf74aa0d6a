// The soak's verdicts (src/dev/soak/report.ts) on made-up records: which answers count as
// healthy failures or unexpected 5xx, and when resident memory "stopped growing".
import { describe, expect, it } from 'vitest';
import { rssVerdict, summarize, type Outcome } from '../../src/dev/soak/report.ts';

const MB = 1024 * 1024;
const series = (mbs: number[]) => mbs.map((m, i) => ({ at: i * 1000, bytes: m * MB }));

describe('rssVerdict', () => {
  const cases: { name: string; mbs: number[]; flat: boolean }[] = [
    { name: 'a steady saw-tooth after warm-up', mbs: [160, 200, 260, 330, 250, 300, 420, 260, 300, 450, 250, 310, 480, 240, 290], flat: true },
    { name: 'one late GC peak in a steady run', mbs: [160, 220, 280, 300, 280, 310, 290, 300, 300, 290, 300, 600, 300, 290], flat: true },
    { name: 'a leak that lifts every sample', mbs: [160, 200, 240, 280, 320, 360, 400, 440, 480, 520, 560, 600], flat: false },
    { name: 'too few samples to judge', mbs: [100, 100], flat: false },
  ];
  for (const c of cases) {
    it(`says ${c.flat ? 'flat' : 'not flat'} for ${c.name}`, () => {
      expect(rssVerdict(series(c.mbs)).flat).toBe(c.flat);
    });
  }

  it('reports the median and max of each third and the peak', () => {
    const v = rssVerdict(series([1, 3, 2, 10, 30, 20, 5, 7, 6]));
    expect(v.thirds).toEqual([
      { median: 2 * MB, max: 3 * MB },
      { median: 20 * MB, max: 30 * MB },
      { median: 6 * MB, max: 7 * MB },
    ]);
    expect(v.peak).toBe(30 * MB);
  });
});

describe('summarize', () => {
  const o = (kind: Outcome['kind'], status: number, retryAfter = false): Outcome => ({ kind, caller: 'anonymous', status, ms: status, retryAfter });

  it('counts non-200 healthy answers as failures and their 5xx (or no answer) as unexpected; fault patients as neither', () => {
    const r = summarize([o('patient-read', 200), o('docref-search', 503, true), o('encounter-search', 0), o('large-ccd', 429), o('fault', 502), o('fault', 500)], [], 1);
    expect([r.healthyFailures, r.unexpected5xx, r.healthy503WithRetryAfter]).toEqual([3, 2, 1]);
    expect(r.statuses.fault).toEqual({ '500': 1, '502': 1 });
    expect(r.statuses['encounter-search']).toEqual({ 'no answer': 1 });
    expect(r.sent).toBe(6);
  });
});
