/**
 * One memory budget for CCD documents: what requests hold of upstream bodies and of the
 * responses they build from them, and the CCD text the listing cache keeps, count against
 * the same limit, so neither can grow the process past it.
 *
 * A reservation grows as a body arrives (all of it at once when Nextech announces its
 * length); a request's reservation is given back once its response has been written, any
 * other once its body is parsed, dropped or failed (http.ts, resources/request-memory.ts).
 * When a reservation does not fit, the cache is asked to give memory back first (its least
 * recently used listings go); if that is not enough the reader waits, in order, for room —
 * at most `maxWaitMs`, or until its caller leaves — and is then refused (MemoryBudgetFull:
 * the facade answers 503 + Retry-After). Reservations already holding room go before new
 * ones: finishing them frees memory soonest. The cache never takes room a reader is waiting
 * for.
 *
 * If every reservation holding room is itself waiting for more (bodies of unannounced
 * length that all outgrew the budget together, or requests whose second read needs more),
 * none could ever finish: the youngest of them is refused at once so the others can go on.
 */

/** A reader waited `maxWaitMs` without room (or was refused to break a deadlock). */
export class MemoryBudgetFull extends Error {
  constructor() {
    super('document memory budget is full');
    this.name = 'MemoryBudgetFull';
  }
}

/** Default longest wait for room. */
export const DEFAULT_MEMORY_WAIT_MS = 5_000;

export interface MemoryBudgetOptions {
  maxBytes: number;
  /** Longest a reader waits for room before it is refused (default DEFAULT_MEMORY_WAIT_MS). */
  maxWaitMs?: number;
  /** Reports each wait's end, for metrics. */
  onWait?: (outcome: 'granted' | 'refused' | 'left') => void;
}

interface Waiter {
  reservation: Reservation;
  bytes: number;
  grant(): void;
  refuse(err: Error): void;
}

export class MemoryBudget {
  readonly maxBytes: number;
  readonly #maxWaitMs: number;
  #inFlight = 0;
  #held = 0;
  #highWater = 0;
  /** Waiting readers: those already holding room first, each group oldest first. */
  readonly #queue: Waiter[] = [];
  readonly #open = new Set<Reservation>();
  #reclaim: ((bytes: number) => void) | undefined;
  #pumping = false;
  #again = false;
  /** Reservations opened, waits and refusals, for tests and metrics. */
  readonly stats = { reservations: 0, waits: 0, refused: 0 };

  constructor(private readonly opts: MemoryBudgetOptions) {
    this.maxBytes = opts.maxBytes;
    this.#maxWaitMs = opts.maxWaitMs ?? DEFAULT_MEMORY_WAIT_MS;
  }

  /** Bytes of bodies being read. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Bytes the cache holds. */
  get held(): number {
    return this.#held;
  }

  get used(): number {
    return this.#inFlight + this.#held;
  }

  /** The most ever used at once. */
  get highWater(): number {
    return this.#highWater;
  }

  /** Readers waiting for room. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** What gives memory back when readers need room: the listing cache's eviction (least recently used first). */
  setReclaimer(reclaim: (bytes: number) => void): void {
    this.#reclaim = reclaim;
  }

  /** The cache takes `bytes` if they fit now and no reader is waiting; it never waits or reclaims. */
  tryHold(bytes: number): boolean {
    if (this.#queue.length > 0 || this.used + bytes > this.maxBytes) return false;
    this.#held += bytes;
    this.#mark();
    return true;
  }

  /** The cache gives back bytes it held. */
  unhold(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes);
    this.#pump();
  }

  /** Opens the reservation of one body; release it when the body is parsed, dropped or failed. */
  reserve(): Reservation {
    this.stats.reservations++;
    const r = new Reservation(this);
    this.#open.add(r);
    return r;
  }

