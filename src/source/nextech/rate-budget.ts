/**
 * A client-side rate budget that keeps the service under Nextech's limit of N requests per
 * second per user and endpoint (429 beyond), shared fairly between the callers spending it.
 *
 * Per budget key (the client keys by credential and endpoint): at most N requests in any
 * sliding window, spaced at least window/N apart — a burst sent at once would open N
 * connections at once and arrive with uneven delays, so two bursts a window apart could
 * still land within one second upstream.
 *
 * A request over budget waits in its caller's own FIFO queue; as slots free up the queues
 * are served round-robin (fair-queue.ts), so with k callers waiting each gets 1/k of the
 * rate and a caller alone gets all of it. A request is refused at once (RateBudgetExceeded,
 * a 429 with Retry-After for the client) instead of queueing when its caller's queue is
 * full, or when its estimated wait — its place in its queue ÷ its fair share of the rate —
 * is longer than `maxWaitMs` or than what is left before its own deadline. A request still
 * waiting at its deadline, or whose caller left (AbortSignal), leaves its queue.
 *
 * Bounded: queues exist only while someone waits in them, a budget idle for a whole window
 * is forgotten, a caller queues at most `maxQueuePerCaller` requests, and at most
 * `maxCallers` callers per budget have queues of their own (the rest share one overflow
 * queue, which gets one caller's share).
 */
import { FairQueue, type Placement } from './fair-queue.ts';

export class RateBudgetExceeded extends Error {
  constructor(readonly retryAfterMs: number) {
    super('rate budget exhausted');
    this.name = 'RateBudgetExceeded';
  }
}

/** Default longest estimated wait in a queue; a request expected to wait longer gets a 429 at once. */
export const DEFAULT_MAX_WAIT_MS = 5_000;
/** Default per-caller queue bound, in windows' worth of slots (3 × N requests). */
export const DEFAULT_QUEUE_WINDOWS = 3;
/** Default number of callers per budget with a queue of their own. */
export const DEFAULT_MAX_CALLERS = 64;

export interface RateBudgetOptions {
  /** Requests allowed per key in any window. */
  perWindow: number;
  windowMs?: number;
  now?: () => number;
  /** Requests one caller may have waiting per budget (default DEFAULT_QUEUE_WINDOWS × perWindow). */
  maxQueuePerCaller?: number;
  /** Longest estimated wait a request is queued for (default DEFAULT_MAX_WAIT_MS). */
  maxWaitMs?: number;
  /** Callers per budget with a queue of their own (default DEFAULT_MAX_CALLERS); more share one. */
  maxCallers?: number;
  /**
   * The ledger the replicas share (src/shared/store.ts `takeSlot`): when given, every request
   * also takes a slot there, so all replicas together send at most N per window; fairness
   * between callers stays per replica.
   */
  shared?: { takeSlot(key: string, gapMs: number): Promise<number> };
}

interface Waiter {
  lane: string;
  go(): void;
}

interface Budget {
  /** When recent requests left, oldest first, within the last window. */
  sent: number[];
  queue: FairQueue<Waiter>;
  /** Set while a release of the next waiter is scheduled. */
  timer?: ReturnType<typeof setTimeout>;
  /** Set while the shared ledger is being asked for this budget's waiters. */
  pumping?: boolean;
}

/** Budgets are swept for idle ones once per this many acquisitions. */
const SWEEP_EVERY = 1000;

export class RateBudget {
  readonly #budgets = new Map<string, Budget>();
  readonly #windowMs: number;
  /** The spacing between requests, window/N: the whole rate, shared by the callers waiting. */
  readonly #gapMs: number;
  readonly #maxWaitMs: number;
  readonly #queueOptions: { maxPerLane: number; maxLanes: number };
  #acquisitions = 0;
  /** Requests that had to wait, for metrics. */
  waited = 0;
  /** Requests refused at once or at their deadline, for metrics. */
  refused = 0;

