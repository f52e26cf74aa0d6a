import { describe, expect, it } from 'vitest';
import { ExpiringMap } from '../../src/source/expiring-map.ts';

describe('ExpiringMap', () => {
  it('answers an entry until its expiry, then forgets it', () => {
    let now = 1_000;
    const map = new ExpiringMap<string>(10, () => now);
    map.set('a', 'x', 500);
    expect(map.get('a')).toBe('x');
    now = 1_499;
    expect(map.get('a')).toBe('x');
    now = 1_500;
    expect(map.get('a')).toBeUndefined();
    expect(map.size).toBe(0);
  });

  it('holds at most maxEntries, the least recently set going first', () => {
    const map = new ExpiringMap<number>(3, () => 0);
    for (const [i, k] of ['a', 'b', 'c'].entries()) map.set(k, i, 1_000);
    map.set('a', 9, 1_000);
    map.set('d', 3, 1_000);
    expect(map.size).toBe(3);
    expect(map.get('b')).toBeUndefined();
    expect([map.get('a'), map.get('c'), map.get('d')]).toEqual([9, 2, 3]);
    for (let i = 0; i < 10_000; i++) map.set(`k${i}`, i, 1_000);
    expect(map.size).toBe(3);
  });
});
