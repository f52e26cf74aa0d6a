/**
 * Circuit breakers per (practice, endpoint) that trip on Nextech's health, not on one
 * record's or one caller's.
 *
 * Every upstream call (one logical call: after the client's retries, after the schema parse)
 * ends in one of four outcomes (`outcomeOf`):
 * - `success`: the body arrived, was JSON and matched its schema;
 * - `health`: Nextech could not be reached or did not answer in time (connection refused or
 *   reset, a body cut short, a timeout) or answered 502/503/504;
 * - `record`: Nextech answered for that URL, but with HTTP 500 (or another non-gateway 5xx)
 *   or a body we cannot use (not JSON, not the schema, too large, an unexpected status).
 *   Malformed and schema-breaking bodies are the record's, not Nextech's health: one patient's
 *   broken CCD must not pause every other patient. They never open a circuit (for a
 *   patient's encounter URL, negative-cache.ts keeps a repeat from calling again);
 * - `neutral`: answers that belong to the caller (400, 401, 403, 404, and 429, which is the
 *   caller token's limit) and our own refusals (rate budget, memory budget, credentials,
 *   circuit open, the caller leaving). They neither open nor close anything.
 *
 * Opening: a circuit keeps a sliding window of its successes and health failures (the last
 * WINDOW_MS, at most WINDOW_CALLS calls: call-window.ts). After a health failure it opens
 * when the window holds at least `threshold` calls (the minimum volume), at least
 * FAILURE_RATE of them health failures, and those failures came from at least `threshold`
 * distinct subjects (`subjectOf`: the patient of an encounter URL, otherwise the URL and the
 * caller). So NEXTECH_BREAKER_THRESHOLD means "failing calls for that many different
 * patients or searches", never "that many failures of one record".
 *
 * Open: calls fail fast (503 + Retry-After) for `coolOffMs`; then one call goes through as the
 * probe (half-open): a success closes the circuit and empties its window, a health failure
 * opens it again, any other outcome frees the probe slot for the next call.
 *
 * Bounded: a window is fixed-size typed arrays; at most MAX_CIRCUITS circuits are remembered
 * (least recently used first out), and one is created only when Nextech answered a call
 * (success) or a call failed for health — never for a refused practice or token. Subjects are
 * kept as keyed 32-bit hashes (the key is random per process), never as ids or terms.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { UpstreamError } from '../errors.ts';
import { nextechPaths } from './paths.ts';
import { CallWindow } from './call-window.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

/** How one upstream call ended, as far as the breaker is concerned (see the header). */
export type CallOutcome = 'success' | 'health' | 'record' | 'neutral';

export class CircuitOpen extends Error {
  constructor(readonly retryAfterMs: number) {
    super('circuit open');
    this.name = 'CircuitOpen';
  }
}

export interface BreakerOptions {
  /** Minimum calls in the window, and distinct failing subjects, before a circuit opens. */
  threshold: number;
  coolOffMs: number;
  now?: () => number;
  onChange?: (key: string, state: BreakerState) => void;
}

/** A call let through: which circuit, whose subject, and whether it is the half-open probe. */
export interface Admission {
  readonly key: string;
  readonly subject: number;
  readonly probe: boolean;
}

/** How far back a circuit looks (it remembers WINDOW_CALLS calls at most). */
const WINDOW_MS = 30_000;
/** The share of the window's calls that must be health failures. */
const FAILURE_RATE = 0.5;
/** Circuits remembered at most (keys come from request input: the practice). */
const MAX_CIRCUITS = 1_000;
/** Endpoints whose path names one patient's record: all its date windows are that patient's. */
const RECORD_IN_PATH: ReadonlySet<string> = new Set([nextechPaths.searchEncounters.name]);
const GATEWAY = new Set([502, 503, 504]);

/** Classifies how a call ended (an error thrown by the client, or anything else). */
export function outcomeOf(err: unknown): Exclude<CallOutcome, 'success'> {
  if (!(err instanceof UpstreamError)) return 'neutral';
  const f = err.failure;
  switch (f.kind) {
    case 'timeout':
    case 'connection':
      return 'health';
    case 'server-error':
      return GATEWAY.has(f.status) ? 'health' : 'record';
    case 'bad-response':
      return 'record';
    case 'rejected':
    case 'unauthorized':
    case 'forbidden':
    case 'not-found':
    case 'rate-limited':
    case 'credentials':
    case 'circuit-open':
    case 'budget':
    case 'memory':
      return 'neutral';
  }
}

/**
 * The subject of a call, before hashing: the patient for an endpoint whose path names one
 * (every date window of that record is the same subject, whoever asks), else the path and
 * query together with the caller (a search term, or the categories list, per caller).
 */