  constructor(private readonly opts: RateBudgetOptions) {
    this.#windowMs = opts.windowMs ?? 1000;
    this.#gapMs = this.#windowMs / opts.perWindow;
    this.#maxWaitMs = opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    this.#queueOptions = {
      maxPerLane: opts.maxQueuePerCaller ?? DEFAULT_QUEUE_WINDOWS * opts.perWindow,
      maxLanes: opts.maxCallers ?? DEFAULT_MAX_CALLERS,
    };
  }

  /**
   * Resolves when `caller`'s request may go (recording it); rejects with RateBudgetExceeded
   * when it is refused or still waiting at `until`, or with the signal's reason if the caller leaves.
   */
  acquire(key: string, caller: string, until: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    const now = this.#now();
    if (++this.#acquisitions % SWEEP_EVERY === 0) this.#sweep(now);
    const budget = this.#budget(key);
    if (!this.opts.shared && budget.queue.size === 0 && this.#slotWait(budget, now) === 0) {
      budget.sent.push(now);
      return Promise.resolve();
    }
    const place = budget.queue.place(caller);
    const estimate = this.#estimate(budget, place, now);
    if (place.full || estimate > Math.min(this.#maxWaitMs, until - now)) {
      this.refused++;
      return Promise.reject(new RateBudgetExceeded(estimate));
    }
    // With a shared ledger every request passes through its queue; it waited if others were there.
    if (!this.opts.shared || budget.queue.size > 0 || budget.pumping) this.waited++;
    return new Promise<void>((resolve, reject) => {
      const settled = () => {
        clearTimeout(expiry);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = { lane: place.lane, go: () => (settled(), resolve()) };
      const leave = (err: Error) => {
        settled();
        budget.queue.remove(waiter.lane, waiter);
        reject(err);
      };
      const onAbort = () => leave(signal?.reason as Error);
      const expiry = setTimeout(() => {
        this.refused++;
        leave(new RateBudgetExceeded(this.#estimate(budget, budget.queue.place(caller), this.#now())));
      }, until - now);
      signal?.addEventListener('abort', onAbort, { once: true });
      budget.queue.push(place.lane, waiter);
      if (this.opts.shared) this.#pump(key, budget, this.opts.shared);
      else this.#schedule(budget);
    });
  }

  /** Budgets held (for tests and the bound on memory). */
  get size(): number {
    return this.#budgets.size;
  }

  /** What waits in one budget: callers with a queue and requests queued (for tests). */
  inspect(key: string): { callers: number; waiting: number } | undefined {
    const b = this.#budgets.get(key);
    return b && { callers: b.queue.lanes, waiting: b.queue.size };
  }

  #budget(key: string): Budget {
    let b = this.#budgets.get(key);
    if (!b) {
      b = { sent: [], queue: new FairQueue<Waiter>(this.#queueOptions) };
      this.#budgets.set(key, b);
    }
    return b;
  }

  /** Releases the next waiter when a slot frees; one timer per budget while anyone waits. */
  #schedule(b: Budget): void {
    if (b.timer !== undefined || b.queue.size === 0) return;
    b.timer = setTimeout(() => {
      b.timer = undefined;
      const now = this.#now();
      // Timers may fire a little early: then this only re-arms for the rest of the wait.
      if (this.#slotWait(b, now) === 0) {
        const next = b.queue.shift();
        if (next) {
          b.sent.push(now);
          next.go();
        }
      }
      this.#schedule(b);
    }, this.#slotWait(b, this.#now()));
  }

  /**
   * With a shared ledger: while anyone waits, take the next slot there (this replica's own
   * spacing first), release the next waiter in fair order, or sleep as long as the ledger says.
   * One pump per budget; a ledger that fails is treated as a free slot only after this
   * replica's own spacing (the store itself falls back to per-replica shares).
   */
  #pump(key: string, b: Budget, shared: NonNullable<RateBudgetOptions['shared']>): void {
    if (b.pumping || b.queue.size === 0) return;
    b.pumping = true;
    const step = async (): Promise<void> => {
      while (b.queue.size > 0) {
        const local = this.#slotWait(b, this.#now());
        const wait = local > 0 ? local : await shared.takeSlot(key, this.#gapMs).catch(() => 0);
        if (wait > 0) {
          await new Promise<void>((r) => {
            b.timer = setTimeout(() => {
              b.timer = undefined;
              r();
            }, wait);
          });
          continue;
        }
        const next = b.queue.shift();
        if (next) {
          b.sent.push(this.#now());
          next.go();
        }
      }
    };
    void step().finally(() => {
      b.pumping = false;
    });
  }

  /** 0 when a request may leave now; otherwise how long until one may (window and spacing). */
  #slotWait(b: Budget, now: number): number {
    while (b.sent.length > 0 && (b.sent[0] ?? now) <= now - this.#windowMs) b.sent.shift();
    const last = b.sent[b.sent.length - 1];
    // The oldest request leaves the window at oldest + windowMs; +1 so it has left.
    const windowWait = b.sent.length < this.opts.perWindow ? 0 : (b.sent[0] ?? now) + this.#windowMs - now + 1;
    const gapWait = last === undefined ? 0 : Math.max(0, Math.ceil(last + this.#gapMs - now));
    return Math.max(windowWait, gapWait);
  }

  /**
   * How long a request placed so would wait: its place in its queue ÷ its share of the rate
   * (at worst every other lane takes a turn before each of its own), after the next slot.
   */
  #estimate(b: Budget, place: Placement, now: number): number {
    return this.#slotWait(b, now) + (place.position * place.lanes - 1) * this.#gapMs;
  }

  /** Forgets budgets nobody waits in and nobody used for a whole window. */
  #sweep(now: number): void {
    for (const [key, b] of this.#budgets) {
      const last = b.sent[b.sent.length - 1];
      const idle = last === undefined || last <= now - this.#windowMs;
      if (idle && b.queue.size === 0 && b.timer === undefined && !b.pumping) this.#budgets.delete(key);
    }
  }

  #now(): number {
    return this.opts.now?.() ?? Date.now();
  }
}
