// The rate budget's fair admission, on a fake clock: per-caller queues served round-robin,
// bounds that refuse at once, callers leaving, idle state dropped, the spacing rule kept.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RateBudget, RateBudgetExceeded, type RateBudgetOptions } from '../../src/source/nextech/rate-budget.ts';

// 10 per 1000 ms: one request every 100 ms.
const budget = (opts: Partial<RateBudgetOptions> = {}) => new RateBudget({ perWindow: 10, windowMs: 1000, now: () => Date.now(), ...opts });
const later = () => Date.now() + 60_000;

/** What happened to each request, in order: its label when it may go, `label:Error` when not. */
class Log {
  readonly order: string[] = [];
  readonly at = new Map<string, number>();
  readonly errors = new Map<string, unknown>();
  send(b: RateBudget, caller: string, label: string, opts: { until?: number; signal?: AbortSignal; key?: string } = {}): void {
    b.acquire(opts.key ?? 'k', caller, opts.until ?? later(), opts.signal).then(
      () => {
        this.order.push(label);
        this.at.set(label, Date.now());
      },
      (err: unknown) => {
        this.order.push(`${label}:${err instanceof Error ? err.name : 'other'}`);
        this.errors.set(label, err);
      },
    );
  }
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('fair admission to the rate budget', () => {
  it('gives a caller alone the whole rate, one request every window/N', async () => {
    const b = budget();
    const log = new Log();
    for (let i = 0; i < 25; i++) log.send(b, 'a', `a${i}`);
    await vi.advanceTimersByTimeAsync(3000);
    expect(log.order).toEqual(Array.from({ length: 25 }, (_, i) => `a${i}`));
    const times = [...log.at.values()];
    // 100 ms apart; a window's oldest request must have left it, hence +1 ms once per window.
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeOneOf([100, 101]);
  });

  it('serves waiting callers round-robin, each FIFO', async () => {
    const b = budget();
    const log = new Log();
    for (const label of ['a1', 'a2', 'a3', 'a4']) log.send(b, 'a', label);
    for (const label of ['b1', 'b2']) log.send(b, 'b', label);
    log.send(b, 'c', 'c1');
    expect(b.inspect('k')).toEqual({ callers: 3, waiting: 6 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(log.order).toEqual(['a1', 'a2', 'b1', 'c1', 'a3', 'b2', 'a4']);
    // Emptied queues are gone.
    expect(b.inspect('k')).toEqual({ callers: 0, waiting: 0 });
  });

  it('refuses a request beyond its caller’s queue bound at once, while other callers still queue', async () => {
    const b = budget({ maxQueuePerCaller: 3 });
    const log = new Log();
    for (let i = 1; i <= 5; i++) log.send(b, 'a', `a${i}`);
    log.send(b, 'b', 'b1');
    await vi.advanceTimersByTimeAsync(0);
    // a1 went at once, a2–a4 wait, a5 is refused before anything else happens.
    expect(log.order).toEqual(['a1', 'a5:RateBudgetExceeded']);
    const refusal = log.errors.get('a5');
    expect(refusal).toBeInstanceOf(RateBudgetExceeded);
    // Retry-After: its backlog at its share (3 waiting ahead, alone so far, 100 ms apart).
    expect((refusal as RateBudgetExceeded).retryAfterMs).toBe(400);
    expect(b.refused).toBe(1);
    expect(b.waited).toBe(4);
    await vi.advanceTimersByTimeAsync(1000);
    expect(log.order).toEqual(['a1', 'a5:RateBudgetExceeded', 'a2', 'b1', 'a3', 'a4']);
  });

  it('refuses a request whose wait at its fair share would exceed the bounded wait', async () => {
    const b = budget({ maxWaitMs: 500 });
    const log = new Log();
    // Alone, a caller's n-th waiter expects n × 100 ms: a2–a6 fit in 500 ms, a7 does not.
    for (let i = 1; i <= 7; i++) log.send(b, 'a', `a${i}`);
    // With two callers each has half the rate: b's first expects 200 ms, its third 600 ms.
    for (let i = 1; i <= 3; i++) log.send(b, 'b', `b${i}`);
    await vi.advanceTimersByTimeAsync(0);
    expect(log.order).toEqual(['a1', 'a7:RateBudgetExceeded', 'b3:RateBudgetExceeded']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(log.order.slice(3)).toEqual(['a2', 'b1', 'a3', 'b2', 'a4', 'a5', 'a6']);
  });

  it('refuses at once when the wait would pass the request’s own deadline, and drops a waiter at its deadline', async () => {
    const b = budget();
    const log = new Log();
    const t0 = Date.now();
    log.send(b, 'a', 'a1');
    log.send(b, 'a', 'early', { until: t0 + 50 });
    log.send(b, 'a', 'a2');
    // Expects 200 ms when queued, then b joins and halves a's share: its turn would be at 300.
    log.send(b, 'a', 'a3', { until: t0 + 250 });
    log.send(b, 'b', 'b1');
    log.send(b, 'b', 'b2');
    await vi.advanceTimersByTimeAsync(1000);
    expect(log.order).toEqual(['a1', 'early:RateBudgetExceeded', 'a2', 'b1', 'a3:RateBudgetExceeded', 'b2']);
    expect(log.at.get('b2')).toBe(t0 + 300);
    expect(b.refused).toBe(2);
  });

  it('takes a caller who leaves out of its queue, and gives its turn to the next', async () => {
    const b = budget();
    const log = new Log();
    const leaving = new AbortController();
    log.send(b, 'a', 'a1');
    log.send(b, 'a', 'a2', { signal: leaving.signal });
    log.send(b, 'c', 'c1', { signal: leaving.signal });
    log.send(b, 'b', 'b1');
    expect(b.inspect('k')).toEqual({ callers: 3, waiting: 3 });
    leaving.abort(new DOMException('gone', 'AbortError'));
    await vi.advanceTimersByTimeAsync(0);
    expect(b.inspect('k')).toEqual({ callers: 1, waiting: 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(log.order).toEqual(['a1', 'a2:AbortError', 'c1:AbortError', 'b1']);
    expect(log.at.get('b1')).toBe(1_000_100);
    // A signal already aborted never joins a queue.
    log.send(b, 'a', 'a3', { signal: leaving.signal });
    await vi.advanceTimersByTimeAsync(0);
    expect(log.order.at(-1)).toBe('a3:AbortError');
  });

  it('gives callers beyond the cap one shared overflow queue, which takes turns as one caller', async () => {
    const b = budget({ maxCallers: 2, maxQueuePerCaller: 2 });
    const log = new Log();
    log.send(b, 'a', 'a1');
    log.send(b, 'a', 'a2');
    log.send(b, 'a', 'a3');
    log.send(b, 'b', 'b1');
    log.send(b, 'c', 'c1');
    log.send(b, 'd', 'd1');
    // The overflow queue is full with c1 and d1: e is refused at once.
    log.send(b, 'e', 'e1');
    expect(b.inspect('k')).toEqual({ callers: 3, waiting: 5 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(log.order).toEqual(['a1', 'e1:RateBudgetExceeded', 'a2', 'b1', 'c1', 'a3', 'd1']);
  });

  it('forgets idle budgets, so keys from requests do not accumulate', async () => {
    const b = budget();
    const log = new Log();
    for (let i = 0; i < 999; i++) log.send(b, 'a', `x${i}`, { key: `key-${i}` });
    await vi.advanceTimersByTimeAsync(0);
    expect(b.size).toBe(999);
    await vi.advanceTimersByTimeAsync(1500);
    // Budgets are swept every 1000 acquisitions: this one sweeps the 999 idle ones away.
    log.send(b, 'a', 'last', { key: 'key-last' });
    await vi.advanceTimersByTimeAsync(0);
    expect(b.size).toBe(1);
  });

  it('keeps requests window/N apart and N per window, whatever the mix of callers', async () => {
    const b = budget({ maxWaitMs: 3000 });
    const log = new Log();
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let i = 0; i < 200; i++) {
      log.send(b, `caller-${Math.floor(random() * 4)}`, `r${i}`);
      await vi.advanceTimersByTimeAsync(Math.floor(random() * 60));
    }
    await vi.advanceTimersByTimeAsync(5000);
    const times = [...log.at.values()].sort((x, y) => x - y);
    expect(times.length).toBeGreaterThan(50);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(100);
    for (let i = 10; i < times.length; i++) expect(times[i]! - times[i - 10]!).toBeGreaterThanOrEqual(1000);
    expect(log.order.length).toBe(200);
  });
});
