/**
 * The Nextech EHR API client: the only code that talks to Nextech. It adds the auth and
 * practice headers and applies the upstream policy: separate connect/headers/body timeouts
 * under one deadline, a rate budget under Nextech's limit, a circuit breaker that trips on
 * Nextech's health and not on one record's (breaker.ts), a few seconds' memory of a patient
 * record's failures (negative-cache.ts), bounded and jittered retries of these idempotent
 * GETs, one wait on a 429 that fits the deadline, one
 * re-authentication on a 401 when the call used the service's managed token, and coalescing of
 * identical calls in flight (cancelled only when every caller has left). Every body is
 * parsed with zod. Callers get typed data or an UpstreamError.
 */
import { randomBytes } from 'node:crypto';
import { Agent, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { Breakers, CircuitOpen, outcomeOf, subjectOf, type Admission } from './breaker.ts';
import { Coalescer } from './coalesce.ts';
import { UpstreamError } from '../errors.ts';
import type { CallContext, ManagedCredentials, RequestRoom, UpstreamCredential } from '../call.ts';
import { getJson } from './http.ts';
import { keyedNames, type KeyedNames } from '../../crypto/keys.ts';
import type { MemoryBudget } from '../memory-budget.ts';
import { NegativeCache } from './negative-cache.ts';
import { nextechPaths } from './paths.ts';
import { DEFAULT_POLICY, type UpstreamObserver, type UpstreamPolicy } from './policy.ts';
import { RefusedSources } from './refused-sources.ts';
import { ProvenTokens, type ProvenStore } from './proven-tokens.ts';
import { RateBudget, RateBudgetExceeded } from './rate-budget.ts';
import { sleep } from './sleep.ts';
import {
  EhrCategoryListSchema,
  EhrEncounterListSchema,
  EhrPatientListSchema,
  type EhrEncounter,
  type EhrPatient,
} from './schemas.ts';

export interface NextechClientOptions {
  baseUrl: string;
  /** The managed token, when the service holds one; calls with the `managed` credential need it. */
  managed?: ManagedCredentials;
  policy?: Partial<UpstreamPolicy>;
  dispatcher?: Dispatcher;
  observer?: UpstreamObserver;
  /** Every body read counts against this document memory budget until it is parsed. */
  memory?: MemoryBudget;
  /** The rate ledger shared with the other replicas (src/shared/store.ts), if any. */
  sharedBudget?: { takeSlot(key: string, gapMs: number): Promise<number> };
  /** Where passed-through tokens Nextech accepted are remembered (the shared store: every replica, across restarts). */
  proven?: ProvenStore;
  /**
   * The secret that keys the names this client gives tokens in shared state — proven tokens,
   * each token's rate budget — the same on every replica (crypto/keys.ts, stateNamesSecret).
   * Absent: a key of this process's own (nothing it names is then shared).
   */
  keyring?: string;
}

export interface EncounterQuery {
  /** ISO instants or dates; omitted = unbounded on that side. */
  start?: string;
  end?: string;
  section?: string;
}


export class NextechClient {
  readonly #base: string;
  readonly #dispatcher: Dispatcher;
  readonly #opts: NextechClientOptions;
  readonly #policy: UpstreamPolicy;
  readonly #budget: RateBudget;
  readonly #coalescer = new Coalescer();
  /** Passed-through tokens Nextech has accepted (keyed hashes, shared by the replicas). */
  readonly #proven: ProvenTokens;
  /** Sources whose made-up token Nextech just refused: they queue together in the unproven share. */
  readonly #refused = new RefusedSources();
  /** Names of the tokens whose budgets are kept (keyed hashes). */
  readonly #budgetNames: KeyedNames;
  /** Circuit breakers by (practice, endpoint); readiness reads them. */
  readonly breakers: Breakers;
  /** A patient record's failures (500, unusable bodies) answered again for a few seconds without a call. */
  readonly #negative = new NegativeCache();

  constructor(opts: NextechClientOptions) {
    this.#opts = opts;
    this.#policy = { ...DEFAULT_POLICY, ...opts.policy };
    this.#base = opts.baseUrl.replace(/\/+$/, '');
    const keyring = opts.keyring ?? randomBytes(32).toString('base64url');
    this.#proven = new ProvenTokens({ keyring, ...(opts.proven ? { store: opts.proven } : {}) });
    // A token's budget is named by a keyed hash of it: the shared ledger (Redis) never holds the
    // token, nor a plain hash anyone holding or guessing a token could match.
    this.#budgetNames = keyedNames(keyring, 'nextech-fhir-facade rate budget owners v1');
    // Deadlines, budget and breaker run on real time, whatever clock the service's data uses.
    const now = Date.now;
    // The window is a little over a second: requests leave here evenly spaced but arrive
    // with network jitter, and Nextech counts arrivals.
    const shared = opts.sharedBudget;
    this.#budget = new RateBudget({
      perWindow: this.#policy.ratePerSecond,
      windowMs: 1100,
      now,
      ...(shared ? { shared: { takeSlot: (key: string, gapMs: number) => shared.takeSlot(`budget:${key.replace('\u0000', ':')}`, gapMs) } } : {}),
    });
    this.breakers = new Breakers({
      threshold: this.#policy.breakerThreshold,
      coolOffMs: this.#policy.breakerCoolOffMs,
      now,
      onChange: (key, state) => opts.observer?.breaker?.(key.split('\u0000')[1] ?? key, state),
    });
    this.#dispatcher =
      opts.dispatcher ??
      new Agent({
        connect: { timeout: this.#policy.connectMs },
        headersTimeout: this.#policy.headersMs,
        bodyTimeout: this.#policy.bodyMs,
        keepAliveTimeout: 10_000,
      });
  }

  /** Patients whose name or chart number match `term` (GET /search?term=). */
  searchPatients(ctx: CallContext, term: string): Promise<EhrPatient[]> {
    const p = nextechPaths.searchPatients;
    return this.#get(ctx, p.name, p.path(), { term }, EhrPatientListSchema);
  }

  /** A patient's encounters with their CCDs (GET /{patientId}/encounters/search). */
  searchEncounters(ctx: CallContext, patientId: number, q: EncounterQuery = {}): Promise<EhrEncounter[]> {
    const p = nextechPaths.searchEncounters;
    const query: Record<string, string> = {};
    if (q.start !== undefined) query.start = q.start;
    if (q.end !== undefined) query.end = q.end;
    if (q.section !== undefined) query.section = q.section;
    return this.#get(ctx, p.name, p.path(patientId), query, EhrEncounterListSchema, true);
  }

  /** The valid CCD section names (GET /encounters/categories). */
  listCategories(ctx: CallContext): Promise<string[]> {
    const p = nextechPaths.categories;
    return this.#get(ctx, p.name, p.path(), {}, EhrCategoryListSchema);
  }

  async close(): Promise<void> {
    if (!this.#opts.dispatcher) await this.#dispatcher.close();
  }

  #get<S extends z.ZodType>(
    ctx: CallContext,
    endpoint: string,
    path: string,
    query: Record<string, string>,
    schema: S,
    /** Whether the request keeps what the body held (CCD listings) or gives it back once parsed. */
    intoRoom = false,
  ): Promise<z.output<S>> {
    const url = new URL(this.#base + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    // Identical GETs in flight for the same practice and caller share one upstream call.
    const key = [ctx.practiceId, ctx.callerKey, url.toString()].join('\u0000');
    const remembered = this.#negative.get(ctx.practiceId, ctx.callerKey, url);
    if (remembered) return Promise.reject(new UpstreamError(remembered, endpoint));
    return this.#coalescer.run(
      key,
      ctx.signal,
      async (signal) => {
        // The breaker judges the whole call: after its retries, and after the schema parse.
        const admission = this.#admit(`${ctx.practiceId}\u0000${endpoint}`, endpoint, subjectOf(endpoint, url, ctx.callerKey));
        try {
          const body = await this.#withPolicy({ ...ctx, signal }, endpoint, url, admission, intoRoom);
          const parsed = schema.safeParse(body);
          if (!parsed.success) {
            this.#opts.observer?.attempt?.(endpoint, 'schema-mismatch', 0);
            throw new UpstreamError({ kind: 'bad-response', detail: 'body does not match the schema' }, endpoint);
          }
          this.breakers.settle(admission, 'success');
          return parsed.data;
        } catch (err) {
          const outcome = outcomeOf(err);
          this.breakers.settle(admission, outcome);
          if (outcome === 'record' && err instanceof UpstreamError) this.#negative.set(endpoint, ctx.practiceId, ctx.callerKey, url, err.failure);
          throw err;
        }
      },
      () => this.#opts.observer?.coalesced?.(endpoint),
    );
  }

  /** Rate budget, breaker, retries, one wait on 429, one re-authentication on 401. */
  async #withPolicy(ctx: CallContext, endpoint: string, url: URL, admission: Admission, keep: boolean): Promise<unknown> {
    const now = Date.now;
    const deadline = now() + this.#policy.requestMs;
    // Waiting in the shared share of unproven tokens is short: a flood of invented tokens
    // gets 429s fast instead of a queue that a real newcomer would wait behind.
    const unprovenUntil = Math.min(deadline, now() + UNPROVEN_MAX_WAIT_MS);
    let reauthenticated = false;
    let waitedFor429 = false;
    for (let attempt = 1; ; attempt++) {
      // A retry stops once the circuit has opened meanwhile (the probe's own retries go on).
      if (attempt > 1) this.#readmit(admission, endpoint);
      // A caller pacing itself (a bulk export within its share) waits first.
      if (ctx.pace) await ctx.pace(ctx.signal);
      // The token before the slot: a slot taken while the managed token is fetched (its first
      // use, a refresh) would be spent only when it arrives, together with the slots taken
      // meanwhile, and Nextech counts arrivals: a bunch over its limit (429s).
      const token = await this.#token(ctx.credential);
      // Nextech limits requests per user and endpoint: the budget is the credential's, shared
      // fairly between the callers spending it.
      await this.#acquire(`${this.#budgetOwner(ctx.credential)}\u0000${endpoint}`, ctx.callerKey, endpoint, deadline, ctx.signal);
      // Asked after that wait: a token Nextech accepted meanwhile no longer spends the unproven
      // share. Its queues there are per source, not per token: a flood of made-up tokens from
      // one address is one queue, which another address's newcomer takes turns with.
      const unproven = await this.#unproven(ctx.credential);
      if (unproven) await this.#acquire(`${UNPROVEN}\u0000${endpoint}`, this.#unprovenLane(ctx), endpoint, unprovenUntil, ctx.signal);
      try {
        const body = await this.#attempt(ctx, endpoint, url, token, deadline, keep);
        if (isPassedThrough(ctx.credential)) this.#proven.prove(ctx.credential.token);
        return body;
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        const f = err.failure;
        if (ctx.signal?.aborted) throw err;
        if (f.kind === 'unauthorized') {
          // A caller's own token was refused: the 401 is the caller's answer, and a token proven
          // before (now expired or revoked) waits with the unproven again.
          if (isPassedThrough(ctx.credential)) this.#proven.forget(ctx.credential.token);
          // A token nobody had vouched for, refused: its source queues with the refused from now on.
          if (unproven && ctx.source !== undefined) this.#refused.refused(ctx.source);
          const managed = ctx.credential.kind === 'managed' ? this.#opts.managed : undefined;
          if (!managed) throw err;
          if (reauthenticated) throw managed.unauthorizedError();
          if (await managed.rejected(token)) {
            reauthenticated = true;
            continue;
          }
          throw err;
        }
        if (f.kind === 'rate-limited') {
          this.#opts.observer?.rateLimited?.(endpoint);
          const waitMs = (f.retryAfterSeconds ?? 1) * 1000;
          if (waitedFor429 || now() + waitMs >= deadline) throw err;
          waitedFor429 = true;
          this.#opts.observer?.retry?.(endpoint, 'rate-limited');
          await sleep(waitMs, ctx.signal);
          continue;
        }
        const transient = f.kind === 'connection' || (f.kind === 'server-error' && TRANSIENT.has(f.status));
        const backoff = jitteredBackoff(attempt);
        if (!transient || attempt > this.#policy.retries || now() + backoff >= deadline) throw err;
        this.#opts.observer?.retry?.(endpoint, f.kind);
        await sleep(backoff, ctx.signal);
      }
    }
  }

  #token(credential: UpstreamCredential): Promise<string> {
    if (credential.kind === 'bearer') return Promise.resolve(credential.token);
    if (!this.#opts.managed) {
      return Promise.reject(new UpstreamError({ kind: 'credentials', detail: 'no managed credentials are configured' }, 'token'));
    }
    return this.#opts.managed.token();
  }

  /** Whose share of Nextech's limit a call spends: the credential's own, as a keyed hash of its token. */
  #budgetOwner(credential: UpstreamCredential): string {
    return credential.kind === 'managed' ? 'managed' : this.#budgetNames(credential.token);
  }

  /**
   * A token nobody vouches for yet (passed through, never accepted by Nextech) also spends the
   * one share all such tokens have together, so inventing tokens cannot widen the budget.
   */
  /**
   * A caller's queue in the unproven share: where the request comes from (NUL keeps it apart
   * from any caller key) — or the one lane of all sources whose made-up tokens Nextech just
   * refused — or, for work no request carries (none today), the caller.
   */
  #unprovenLane(ctx: CallContext): string {
    if (ctx.source === undefined) return ctx.callerKey;
    return this.#refused.has(ctx.source) ? REFUSED_LANE : `source\u0000${ctx.source}`;
  }

  async #unproven(credential: UpstreamCredential): Promise<boolean> {
    return isPassedThrough(credential) && !(await this.#proven.has(credential.token));
  }

  /** Lets a call through its (practice, endpoint) circuit, or throws circuit-open. */
  #admit(breakerKey: string, endpoint: string, subject: string): Admission {
    return circuitOpenAsUpstream(endpoint, () => this.breakers.admit(breakerKey, subject));
  }

  #readmit(admission: Admission, endpoint: string): void {
    circuitOpenAsUpstream(endpoint, () => this.breakers.readmit(admission));
  }

  async #acquire(key: string, callerKey: string, endpoint: string, deadline: number, signal?: AbortSignal): Promise<void> {
    const before = this.#budget.waited;
    const acquired = this.#budget.acquire(key, callerKey, deadline, signal);
    // Counted when queued, not when served: a flood shows at once.
    if (this.#budget.waited > before) this.#opts.observer?.budgetWait?.(endpoint);
    try {
      await acquired;
    } catch (err) {
      if (err instanceof RateBudgetExceeded) {
        this.#opts.observer?.budgetRefused?.(endpoint);
        throw new UpstreamError({ kind: 'budget', retryAfterSeconds: Math.max(1, Math.ceil(err.retryAfterMs / 1000)) }, endpoint);
      }
      throw err;
    }
  }

  async #attempt(ctx: CallContext, endpoint: string, url: URL, token: string, deadline: number, keep: boolean): Promise<unknown> {
    const started = Date.now();
    const timeout = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, timeout]) : timeout;
    try {
      const res = await getJson({
        url,
        endpoint,
        dispatcher: this.#dispatcher,
        signal,
        timedOut: () => timeout.aborted,
        headers: { authorization: `Bearer ${token}`, 'x-nextech-practice-id': ctx.practiceId },
        ...(this.#opts.memory ? { memory: this.#opts.memory } : {}),
        ...roomOf(ctx, keep),
      });
      this.#opts.observer?.attempt?.(endpoint, 'ok', Date.now() - started);
      return res.body;
    } catch (err) {
      this.#opts.observer?.attempt?.(endpoint, err instanceof UpstreamError ? err.failure.kind : 'aborted', Date.now() - started);
      throw err;
    }
  }
}

