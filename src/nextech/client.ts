/**
 * The Nextech EHR API client: the only code that talks to Nextech. It adds the auth and
 * practice headers, applies the deadline, retries transient failures of these idempotent
 * GETs (bounded, jittered), re-authenticates once on a 401 when the service manages the
 * token, and parses every body with zod. Callers get typed data or an UpstreamError.
 */
import { Agent, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { UpstreamError } from './errors.ts';
import { getJson } from './http.ts';
import { nextechPaths } from './paths.ts';
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
  timeouts: { requestMs: number; connectMs: number };
  /** Extra attempts for transient failures (connection errors, 502/503/504). */
  retries?: number;
  dispatcher?: Dispatcher;
  /** Observes every completed upstream attempt (for metrics and tests). */
  onCall?: (endpoint: string, outcome: string, ms: number) => void;
}

export interface EncounterQuery {
  /** ISO instants or dates; omitted = unbounded on that side. */
  start?: string;
  end?: string;
  section?: string;
}

const TRANSIENT = new Set([502, 503, 504]);

export class NextechClient {
  readonly #base: string;
  readonly #dispatcher: Dispatcher;
  readonly #opts: NextechClientOptions;

  constructor(opts: NextechClientOptions) {
    this.#opts = opts;
    this.#base = opts.baseUrl.replace(/\/+$/, '');
    this.#dispatcher =
      opts.dispatcher ??
      new Agent({
        connect: { timeout: opts.timeouts.connectMs },
        headersTimeout: opts.timeouts.requestMs,
        bodyTimeout: opts.timeouts.requestMs,
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

  async #get<S extends z.ZodType>(
    ctx: CallContext,
    endpoint: string,
    path: string,
    query: Record<string, string>,
    schema: S,
  ): Promise<z.output<S>> {
    const url = new URL(this.#base + path);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const body = await this.#withRetries(ctx, endpoint, url);
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      this.#opts.onCall?.(endpoint, 'bad-response', 0);
      throw new UpstreamError({ kind: 'bad-response', detail: 'body does not match the schema' }, endpoint);
    }
    return parsed.data;
  }

  async #withRetries(ctx: CallContext, endpoint: string, url: URL): Promise<unknown> {
    const deadline = Date.now() + this.#opts.timeouts.requestMs;
    const maxAttempts = 1 + (this.#opts.retries ?? 2);
    let reauthenticated = false;
    for (let attempt = 1; ; attempt++) {
      const token = await this.#opts.credentials.token(ctx);
      try {
        return await this.#attempt(ctx, endpoint, url, token, deadline);
      } catch (err) {
        if (!(err instanceof UpstreamError) || ctx.signal?.aborted) throw err;
        const f = err.failure;
        if (f.kind === 'unauthorized') {
          if (reauthenticated) throw this.#opts.credentials.unauthorizedError?.() ?? err;
          if (await this.#opts.credentials.rejected(token)) {
            reauthenticated = true;
            continue;
          }
        }
        const transient = f.kind === 'connection' || (f.kind === 'server-error' && TRANSIENT.has(f.status));
        const backoff = jitteredBackoff(attempt);
        if (!transient || attempt >= maxAttempts || Date.now() + backoff >= deadline) throw err;
        await sleep(backoff, ctx.signal);
      }
    }
  }

  async #attempt(ctx: CallContext, endpoint: string, url: URL, token: string, deadline: number): Promise<unknown> {
    const started = Date.now();
    const timeout = AbortSignal.timeout(Math.max(1, deadline - started));
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
      this.#opts.onCall?.(endpoint, 'ok', Date.now() - started);
      return res.body;
    } catch (err) {
      this.#opts.onCall?.(endpoint, err instanceof UpstreamError ? err.failure.kind : 'aborted', Date.now() - started);
      throw err;
    }
  }
}

/** Full-jitter exponential backoff: a random wait in [0, 100ms·2^(attempt-1)], at most 2 s. */
function jitteredBackoff(attempt: number): number {
  return Math.floor(Math.random() * Math.min(2000, 100 * 2 ** (attempt - 1)));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
