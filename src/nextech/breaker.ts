/**
 * A circuit breaker per (practice, endpoint): after `threshold` consecutive failures
 * (timeouts, connection errors, 5xx — not 4xx, which are answers) it opens, and calls fail
 * fast with 503 + Retry-After for `coolOffMs`; then one probe is let through (half-open):
 * success closes it, failure opens it again.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitOpen extends Error {
  constructor(readonly retryAfterMs: number) {
    super('circuit open');
    this.name = 'CircuitOpen';
  }
}

interface Circuit {
  failures: number;
  openedAt?: number;
  probing: boolean;
}

export interface BreakerOptions {
  threshold: number;
  coolOffMs: number;
  now?: () => number;
  onChange?: (key: string, state: BreakerState) => void;
}

/** (practice, endpoint) keys remembered for readiness, at most. */
const MAX_SEEN = 1_000;

export class Breakers {
  readonly #circuits = new Map<string, Circuit>();
  readonly #seen = new Set<string>();

  constructor(private readonly opts: BreakerOptions) {}

  /** Throws CircuitOpen when the call must not go; otherwise lets it (maybe as the probe). */
  admit(key: string): void {
    // Keys come from request input (the practice): remember the most recent ones only.
    this.#seen.delete(key);
    this.#seen.add(key);
    if (this.#seen.size > MAX_SEEN) {
      const oldest = this.#seen.values().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    const c = this.#circuits.get(key);
    if (!c || c.openedAt === undefined) return;
    const left = c.openedAt + this.opts.coolOffMs - this.#now();
    if (left > 0 || c.probing) throw new CircuitOpen(Math.max(left, 1000));
    c.probing = true;
    this.opts.onChange?.(key, 'half-open');
  }

  success(key: string): void {
    const c = this.#circuits.get(key);
    if (!c) return;
    const wasOpen = c.openedAt !== undefined;
    this.#circuits.delete(key);
    if (wasOpen) this.opts.onChange?.(key, 'closed');
  }

  failure(key: string): void {
    const c = this.#circuits.get(key) ?? { failures: 0, probing: false };
    c.failures++;
    if (c.probing || c.failures >= this.opts.threshold) {
      c.openedAt = this.#now();
      c.probing = false;
      this.opts.onChange?.(key, 'open');
    }
    this.#circuits.set(key, c);
  }

  /** A call that ended neither way (e.g. the client left): a held probe slot is released. */
  release(key: string): void {
    const c = this.#circuits.get(key);
    if (c) c.probing = false;
  }

  state(key: string): BreakerState {
    const c = this.#circuits.get(key);
    if (!c || c.openedAt === undefined) return 'closed';
    return c.probing ? 'half-open' : 'open';
  }

  /** Whether every known circuit is open (for readiness). */
  allOpen(): boolean {
    const states = [...this.#seen].map((k) => this.state(k));
    return states.length > 0 && states.every((s) => s === 'open');
  }

  #now(): number {
    return this.opts.now?.() ?? Date.now();
  }
}