const TRANSIENT = new Set([502, 503, 504]);

/**
 * The request's room for one read: a body the request keeps (a CCD listing) counts what the
 * request will make of it; any other body (a patient search) counts itself until parsed, in
 * the same room, so a request never waits for room behind its own reservation.
 */
function roomOf(ctx: CallContext, keep: boolean): { room?: RequestRoom & { keep: boolean } } {
  const room = ctx.room?.();
  if (!room) return {};
  return { room: keep ? { ...room, keep } : { reservation: room.reservation, perByte: 1, keep } };
}

/** The one budget every token not yet accepted by Nextech also spends, and the longest wait in it. */
const UNPROVEN = 'unproven';
const UNPROVEN_MAX_WAIT_MS = 2_000;

/** A caller's own token, passed through: Nextech alone can vouch for it. */
function isPassedThrough(credential: UpstreamCredential): credential is { kind: 'bearer'; token: string; vouched: false } {
  return credential.kind === 'bearer' && !credential.vouched;
}

/** The one lane of the unproven share that every lately refused source queues in (NUL: never a caller key). */
const REFUSED_LANE = 'refused\u0000';

/** Runs a breaker check, turning its CircuitOpen into the UpstreamError callers handle. */
function circuitOpenAsUpstream<T>(endpoint: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof CircuitOpen) {
      throw new UpstreamError({ kind: 'circuit-open', retryAfterSeconds: Math.ceil(err.retryAfterMs / 1000) }, endpoint);
    }
    throw err;
  }
}

/** Full-jitter exponential backoff: a random wait in [0, 100ms·2^(attempt-1)], at most 2 s. */
function jitteredBackoff(attempt: number): number {
  return Math.floor(Math.random() * Math.min(2000, 100 * 2 ** (attempt - 1)));
}
