/**
 * Runs bulk export jobs in the background, member by member: each patient's resources are
 * found with the same searches the API answers (the registry's modules, with the job's
 * `_since` and `_typeFilter`s), written to the job's encrypted NDJSON files, and checkpointed.
 *
 * - **Within its share of Nextech's budget.** Every upstream call of a job first takes a slot
 *   of the export pacer — one ledger for all jobs of the credential, in the shared store (so
 *   with Redis, for all replicas) — at `BULK_EXPORT_SHARE` of the rate; the API's own callers
 *   keep the rest. The calls then pass the usual budget like any caller's.
 * - **Resumable.** A job's state (members done, each file's length) is written after each
 *   member; after a restart, files are cut back to that length and the job goes on from there,
 *   so nothing is written twice or lost.
 * - **Once.** A job runs where it holds its lease in the shared store (renewed as it goes), so
 *   with several replicas sharing `DATA_DIR` and Redis it runs on one of them.
 * - **A member that fails** (Nextech refuses the record, or it cannot be read) becomes an
 *   OperationOutcome line in the `error` file — its Patient id and why, no data — and the job
 *   goes on.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { FhirResource } from 'fhir/r4';
import type { Logger } from 'pino';
import { FhirError } from '../fhir/outcome.ts';
import { parseSearch } from '../fhir/search/parse.ts';
import type { Metrics } from '../metrics.ts';
import type { RequestContext, Services } from '../resources/context.ts';
import { readPatient } from '../resources/patient-lookup.ts';
import { resourceModules, searchParamIndex } from '../resources/registry.ts';
import { releaseHeld, requestRoom } from '../resources/request-memory.ts';
import type { SharedStore } from '../shared/store.ts';
import { UpstreamError } from '../source/nextech/errors.ts';
import { appendFrame, cutBack } from './export-files.ts';
import type { ExportType, FilePart, Job, JobStore } from './export-jobs.ts';

export interface RunnerOptions {
  services: Services;
  jobs: JobStore;
  store: SharedStore;
  fileKey: Buffer;
  logger: Logger;
  metrics?: Metrics;
  /** Upstream calls per second all export jobs may spend together (share × rate). */
  callsPerSecond: number;
  /** Jobs run at once here (BULK_EXPORT_CONCURRENCY); more wait in a queue. */
  concurrency: number;
  /** How long finished jobs' files are kept (ms). */
  retentionMs: number;
}

const LEASE_MS = 60_000;
const DIRECTORY: readonly ExportType[] = ['Practitioner', 'Location', 'Organization'];
const INCLUDES: Record<string, string> = { Practitioner: 'Encounter:participant', Location: 'Encounter:location', Organization: 'Encounter:service-provider' };

const moduleOf = (type: string) => {
  const m = resourceModules.find((x) => (x.type as string) === type);
  if (!m?.search) throw new Error(`no search for ${type}`);
  return m as typeof m & { search: NonNullable<typeof m.search> };
};

export class ExportRunner {
  readonly #owner = randomUUID();
  /** Jobs waiting here for a run slot, oldest first. */
  readonly #queue: Job[] = [];
  /** Jobs running in this process (id → the client that started it), and those asked to stop (cancelled). */
  readonly #running = new Map<string, string>();
  readonly #cancelled = new Set<string>();
  /** Upstream calls each running job has spent (reported when it ends). */
  readonly #calls = new Map<string, number>();
  /** When each client with jobs here was last given a run slot (a turn number). */
  readonly #served = new Map<string, number>();
  #turns = 0;
  #closed = false;

  constructor(private readonly o: RunnerOptions) {}

  /** How many jobs run here now. */
  get running(): number {
    return this.#running.size;
  }

  /** How many jobs wait here for a run slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /** A job's place in this process's queue (1: next), or undefined when it is not waiting here. */
  queuePosition(id: string): number | undefined {
    const i = this.#queue.findIndex((j) => j.id === id);
    return i < 0 ? undefined : i + 1;
  }

