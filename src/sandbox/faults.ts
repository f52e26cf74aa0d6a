/**
 * Fault injection for the sandbox's Nextech API routes (`/ehr/api/*`, never `/oauth2/*`):
 * the fault and rule types, the control tests use to add and clear rules, and the choice
 * of what to inject into one request. How each fault goes on the wire lives in
 * fault-inject.ts; the `SANDBOX_FAULTS` text form in fault-spec.ts.
 *
 * Choosing: rules are checked in order. A rule applies when its `path` matches, its
 * `times` is not used up and a draw of `random()` falls under its `rate` (no draw is made
 * for a rate of 1, so deterministic sequences are only consumed by probabilistic rules).
 * A `latency` rule that applies adds its delay and checking goes on, so a baseline delay
 * composes with the failures after it (`latency=200;status=503@0.1`); the first other rule
 * that applies is the request's fault and ends the search. `times` counts injections:
 * once a rule has been applied that many times it is removed.
 */

/** One way the upstream can misbehave. */
export type Fault =
  /** Delay before answering normally. */
  | { kind: 'latency'; ms: number }
  /** An error status with a small JSON body (and Retry-After if given). */
  | { kind: 'status'; status: 500 | 502 | 503 | 504; retryAfter?: string }
  /** 429 with Retry-After (delta-seconds or HTTP-date) if given. */
  | { kind: 'rate-limit'; retryAfter?: string }
  /** The socket is destroyed (TCP RST) without a response. */
  | { kind: 'reset' }
  /** Headers with the full content-length, half of the real body, then the socket closes. */
  | { kind: 'truncate' }
  /** 200 `application/json` whose body is not JSON. */
  | { kind: 'malformed-json' }
  /** 200 with valid JSON of the wrong shape (e.g. patients whose patientId is "abc"). */
  | { kind: 'schema-break' }
  /** The real response, its body dribbled out `chunkBytes` every `intervalMs`. */
  | { kind: 'slow-drip'; chunkBytes: number; intervalMs: number };

/** The name of a fault. */
export type FaultKind = Fault['kind'];

/** Every fault kind, in the order the docs list them. */
export const FAULT_KINDS: readonly FaultKind[] = [
  'latency',
  'status',
  'rate-limit',
  'reset',
  'truncate',
  'malformed-json',
  'schema-break',
  'slow-drip',
];

/** The statuses a `status` fault may send. */
export const FAULT_STATUSES: readonly number[] = [500, 502, 503, 504];

/** When and how often to inject a fault. */
export interface FaultRule {
  fault: Fault;
  /** Probability 0..1 per matching request (default 1). */
  rate?: number;
  /** Only requests whose path (e.g. `/ehr/api/search`, no query) contains or matches this. */
  path?: string | RegExp;
  /** Apply to at most this many requests, then the rule is removed. */
  times?: number;
}

/** The handle tests and benchmarks use to steer faults at run time. */
export interface FaultControl {
  /** Appends a rule after the existing ones. Throws on an invalid rule. */
  add(rule: FaultRule): void;
  /** Removes every rule (per-run ones included) and zeroes `injected`. */
  clear(): void;
  /** The live rules, in order; `times` shows what is left of a limited rule. */
  readonly rules: readonly FaultRule[];
  /** How many faults were injected so far, by kind (kinds never injected are absent). */
  readonly injected: Record<string, number>;
}

/** What to do to one request: a delay (when a latency rule applied), then maybe another fault. */
export interface FaultDecision {
  delayMs?: number;
  fault?: Exclude<Fault, { kind: 'latency' }>;
}

/** The control plus the choice the fault middleware makes per request. */
export interface FaultPlan extends FaultControl {
  /** Decides the faults of one request to `path`, consuming `times` and counting them. */
  decide(path: string): FaultDecision;
}

const isRetryAfter = (v: string): boolean => /^\d+$/.test(v) || (/^[\w ,:-]+$/.test(v) && !Number.isNaN(Date.parse(v)));
const isCount = (n: number, min: number): boolean => Number.isInteger(n) && n >= min;

