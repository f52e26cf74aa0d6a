/**
 * Prometheus metrics (prom-client), exposed at GET /metrics: requests by route pattern,
 * method and status with latency; upstream calls by endpoint and outcome with latency;
 * retries, 429s, rate-budget waits and refusals, breaker state, coalesced calls, token
 * refreshes, cache reuse, the document memory budget and the work of in-memory matching.
 * Labels are route patterns, endpoint names and outcomes — never ids or values.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UpstreamObserver } from './source/nextech/policy.ts';

export class Metrics {
  readonly registry = new Registry();
  /** The text `/metrics` answers: this registry, or (in a WORKERS > 1 worker) the whole cluster's. */
  exposition: () => Promise<string> = () => this.registry.metrics();
  readonly requests = new Histogram({
    name: 'fhir_http_request_duration_seconds',
    help: 'FHIR facade requests by route pattern, method and status',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly upstream = new Histogram({
    name: 'nextech_upstream_request_duration_seconds',
    help: 'Attempts at the Nextech API by endpoint and outcome',
    labelNames: ['endpoint', 'outcome'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly retries = counter(this.registry, 'nextech_upstream_retries_total', 'Retries of Nextech calls', ['endpoint', 'reason']);
  readonly rateLimited = counter(this.registry, 'nextech_upstream_429_total', '429 answers from Nextech', ['endpoint']);
  readonly budgetWaits = counter(this.registry, 'nextech_rate_budget_waits_total', 'Calls queued by the rate budget', ['endpoint']);
  readonly budgetRefusals = counter(this.registry, 'nextech_rate_budget_refusals_total', 'Calls refused by the rate budget (429 without asking Nextech)', ['endpoint']);
  readonly coalesced = counter(this.registry, 'nextech_coalesced_calls_total', 'Calls that joined an identical call in flight', ['endpoint']);
  readonly breaker = new Gauge({
    name: 'nextech_circuit_state',
    help: 'Circuit breaker state by endpoint (0 closed, 1 half-open, 2 open), last change on any practice',
    labelNames: ['endpoint'],
    registers: [this.registry],
  });
  readonly sharedStateDegraded = new Gauge({
    name: 'facade_shared_state_degraded',
    help: '1 while Redis is unavailable and shared state (rate budget, single-use codes, managed token) runs per replica',
    registers: [this.registry],
  });
  readonly bulkJobs = new Gauge({ name: 'bulk_export_jobs_running', help: 'Bulk export jobs running in this process', registers: [this.registry] });
  readonly bulkQueued = new Gauge({ name: 'bulk_export_jobs_queued', help: 'Bulk export jobs waiting in this process for a free run slot (BULK_EXPORT_CONCURRENCY)', registers: [this.registry] });
  /** One series per job running here, removed when it stops: bounded by BULK_EXPORT_CONCURRENCY. */
  readonly bulkJobCalls = new Gauge({
    name: 'bulk_export_job_upstream_calls',
    help: 'Upstream calls spent so far by each bulk export job running in this process (label: the job id of its status URL)',
    labelNames: ['job'],
    registers: [this.registry],
  });
  readonly bulkResources = counter(this.registry, 'bulk_export_resources_total', 'Resources written by bulk export jobs', []);
  readonly bulkUpstreamCalls = counter(this.registry, 'bulk_export_upstream_calls_total', 'Upstream calls spent by bulk export jobs (each within the export share of the budget)', []);
  readonly connectionsClosed = counter(
    this.registry,
    'facade_connections_closed_total',
    'Connections the server closed itself: over a limit (source-limit, server-limit), silent, or refused by the HTTP parser (header-too-large, timeout, malformed)',
    ['reason'],
  );
  readonly tokenRefreshes = counter(this.registry, 'nextech_token_refreshes_total', 'Managed token refreshes', ['result']);
  readonly cacheHits = counter(this.registry, 'facade_cache_reuse_total', 'Upstream results served from a cache', ['cache']);
  readonly documentMemoryWaits = counter(
    this.registry,
    'facade_document_memory_waits_total',
    'Upstream bodies that waited for room in the document memory budget, by how the wait ended',
    ['outcome'],
  );
  #documentMemory: { inFlight: number; held: number } | undefined;
  readonly documentMemory = new Gauge({
    name: 'facade_document_memory_bytes',
    help: 'Document memory budget in use: bodies being read (in-flight) and CCD text cached (cached)',
    labelNames: ['use'],
    registers: [this.registry],
    collect: () => {
      const m = this.#documentMemory;
      if (!m) return;
      this.documentMemory.set({ use: 'in-flight' }, m.inFlight);
      this.documentMemory.set({ use: 'cached' }, m.held);
    },
  });

  #matching: { read: () => number; seen: number } | undefined;
  readonly matchEvaluations = new Counter({
    name: 'facade_search_match_evaluations_total',
    help: 'Search values compared with records in memory (records × values): the work searches and export filters cost here',
    registers: [this.registry],
    collect: () => {
      const m = this.#matching;
      if (!m) return;
      const now = m.read();
      if (now > m.seen) this.matchEvaluations.inc(now - m.seen);
      m.seen = now;
    },
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Reports the matcher's work at each scrape, from what it has done since now. */
  watchMatching(read: () => number): void {
    this.#matching = { read, seen: read() };
  }

  /** Reports the document memory budget's use at each scrape. */
  watchDocumentMemory(budget: { inFlight: number; held: number }): void {
    this.#documentMemory = budget;
  }

  /** The observer to give the Nextech client. */
  upstreamObserver(): UpstreamObserver {
    return {
      attempt: (endpoint, outcome, ms) => this.upstream.observe({ endpoint, outcome }, ms / 1000),
      retry: (endpoint, reason) => this.retries.inc({ endpoint, reason }),
      rateLimited: (endpoint) => this.rateLimited.inc({ endpoint }),
      budgetWait: (endpoint) => this.budgetWaits.inc({ endpoint }),
      budgetRefused: (endpoint) => this.budgetRefusals.inc({ endpoint }),
      coalesced: (endpoint) => this.coalesced.inc({ endpoint }),
      breaker: (endpoint, state) => this.breaker.set({ endpoint }, state === 'closed' ? 0 : state === 'half-open' ? 1 : 2),
    };
  }
}

function counter(registry: Registry, name: string, help: string, labelNames: string[]): Counter {
  return new Counter({ name, help, labelNames, registers: [registry] });
}
