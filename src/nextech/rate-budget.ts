/**
 * A client-side rate budget that keeps the service under Nextech's limit of N requests per
 * second per user and endpoint (429 beyond): per key (the client keys by credential and endpoint), at most
 * N requests in any sliding window, and requests spaced at least window/N apart — a burst
 * sent at once would open N connections at once and arrive with uneven delays, so two
 * bursts a window apart could still land within one second upstream. A request over
 * budget waits in line rather than provoking a 429, unless it would wait past its deadline.
 */
import { sleep } from './sleep.ts';

export class RateBudgetExceeded extends Error {
  constructor(readonly retryAfterMs: number) {
    super('rate budget exhausted');
    this.name = 'RateBudgetExceeded';
  }
}

export interface RateBudgetOptions {
  /** Requests allowed per key in any window. */
  perWindow: number;
  windowMs?: number;
  now?: () => number;
}

export class RateBudget {
  readonly #recent = new Map<string, number[]>();
  /** Requests that had to wait, for metrics. */
  waited = 0;

  constructor(private readonly opts: RateBudgetOptions) {}

  /**
   * Resolves when a request may go (recording it), or rejects with RateBudgetExceeded if
   * that would be after `deadline`, or with the signal's reason if the caller leaves.
   */
  async acquire(key: string, deadline: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const wait = this.#tryTake(key);
      if (wait === 0) return;
      if (this.#now() + wait > deadline) throw new RateBudgetExceeded(wait);
      this.waited++;
      await sleep(wait, signal);
    }
  }

  #takes = 0;

  /** Forgets keys (callers) idle for a whole window, so the map does not grow without end. */
  #sweep(now: number, windowMs: number): void {
    for (const [key, times] of this.#recent) {
      const last = times[times.length - 1];
      if (last === undefined || last <= now - windowMs) this.#recent.delete(key);
    }
  }

  /** 0 when taken; otherwise how long until a slot frees. */
  #tryTake(key: string): number {
    const now = this.#now();
    const windowMs = this.opts.windowMs ?? 1000;
    if (++this.#takes % 1000 === 0) this.#sweep(now, windowMs);
    const gap = windowMs / this.opts.perWindow;
    const times = (this.#recent.get(key) ?? []).filter((t) => t > now - windowMs);
    this.#recent.set(key, times);
    const last = times[times.length - 1];
    // The oldest request leaves the window at oldest + windowMs; +1 so it has left.
    const windowWait = times.length < this.opts.perWindow ? 0 : (times[0] ?? now) + windowMs - now + 1;
    const gapWait = last === undefined ? 0 : Math.max(0, Math.ceil(last + gap - now));
    const wait = Math.max(windowWait, gapWait);
    if (wait === 0) times.push(now);
    return wait;
  }

  #now(): number {
    return this.opts.now?.() ?? Date.now();
  }
}