  /** Queues a job (new, or found unfinished) to run here when a slot is free. */
  start(job: Job): void {
    if (this.#closed || this.#running.has(job.id) || this.#queue.some((j) => j.id === job.id)) return;
    this.#queue.push(job);
    this.#pump();
  }

  /** Stops a job: out of the queue, or after its current member if it runs (its files are then removed by the caller). */
  cancel(id: string): void {
    const i = this.#queue.findIndex((j) => j.id === id);
    if (i >= 0) this.#queue.splice(i, 1);
    // Only jobs running here need telling; the set empties as they stop.
    if (this.#running.has(id)) this.#cancelled.add(id);
    this.o.metrics?.bulkQueued.set(this.#queue.length);
  }

  /** Resumes every unfinished job on disk, and deletes expired ones. */
  async resumeAll(): Promise<void> {
    const now = this.o.services.now();
    for (const job of await this.o.jobs.all()) {
      if (job.status === 'running') this.start(job);
      else if (job.finishedAt !== undefined && job.expiresAt <= now) await this.o.jobs.remove(job.practiceId, job.id);
    }
  }

  /** Stops every job here after its current member, keeping its state to be resumed (by this service's next start, or another replica). */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.o.metrics?.bulkQueued.set(0);
  }

  /**
   * Runs queued jobs while fewer than BULK_EXPORT_CONCURRENCY run, taking turns between
   * clients: next, the oldest job of the client with the fewest jobs running and, among
   * those, the one served longest ago — one client's many exports do not hold every slot.
   */
  #pump(): void {
    while (!this.#closed && this.#running.size < this.o.concurrency && this.#queue.length > 0) {
      const load = (owner: string) => [...this.#running.values()].filter((o) => o === owner).length;
      const turn = (owner: string) => this.#served.get(owner) ?? -1;
      const next = this.#queue.reduce((best, j) => {
        const [a, b] = [load(j.owner), load(best.owner)];
        return a < b || (a === b && turn(j.owner) < turn(best.owner)) ? j : best;
      });
      this.#queue.splice(this.#queue.indexOf(next), 1);
      this.#served.set(next.owner, ++this.#turns);
      this.#launch(next);
    }
    // Forgotten once a client has nothing here (the map stays as small as the queue).
    for (const owner of this.#served.keys()) {
      if (!this.#queue.some((j) => j.owner === owner) && ![...this.#running.values()].includes(owner)) this.#served.delete(owner);
    }
    this.o.metrics?.bulkQueued.set(this.#queue.length);
  }

  #launch(job: Job): void {
    this.#running.set(job.id, job.owner);
    this.o.metrics?.bulkJobs.inc();
    void this.#run(job)
      .catch(async (err: unknown) => {
        this.o.logger.error({ job: job.id, err: { name: (err as Error).name } }, 'bulk export job failed');
        // Not while stopping (it resumes at the next start) nor once cancelled (it is gone).
        if (this.#closed || this.#cancelled.has(job.id)) return;
        const last = (await this.o.jobs.get(job.practiceId, job.id)) ?? job;
        const now = this.o.services.now();
        await this.o.jobs.save({ ...last, status: 'failed', finishedAt: new Date(now).toISOString(), expiresAt: now + this.o.retentionMs }).catch(() => undefined);
      })
      .finally(() => {
        this.#running.delete(job.id);
        this.#calls.delete(job.id);
        this.#cancelled.delete(job.id);
        this.o.metrics?.bulkJobs.dec();
        this.o.metrics?.bulkJobCalls.remove({ job: job.id });
        this.#pump();
      });
  }

  async #run(queued: Job): Promise<void> {
    const lease = `bulk-job:${queued.id}`;
    if (!(await this.o.store.lease(lease, this.#owner, LEASE_MS))) return;
    try {
      // Its state now, not as it was queued: another replica may have run it meanwhile.
      const current = await this.o.jobs.get(queued.practiceId, queued.id);
      if (current?.status !== 'running') return;
      let job: Job = current;
      const { id, practiceId } = job;
      const folder = this.o.jobs.folder(job.practiceId, job.id) as string;
      // Back to the last checkpoint: whatever was appended after it is cut off.
      for (const f of job.files) await cutBack(join(folder, f.name), f.bytes);
      const started = Date.now();
      // A cancelled job's folder is removed by the canceller; removed again here once this
      // runner has stopped writing, so no checkpoint written meanwhile can bring it back.
      const stopped = async () => {
        if (this.#cancelled.has(id)) await this.o.jobs.remove(practiceId, id);
        return this.#cancelled.has(id) || this.#closed;
      };
      while (job.next < job.members.length) {
        if (await stopped()) return;
        if (!(await this.o.store.lease(lease, this.#owner, LEASE_MS))) return;
        const patientId = job.members[job.next] as string;
        const lines = await this.#member(job, patientId);
        if (await stopped()) return;
        job = await this.#write(job, folder, lines);
        job = { ...job, next: job.next + 1 };
        await this.o.jobs.save(job);
      }
      if (await stopped()) return;
      const done: Job = { ...job, status: 'done', finishedAt: new Date(this.o.services.now()).toISOString(), expiresAt: this.o.services.now() + this.o.retentionMs };
      await this.o.jobs.save(done);
      this.o.logger.info(
        {
          job: job.id,
          members: job.members.length,
          resources: job.files.filter((f) => f.type !== 'OperationOutcome').reduce((n, f) => n + f.count, 0),
          errors: job.files.filter((f) => f.type === 'OperationOutcome').reduce((n, f) => n + f.count, 0),
          upstreamCalls: this.#calls.get(job.id) ?? 0,
          ms: Date.now() - started,
        },
        'bulk export job done',
      );
    } finally {
      await this.o.store.release(lease, this.#owner).catch(() => undefined);
    }
  }

  /** One member's resources by type (and an OperationOutcome when it could not be read). */
  async #member(job: Job, patientId: string): Promise<Map<string, FhirResource[]>> {
    const ctx = this.#context(job);
    const out = new Map<string, FhirResource[]>();
    const add = (type: string, rs: FhirResource[]) => out.set(type, [...(out.get(type) ?? []), ...rs]);
    // Directory resources this member adds; recorded as written only if the member succeeds.
    const seen: string[] = [];
    try {
      if (job.types.includes('Patient')) {
        const patient = await readPatient(ctx, patientId);
        const kept = await this.#filtered(ctx, job, 'Patient', [['_id', patientId]]);
        if (kept.some((r) => r.id === patient.id) || !job.typeFilters.Patient) add('Patient', [patient]);
      }
      const since: [string, string][] = job.since ? [['date', `ge${job.since}`]] : [];
      const directory = DIRECTORY.filter((t) => job.types.includes(t));
      if (job.types.includes('Encounter') || directory.length > 0) {
        const includes = directory.map((t): [string, string] => ['_include', INCLUDES[t] as string]);
        const { matches, included } = await this.#search(ctx, job, 'Encounter', [['patient', patientId], ...since, ...includes]);
        if (job.types.includes('Encounter')) add('Encounter', await this.#applyFilters(ctx, job, 'Encounter', [['patient', patientId], ...since], matches));
        for (const r of included) {
          const key = `${r.resourceType}/${r.id ?? ''}`;
          if (!job.seen.includes(key) && !seen.includes(key) && job.types.includes(r.resourceType as ExportType)) {
            seen.push(key);
            add(r.resourceType, [r]);
          }
        }
      }
      if (job.types.includes('DocumentReference')) {
        const base: [string, string][] = [['patient', patientId], ...since];
        const { matches } = await this.#search(ctx, job, 'DocumentReference', base);
        const docs = await this.#applyFilters(ctx, job, 'DocumentReference', base, matches);
        add('DocumentReference', job.attachments === 'binary' ? docs.map(referenceOnly) : docs);
      }
      this.o.metrics?.bulkResources.inc([...out.values()].reduce((n, rs) => n + rs.length, 0));
      job.seen.push(...seen);
      return out;
    } catch (err) {
      if (this.#closed) throw err;
      const why = err instanceof FhirError ? (err.outcome.issue[0]?.diagnostics ?? 'unreadable') : err instanceof UpstreamError ? `Nextech: ${err.failure.kind}` : 'unreadable';
      this.o.logger.warn({ job: job.id, member: job.next, why: err instanceof UpstreamError ? err.failure.kind : (err as Error).name }, 'bulk export member failed');
      return new Map([[
        'OperationOutcome',
        [{ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: `Patient/${patientId} could not be exported: ${why}` }] }],
      ]]);
    } finally {
      releaseHeld(ctx);
    }
  }

  /** A search's whole matches (made complete) and its included resources. */
  async #search(ctx: RequestContext, job: Job, type: string, pairs: [string, string][]): Promise<{ matches: FhirResource[]; included: FhirResource[] }> {
    const m = moduleOf(type);
    const { request } = parseSearch(type, searchParamIndex.get(type as (typeof m)['type']) ?? new Map(), pairs, { strict: true, baseUrl: this.#base(job), capabilities: m.capabilities });
    const result = await m.search(ctx, request);
    const matches = result.complete ? await result.complete(result.matches) : result.matches;
    const included = result.included ? await result.included(result.matches) : [];
    return { matches, included };
  }

  /** The matches that also match one of the type's `_typeFilter`s (all of them when it has none). */
  async #applyFilters(ctx: RequestContext, job: Job, type: string, base: [string, string][], matches: FhirResource[]): Promise<FhirResource[]> {
    const filters = job.typeFilters[type];
    if (!filters) return matches;
    const kept = new Set((await this.#filtered(ctx, job, type, base)).map((r) => r.id));
    return matches.filter((r) => kept.has(r.id));
  }

  async #filtered(ctx: RequestContext, job: Job, type: string, base: [string, string][]): Promise<FhirResource[]> {
    const out: FhirResource[] = [];
    for (const filter of job.typeFilters[type] ?? []) out.push(...(await this.#search(ctx, job, type, [...base, ...filter])).matches);
    return out;
  }

  /** Appends the member's lines to the job's files (a new part past `perFile`); returns the state to checkpoint. */
  async #write(job: Job, folder: string, lines: Map<string, FhirResource[]>): Promise<Job> {
    const files = [...job.files];
    for (const [type, resources] of lines) {
      let rest = resources;
      while (rest.length > 0) {
        let part = [...files].reverse().find((f) => f.type === type);
        if (!part || part.count >= job.perFile) {
          const n = files.filter((f) => f.type === type).length + 1;
          part = { name: `${type}-${n}.ndjson`, type, count: 0, bytes: 0 };
          files.push(part);
        }
        const room = job.perFile - part.count;
        const chunk = rest.slice(0, room);
        rest = rest.slice(room);
        const bytes = await appendFrame(join(folder, part.name), part.name, this.o.fileKey, chunk.map((r) => JSON.stringify(r)).join('\n') + '\n');
        const updated: FilePart = { ...part, count: part.count + chunk.length, bytes };
        files[files.indexOf(part)] = updated;
      }
    }
    return { ...job, files };
  }

  #base(job: Job): string {
    return job.request.slice(0, job.request.indexOf('/Group/'));
  }

  /** The job's own request context: the service's credential, its own caller key, its pacer. */
  #context(job: Job): RequestContext {
    const gap = 1000 / this.o.callsPerSecond;
    const pace = async (signal?: AbortSignal) => {
      for (;;) {
        if (signal?.aborted) throw signal.reason as Error;
        const wait = await this.o.store.takeSlot('bulk-export:managed', gap);
        if (wait === 0) {
          this.o.metrics?.bulkUpstreamCalls.inc();
          this.o.metrics?.bulkJobCalls.inc({ job: job.id });
          this.#calls.set(job.id, (this.#calls.get(job.id) ?? 0) + 1);
          return;
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    };
    const ctx: RequestContext = {
      services: this.o.services,
      baseUrl: this.#base(job),
      memo: new Map(),
      call: { practiceId: job.practiceId, credential: { kind: 'managed' }, callerKey: `bulk:${job.id}`, pace },
      callerKey: `bulk:${job.id}`,
    };
    ctx.call.room = () => requestRoom(ctx);
    return ctx;
  }
}

/**
 * A document whose CCD is referenced, not inlined (BULK_EXPORT_ATTACHMENTS=binary): each
 * attachment keeps its `url` (the absolute URL of the CCD's Binary, readable with the same
 * token — Bulk Data's rule for `requiresAccessToken`), size and SHA-1 hash, without `data`.
 */
function referenceOnly(r: FhirResource): FhirResource {
  if (r.resourceType !== 'DocumentReference') return r;
  return { ...r, content: r.content.map((c) => ({ ...c, attachment: Object.fromEntries(Object.entries(c.attachment).filter(([k]) => k !== 'data')) })) };
}
