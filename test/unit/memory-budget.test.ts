// MemoryBudget (src/nextech/memory-budget.ts) with small, made-up sizes: what fits is granted
// at once, the cache gives memory back first, readers wait in order and are refused after a
// bounded wait, a reader that leaves holds nothing, and a deadlock between half-read bodies
// is broken.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBudget, MemoryBudgetFull } from '../../src/source/memory-budget.ts';

/** A stand-in for the listing cache: entries of known sizes, given back oldest first. */
function fakeCache(budget: MemoryBudget, sizes: number[]) {
  const entries = [...sizes];
  for (const s of entries) if (!budget.tryHold(s)) throw new Error('setup: does not fit');
  const evicted: number[] = [];
  budget.setReclaimer((wanted) => {
    let freed = 0;
    while (freed < wanted && entries.length > 0) {
      const s = entries.shift() ?? 0;
      freed += s;
      evicted.push(s);
      budget.unhold(s);
    }
  });
  return { entries, evicted };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('MemoryBudget', () => {
  it('grants at once what fits, tracks the high-water mark and takes everything back on release', async () => {
    const budget = new MemoryBudget({ maxBytes: 100 });
    const a = budget.reserve();
    const b = budget.reserve();
    await a.grow(60);
    await b.grow(30);
    await b.grow(10);
    expect([budget.inFlight, budget.used, budget.highWater]).toEqual([100, 100, 100]);
    a.release();
    a.release();
    expect(budget.used).toBe(40);
    b.release();
    expect([budget.used, budget.highWater, budget.stats.waits]).toEqual([0, 100, 0]);
  });

  it('asks the cache for the shortfall, least recently used first, before making a reader wait', async () => {
    const budget = new MemoryBudget({ maxBytes: 100 });
    const cache = fakeCache(budget, [20, 30, 40]);
    const r = budget.reserve();
    await r.grow(45);
    // 90 held + 45 = 135: 35 short, so the two oldest (20 + 30) go and the newest stays.
    expect(cache.evicted).toEqual([20, 30]);
    expect(cache.entries).toEqual([40]);
    expect([budget.held, budget.inFlight, budget.stats.waits]).toEqual([40, 45, 0]);
    expect(budget.highWater).toBeLessThanOrEqual(100);
  });

  it('lets readers wait in arrival order and grants each as room is released', async () => {
    const budget = new MemoryBudget({ maxBytes: 100 });
    const first = budget.reserve();
    await first.grow(100);
    const order: string[] = [];
    const b = budget.reserve();
    const c = budget.reserve();
    const waits = [b.grow(60).then(() => order.push('b')), c.grow(30).then(() => order.push('c'))];
    expect(budget.waiting).toBe(2);
    first.release();
    await Promise.all(waits);
    expect(order).toEqual(['b', 'c']);
    expect([budget.inFlight, budget.waiting, budget.highWater]).toEqual([90, 0, 100]);
  });

  it('refuses a reader with MemoryBudgetFull when no room comes within the wait, holding nothing', async () => {
    vi.useFakeTimers();
    const outcomes: string[] = [];
    const budget = new MemoryBudget({ maxBytes: 100, maxWaitMs: 5_000, onWait: (o) => outcomes.push(o) });
    await budget.reserve().grow(80);
    const r = budget.reserve();
    const waiting = r.grow(40);
    const settled = vi.fn();
    waiting.then(settled, settled);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(settled).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await expect(waiting).rejects.toBeInstanceOf(MemoryBudgetFull);
    expect([r.bytes, budget.inFlight, budget.waiting, budget.stats.refused]).toEqual([0, 80, 0, 1]);
    expect(outcomes).toEqual(['refused']);
  });

  it('drops a waiting reader whose caller left, with the caller’s reason, and serves the next', async () => {
    const budget = new MemoryBudget({ maxBytes: 100 });
    const holder = budget.reserve();
    await holder.grow(90);
    const left = new AbortController();
    const gone = budget.reserve().grow(50, left.signal);
    const next = budget.reserve();
    const served = next.grow(10);
    left.abort(new Error('client left'));
    await expect(gone).rejects.toThrow('client left');
    // The reader behind it fits in what is left, and no longer queues behind the one that left.
    await served;
    expect([budget.inFlight, budget.waiting]).toEqual([100, 0]);
    await expect(budget.reserve().grow(1, left.signal)).rejects.toThrow('client left');
  });

  it('serves readers already holding part of a body before new ones', async () => {
    const budget = new MemoryBudget({ maxBytes: 100 });
    const blocker = budget.reserve();
    await blocker.grow(70);
    const half = budget.reserve();
    await half.grow(30);
    const order: string[] = [];
    const newcomer = budget.reserve().grow(20).then(() => order.push('newcomer'));
    const more = half.grow(20).then(() => order.push('half-read'));
    blocker.release();
    await Promise.all([newcomer, more]);
    expect(order).toEqual(['half-read', 'newcomer']);
  });

  it('refuses the youngest of half-read bodies that all wait for more, so the others finish', async () => {
    const budget = new MemoryBudget({ maxBytes: 100 });
    const older = budget.reserve();
    const younger = budget.reserve();
    await older.grow(50);
    await younger.grow(50);
    const olderMore = older.grow(30);
    const youngerMore = younger.grow(30);
    await expect(youngerMore).rejects.toBeInstanceOf(MemoryBudgetFull);
    await olderMore;
    expect([older.bytes, budget.inFlight]).toEqual([80, 80]);
    // The refused reader's room went back at once; its own release later changes nothing.
    younger.release();
    expect(budget.inFlight).toBe(80);
  });

  it('lets the cache take room only when it fits and no reader is waiting for it', async () => {
    const budget = new MemoryBudget({ maxBytes: 100 });
    const r = budget.reserve();
    await r.grow(70);
    expect(budget.tryHold(40)).toBe(false);
    expect(budget.tryHold(30)).toBe(true);
    budget.unhold(30);
    const waiting = budget.reserve().grow(40);
    expect(budget.tryHold(10)).toBe(false);
    r.release();
    await waiting;
    expect([budget.held, budget.inFlight]).toEqual([0, 40]);
  });

  it('refuses a pending grow when its reservation is released', async () => {
    const budget = new MemoryBudget({ maxBytes: 100 });
    await budget.reserve().grow(100);
    const r = budget.reserve();
    const pending = r.grow(10);
    r.release();
    await expect(pending).rejects.toBeInstanceOf(MemoryBudgetFull);
    expect([budget.inFlight, budget.waiting]).toEqual([100, 0]);
    await expect(r.grow(1)).rejects.toBeInstanceOf(MemoryBudgetFull);
  });

  it('rejects a body larger than the whole budget with a RangeError, without waiting', async () => {
    const budget = new MemoryBudget({ maxBytes: 100 });
    await expect(budget.reserve().grow(101)).rejects.toBeInstanceOf(RangeError);
    expect([budget.used, budget.stats.waits]).toEqual([0, 0]);
  });
});
