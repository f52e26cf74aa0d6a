/** Sources whose made-up tokens Nextech refused: remembered a while, by site, within a bound. */
import { describe, expect, it } from 'vitest';
import { RefusedSources } from '../../src/source/nextech/refused-sources.ts';

describe('RefusedSources', () => {
  it('remembers a refused source for its lifetime, then forgets it', () => {
    let now = 0;
    const r = new RefusedSources({ ttlMs: 1_000, now: () => now });
    r.refused('198.51.100.7');
    expect(r.has('198.51.100.7')).toBe(true);
    expect(r.has('198.51.100.8')).toBe(false);
    now = 999;
    expect(r.has('198.51.100.7')).toBe(true);
    now = 1_000;
    expect(r.has('198.51.100.7')).toBe(false);
    expect(r.size).toBe(0);
  });

  it('takes an IPv6 source by its /48: every /64 of a refused site is refused', () => {
    const r = new RefusedSources();
    r.refused('2001:db8:1:2::/64');
    expect(r.has('2001:db8:1:ffff::/64')).toBe(true);
    expect(r.has('2001:db8:2:2::/64')).toBe(false);
  });

  it('holds at most maxEntries sources, the least recently refused going first', () => {
    const r = new RefusedSources({ maxEntries: 3 });
    for (const s of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) r.refused(s);
    r.refused('10.0.0.1');
    r.refused('10.0.0.4');
    expect(r.size).toBe(3);
    expect(r.has('10.0.0.2')).toBe(false);
    expect(['10.0.0.1', '10.0.0.3', '10.0.0.4'].every((s) => r.has(s))).toBe(true);
  });
});