/** Why a fault is invalid, or undefined when it is fine. */
function faultProblem(fault: Fault): string | undefined {
  switch (fault.kind) {
    case 'latency':
      return isCount(fault.ms, 0) ? undefined : 'latency ms must be an integer >= 0';
    case 'status':
      if (!FAULT_STATUSES.includes(fault.status)) return `status must be one of ${FAULT_STATUSES.join(', ')}`;
      return fault.retryAfter === undefined || isRetryAfter(fault.retryAfter) ? undefined : 'retryAfter must be seconds or an HTTP-date';
    case 'rate-limit':
      return fault.retryAfter === undefined || isRetryAfter(fault.retryAfter) ? undefined : 'retryAfter must be seconds or an HTTP-date';
    case 'slow-drip':
      if (!isCount(fault.chunkBytes, 1)) return 'slow-drip chunkBytes must be an integer >= 1';
      return isCount(fault.intervalMs, 0) ? undefined : 'slow-drip intervalMs must be an integer >= 0';
    case 'reset':
    case 'truncate':
    case 'malformed-json':
    case 'schema-break':
      return undefined;
    default:
      return `unknown fault kind ${JSON.stringify((fault as { kind?: unknown }).kind)}`;
  }
}

/** Throws a clear Error unless the rule can be applied as written. */
export function assertFaultRule(rule: FaultRule): void {
  const problem =
    faultProblem(rule.fault) ??
    (rule.rate !== undefined && !(rule.rate >= 0 && rule.rate <= 1) ? 'rate must be between 0 and 1' : undefined) ??
    (rule.times !== undefined && !isCount(rule.times, 1) ? 'times must be an integer >= 1' : undefined);
  if (problem) throw new Error(`Invalid fault rule: ${problem}.`);
}

function pathMatches(filter: string | RegExp | undefined, path: string): boolean {
  if (filter === undefined) return true;
  // String#search ignores (and restores) lastIndex, so a /g or /y RegExp stays stateless.
  return typeof filter === 'string' ? path.includes(filter) : path.search(filter) !== -1;
}

interface LiveRule {
  rule: FaultRule;
  remaining: number;
}

/** Builds the fault plan of one sandbox from its per-run rules and random source. */
export function createFaultPlan(initial: readonly FaultRule[], random: () => number): FaultPlan {
  let live: LiveRule[] = [];
  let counts: Record<string, number> = {};
  const add = (rule: FaultRule): void => {
    assertFaultRule(rule);
    live.push({ rule, remaining: rule.times ?? Number.POSITIVE_INFINITY });
  };
  const applies = (entry: LiveRule, path: string): boolean => {
    const rate = entry.rule.rate ?? 1;
    if (!pathMatches(entry.rule.path, path) || rate <= 0) return false;
    return rate >= 1 || random() < rate;
  };
  const consume = (entry: LiveRule): void => {
    entry.remaining -= 1;
    if (entry.remaining <= 0) live = live.filter((e) => e !== entry);
    counts[entry.rule.fault.kind] = (counts[entry.rule.fault.kind] ?? 0) + 1;
  };
  initial.forEach(add);

  return {
    add,
    clear() {
      live = [];
      counts = {};
    },
    get rules() {
      return live.map(({ rule, remaining }) => (rule.times === undefined ? rule : { ...rule, times: remaining }));
    },
    get injected() {
      return { ...counts };
    },
    decide(path) {
      let delayMs: number | undefined;
      for (const entry of [...live]) {
        if (!applies(entry, path)) continue;
        consume(entry);
        const { fault } = entry.rule;
        if (fault.kind !== 'latency') return delayMs === undefined ? { fault } : { delayMs, fault };
        delayMs = (delayMs ?? 0) + fault.ms;
      }
      return delayMs === undefined ? {} : { delayMs };
    },
  };
}
