/**
 * The Nextech EHR API client: the only code that talks to Nextech. It adds the auth and
 * practice headers and applies the upstream policy: separate connect/headers/body timeouts
 * under one deadline, a rate budget under Nextech's limit, a circuit breaker, bounded and
 * jittered retries of these idempotent GETs, one wait on a 429 that fits the deadline, one
 * re-authentication on a 401 when the service manages the token, and coalescing of
 * identical calls in flight (cancelled only when every caller has left). Every body is
 * parsed with zod. Callers get typed data or an UpstreamError.
 */
import { Agent, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { Breakers, CircuitOpen } from './breaker.ts';
import { Coalescer } from './coalesce.ts';
import { UpstreamError, type UpstreamFailure } from './errors.ts';
import { getJson } from './http.ts';
import { tokenFingerprint } from './fingerprint.ts';
import { nextechPaths } from './paths.ts';
import { DEFAULT_POLICY, type UpstreamObserver, type UpstreamPolicy } from './policy.ts';
import { RateBudget, RateBudgetExceeded } from './rate-budget.ts';
import { sleep } from './sleep.ts';
import {
  EhrCategoryListSchema,
  EhrEncounterListSchema,
  EhrPatientListSchema,
  type EhrEncounter,
  type EhrPatient,
} from './schemas.ts';

/** Who is calling and for which practice; every upstream call carries both. */
export interface CallContext {
  practiceId: string;
  /** The caller's bearer token, forwarded in pass-through mode. */
  callerToken?: string;
  /** Aborts the upstream call when the client goes away. */
  signal?: AbortSignal;
}

/** Supplies the bearer token for a call (pass-through or managed). */
export interface Credentials {
  token(ctx: CallContext): Promise<string>;
  /**
   * Called after an upstream 401; resolves true if a retry with a new token makes sense,
   * false to pass the 401 on, or rejects with the error the caller should see instead.
   */
  rejected(token: string): Promise<boolean>;
  /** The error to answer when a retried call is refused again (default: the 401 itself). */
  unauthorizedError?(): UpstreamError;
}

export interface NextechClientOptions {
  baseUrl: string;
  credentials: Credentials;
  policy?: Partial<UpstreamPolicy>;
  dispatcher?: Dispatcher;
  observer?: UpstreamObserver;
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
  /** Circuit breakers by (practice, endpoint); readiness reads them. */
  readonly breakers: Breakers;

  constructor(opts: NextechClientOptions) {
    this.#opts = opts;
    this.#policy = { ...DEFAULT_POLICY, ...opts.policy };
    this.#base = opts.baseUrl.replace(/\/+$/, '');
    // Deadlines, budget and breaker run on real time, whatever clock the service's data uses.
    const now = Date.now;
    // The window is a little over a second: requests leave here evenly spaced but arrive
    // with network jitter, and Nextech counts arrivals.
    this.#budget = new RateBudget({ perWindow: this.#policy.ratePerSecond, windowMs: 1100, now });
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
    return this.#get(ctx, p.name, p.path(patientId), query, EhrEncounterListSchema);
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
  ): Promise<z.output<S>> {
    const url = new URL(this.#base + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    // Identical GETs in flight for the same practice and caller share one upstream call.
    const key = [ctx.practiceId, callerOf(ctx), url.toString()].join('\u0000');
    return this.#coalescer.run(
      key,
      ctx.signal,
      async (signal) => {
        const body = await this.#withPolicy({ ...ctx, signal }, endpoint, url);
        const parsed = schema.safeParse(body);
        if (!parsed.success) {
          this.#opts.observer?.attempt?.(endpoint, 'schema-mismatch', 0);
          throw new UpstreamError({ kind: 'bad-response', detail: 'body does not match the schema' }, endpoint);
        }
        return parsed.data;
      },
      () => this.#opts.observer?.coalesced?.(endpoint),
    );
  }

  /** Rate budget, breaker, retries, one wait on 429, one re-authentication on 401. */
  async #withPolicy(ctx: CallContext, endpoint: string, url: URL): Promise<unknown> {
    const now = Date.now;
    const deadline = now() + this.#policy.requestMs;
    const breakerKey = `${ctx.practiceId}\u0000${endpoint}`;
    const budgetKey = `${ctx.practiceId}\u0000${callerOf(ctx)}\u0000${endpoint}`;
    let reauthenticated = false;
    let waitedFor429 = false;
    for (let attempt = 1; ; attempt++) {
      this.#admit(breakerKey, endpoint);
      await this.#acquire(budgetKey, endpoint, deadline, ctx.signal);
      const token = await this.#opts.credentials.token(ctx);
      try {
        const body = await this.#attempt(ctx, endpoint, url, token, deadline);
        this.breakers.success(breakerKey);
        return body;
      } catch (err) {
        if (!(err instanceof UpstreamError)) {
          this.breakers.release(breakerKey);
          throw err;
        }
        const f = err.failure;
        if (countsAsFailure(f)) this.breakers.failure(breakerKey);
        else this.breakers.release(breakerKey);
        if (ctx.signal?.aborted) throw err;
        if (f.kind === 'unauthorized') {
          if (reauthenticated) throw this.#opts.credentials.unauthorizedError?.() ?? err;
          if (await this.#opts.credentials.rejected(token)) {
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

  #admit(breakerKey: string, endpoint: string): void {
    try {
      this.breakers.admit(breakerKey);
    } catch (err) {
      if (err instanceof CircuitOpen) {
        throw new UpstreamError({ kind: 'circuit-open', retryAfterSeconds: Math.ceil(err.retryAfterMs / 1000) }, endpoint);
      }
      throw err;
    }
  }

  async #acquire(key: string, endpoint: string, deadline: number, signal?: AbortSignal): Promise<void> {
    try {
      const before = this.#budget.waited;
      await this.#budget.acquire(key, deadline, signal);
      if (this.#budget.waited > before) this.#opts.observer?.budgetWait?.(endpoint);
    } catch (err) {
      if (err instanceof RateBudgetExceeded) {
        throw new UpstreamError({ kind: 'budget', retryAfterSeconds: Math.max(1, Math.ceil(err.retryAfterMs / 1000)) }, endpoint);
      }
      throw err;
    }
  }

  async #attempt(ctx: CallContext, endpoint: string, url: URL, token: string, deadline: number): Promise<unknown> {
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

/** Who is calling, for keys: the token's fingerprint, or `-` for the service's own token. */
const callerOf = (ctx: CallContext) => (ctx.callerToken === undefined ? '-' : tokenFingerprint(ctx.callerToken));

/** Failures that say Nextech is unwell (not answers such as 4xx, nor our own refusals). */
function countsAsFailure(f: UpstreamFailure): boolean {
  return f.kind === 'timeout' || f.kind === 'connection' || f.kind === 'server-error' || f.kind === 'bad-response';
}

/** Full-jitter exponential backoff: a random wait in [0, 100ms·2^(attempt-1)], at most 2 s. */
function jitteredBackoff(attempt: number): number {
  return Math.floor(Math.random() * Math.min(2000, 100 * 2 ** (attempt - 1)));
}