  /** @internal Reservation.grow */
  grow(r: Reservation, bytes: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (!this.#open.has(r)) return Promise.reject(new MemoryBudgetFull());
    if (r.bytes + bytes > this.maxBytes) return Promise.reject(new RangeError('a body larger than the whole memory budget'));
    if (this.#queue.length === 0) {
      if (!this.#fits(bytes)) this.#reclaim?.(this.used + bytes - this.maxBytes);
      if (this.#fits(bytes)) {
        this.#take(r, bytes);
        return Promise.resolve();
      }
    }
    this.stats.waits++;
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.#queue.indexOf(waiter);
        if (i >= 0) this.#queue.splice(i, 1);
        r.waiting--;
      };
      const waiter: Waiter = {
        reservation: r,
        bytes,
        grant: () => {
          done();
          this.#take(r, bytes);
          this.opts.onWait?.('granted');
          resolve();
        },
        refuse: (err) => {
          done();
          this.stats.refused++;
          this.opts.onWait?.('refused');
          reject(err);
          this.#pump();
        },
      };
      const onAbort = () => {
        done();
        this.opts.onWait?.('left');
        reject(signal?.reason as Error);
        this.#pump();
      };
      const timer = setTimeout(() => waiter.refuse(new MemoryBudgetFull()), this.#maxWaitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      r.waiting++;
      // Holders of room go before newcomers; each group in arrival order.
      const at = r.bytes > 0 ? this.#queue.findIndex((w) => w.reservation.bytes === 0) : -1;
      this.#queue.splice(at < 0 ? this.#queue.length : at, 0, waiter);
      this.#pump();
    });
  }

  /** @internal Reservation.shrink */
  shrink(r: Reservation, bytes: number): void {
    if (!this.#open.has(r)) return;
    const given = Math.min(r.bytes, Math.max(0, bytes));
    r.bytes -= given;
    this.#inFlight -= given;
    this.#pump();
  }

  /** @internal Reservation.open */
  isOpen(r: Reservation): boolean {
    return this.#open.has(r);
  }

  /** @internal Reservation.release */
  release(r: Reservation): void {
    if (!this.#open.delete(r)) return;
    this.#queue.find((w) => w.reservation === r)?.refuse(new MemoryBudgetFull());
    this.#inFlight -= r.bytes;
    this.#pump();
  }

  #fits(bytes: number): boolean {
    return this.used + bytes <= this.maxBytes;
  }

  #take(r: Reservation, bytes: number): void {
    r.bytes += bytes;
    this.#inFlight += bytes;
    this.#mark();
  }

  #mark(): void {
    if (this.used > this.#highWater) this.#highWater = this.used;
  }

  /** Grants waiters in order while they fit (asking the cache for room first); breaks a deadlock. */
  #pump(): void {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        for (let head = this.#queue[0]; head; head = this.#queue[0]) {
          if (!this.#fits(head.bytes)) this.#reclaim?.(this.used + head.bytes - this.maxBytes);
          if (this.#fits(head.bytes)) head.grant();
          else if (!this.#breakDeadlock()) break;
        }
      } while (this.#again);
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * When every reservation holding room is waiting for more, nothing will ever be released:
   * refuse the youngest such waiter (its reader releases what it holds). True if one was.
   */
  #breakDeadlock(): boolean {
    for (const r of this.#open) if (r.bytes > 0 && r.waiting === 0) return false;
    for (let i = this.#queue.length - 1; i >= 0; i--) {
      const w = this.#queue[i];
      if (w && w.reservation.bytes > 0) {
        w.refuse(new MemoryBudgetFull());
        // Its room is given back now, not when its reader gets round to releasing it.
        this.release(w.reservation);
        return true;
      }
    }
    return false;
  }
}

/** The room one body holds in the budget. */
export class Reservation {
  /** Bytes reserved so far. */
  bytes = 0;
  /** @internal How many of its grows are waiting for room (a request may read several bodies at once). */
  waiting = 0;

  constructor(private readonly budget: MemoryBudget) {}

  /**
   * Reserves `bytes` more: at once if they fit (after the cache gives back what it can),
   * else after a bounded wait. Rejects with MemoryBudgetFull when no room came in time,
   * with the signal's reason when the caller left, and with a RangeError when the body
   * would be larger than the whole budget.
   */
  grow(bytes: number, signal?: AbortSignal): Promise<void> {
    return this.budget.grow(this, bytes, signal);
  }

  /** Whether it still holds (or may take) room: not yet released. */
  get open(): boolean {
    return this.budget.isOpen(this);
  }

  /** Gives back part of what it holds (what a failed read had taken), keeping it open. */
  shrink(bytes: number): void {
    this.budget.shrink(this, bytes);
  }

  /** Gives all of it back (idempotent); a pending grow is refused. */
  release(): void {
    this.budget.release(this);
  }
}