export function subjectOf(endpoint: string, url: URL, callerKey: string): string {
  return RECORD_IN_PATH.has(endpoint) ? `record\u0000${url.pathname}` : `call\u0000${url.pathname}${url.search}\u0000${callerKey}`;
}

interface Circuit {
  window: CallWindow;
  lastUsed: number;
  openedAt?: number;
  probing: boolean;
}

export class Breakers {
  readonly #circuits = new Map<string, Circuit>();
  /** Keys the subject hashes, so a stored hash cannot be matched against guessed ids. */
  readonly #salt = randomBytes(16);

  constructor(private readonly opts: BreakerOptions) {}

  /** Lets a call go (maybe as the probe), or throws CircuitOpen. Creates nothing. */
  admit(key: string, subject: string): Admission {
    const admission = (probe: boolean): Admission => ({ key, subject: this.#hash(subject), probe });
    const c = this.#touch(key);
    if (!c || c.openedAt === undefined) return admission(false);
    const left = c.openedAt + this.opts.coolOffMs - this.#now();
    if (left > 0 || c.probing) throw new CircuitOpen(Math.max(left, 1000));
    c.probing = true;
    this.opts.onChange?.(key, 'half-open');
    return admission(true);
  }

  /** Before a retry: throws CircuitOpen if the circuit opened since the call was admitted. */
  readmit(a: Admission): void {
    if (a.probe) return;
    const c = this.#circuits.get(a.key);
    if (c?.openedAt !== undefined) throw new CircuitOpen(Math.max(c.openedAt + this.opts.coolOffMs - this.#now(), 1000));
  }

  /** Records how an admitted call ended. */
  settle(a: Admission, outcome: CallOutcome): void {
    let c = this.#touch(a.key);
    if (outcome !== 'success' && outcome !== 'health') {
      // Nothing learned about Nextech's health: a held probe slot goes to the next call.
      if (a.probe && c) c.probing = false;
      return;
    }
    const now = this.#now();
    c ??= this.#create(a.key, now);
    if (c.openedAt !== undefined) {
      // Only the probe decides; late results of calls admitted before opening change nothing.
      if (a.probe && c.probing) this.#decide(a.key, c, outcome === 'success', now);
      return;
    }
    c.window.add(now, outcome === 'health', a.subject);
    if (outcome === 'health' && this.#trips(c, now)) this.#open(a.key, c, now);
  }

  state(key: string): BreakerState {
    const c = this.#circuits.get(key);
    if (!c || c.openedAt === undefined) return 'closed';
    return c.probing ? 'half-open' : 'open';
  }

  /** Whether every circuit in use (open, or used within the window) is open, for readiness. */
  allOpen(): boolean {
    const since = this.#now() - WINDOW_MS;
    let any = false;
    for (const [key, c] of this.#circuits) {
      if (c.openedAt === undefined && c.lastUsed < since) continue;
      any = true;
      if (this.state(key) !== 'open') return false;
    }
    return any;
  }

  #trips(c: Circuit, now: number): boolean {
    const t = c.window.tally(now - WINDOW_MS);
    const min = this.opts.threshold;
    return t.calls >= min && t.failures >= FAILURE_RATE * t.calls && t.subjects >= min;
  }

  #decide(key: string, c: Circuit, healthy: boolean, now: number): void {
    c.probing = false;
    if (!healthy) return this.#open(key, c, now);
    c.openedAt = undefined;
    c.window.clear();
    this.opts.onChange?.(key, 'closed');
  }

  #open(key: string, c: Circuit, now: number): void {
    c.openedAt = now;
    c.probing = false;
    this.opts.onChange?.(key, 'open');
  }

  /** The circuit, made most recently used; undefined if none is remembered. */
  #touch(key: string): Circuit | undefined {
    const c = this.#circuits.get(key);
    if (!c) return undefined;
    c.lastUsed = this.#now();
    this.#circuits.delete(key);
    this.#circuits.set(key, c);
    return c;
  }

  #create(key: string, now: number): Circuit {
    const c: Circuit = { window: new CallWindow(), lastUsed: now, probing: false };
    this.#circuits.set(key, c);
    if (this.#circuits.size > MAX_CIRCUITS) {
      const oldest = this.#circuits.keys().next().value;
      if (oldest !== undefined) this.#circuits.delete(oldest);
    }
    return c;
  }

  #hash(subject: string): number {
    return createHmac('sha256', this.#salt).update(subject).digest().readInt32LE(0);
  }

  #now(): number {
    return this.opts.now?.() ?? Date.now();
  }
}
