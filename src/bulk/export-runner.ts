/**
 * Runs bulk export jobs in the background, member by member (member-export.ts), writing each
 * member's resources to the job's encrypted NDJSON files and checkpointing.
 *
 * - **Within its share of Nextech's budget** (job-context.ts): every upstream call of a job
 *   takes a slot of its credential's export pacer first.
 * - **Queued.** `BULK_EXPORT_CONCURRENCY` jobs run at once here; the others wait, the next slot
 *   going to the client with the fewest jobs running, then to the one served longest ago.
 * - **Resumable.** A job's state (members done, each file's length) is written after each
 *   member; after a restart, whatever is on disk past that checkpoint is undone — files cut
 *   back to their recorded length, files it does not list deleted — and the job goes on from
 *   there, so nothing is written twice, half or lost.
 * - **Audited.** A job that ends writes an audit line naming the Patient ids it exported
 *   (export-audit.ts).
 * - **One format.** A job whose state does not open in the current format (an earlier
 *   version's, export-jobs.ts) is gone: never served nor resumed, and its folder is deleted
 *   by the sweep once it has been idle for the retention period.
 * - **Once.** A job runs where it holds its lease in the shared store, renewed as it works and
 *   confirmed before each write; a runner that lost it stops without writing.
 * - **A member that fails** (Nextech refuses the record, or it cannot be read) becomes an
 *   OperationOutcome line in the `error` file — its Patient id and why, no data — and the job
 *   goes on. A directory resource it references that cannot be read is left out, not the
 *   member: a warning line in `error` names the reference (member-export.ts). A person's job stops (failed, saying why) when their sign-in is revoked or
 *   Nextech no longer accepts their token.
 * - **Cancelled** anywhere: the job is marked cancelled in the shared store, which the runner
 *   checks before each member and each write, and its folder is removed.
 */
import { randomUUID } from 'node:crypto';
import type { FhirResource } from 'fhir/r4';
import type { Logger } from 'pino';
import { FhirError } from '../fhir/outcome.ts';
import type { Metrics } from '../metrics.ts';
import type { Services } from '../resources/context.ts';
import { releaseHeld } from '../resources/request-memory.ts';
import { StoreUnavailable, type SharedStore } from '../shared/store.ts';
import { UpstreamError } from '../source/errors.ts';
import { auditJob, resourcesOf } from './export-audit.ts';
import type { Job, JobStore } from './export-jobs.ts';
import { writeMember, type ExportHooks } from './export-write.ts';
import { jobContext } from './job-context.ts';
import { LEASE_MS, LeaseLost, leaseKey } from './job-lease.ts';
import { exportMember } from './member-export.ts';

export interface RunnerOptions {
  services: Services;
  jobs: JobStore;
  store: SharedStore;
  fileKey: Buffer;
  logger: Logger;
  /** Where a job's own audit line goes (the API's audit log); by default the log, marked `log: "audit"`. */
  audit?: Logger;
  metrics?: Metrics;
  /** Upstream calls per second all export jobs of one credential may spend together (share × rate). */
  callsPerSecond: number;
  /** Jobs run at once here (BULK_EXPORT_CONCURRENCY); more wait in a queue. */
  concurrency: number;
  /** How long finished jobs' files are kept (ms). */
  retentionMs: number;
  /** Test-only (export-write.ts); production entries never set it. */
  hooks?: ExportHooks;
}

/** A job that cannot go on, and why (no patient data): it ends `failed`, its status saying so. */
class JobStopped extends Error {
  constructor(readonly why: string) {
    super(why);
    this.name = 'JobStopped';
  }
}

const cancelKey = (jobId: string) => `bulk-cancel:${jobId}`;

/** A job that will not run again keeps no Nextech token of a person's. */
const ended = (job: Job): Job => (job.person ? { ...job, person: job.person.signIn !== undefined ? { signIn: job.person.signIn } : {} } : job);

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
  readonly #audit: Logger;

  constructor(private readonly o: RunnerOptions) {
    this.#audit = o.audit ?? o.logger.child({ log: 'audit' });
  }

  /** How many jobs run here now. */
  get running(): number {
    return this.#running.size;
  }

  /** How many jobs wait here for a run slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Whether a job waits in this process's queue for a run slot. */
  isQueued(id: string): boolean {
    return this.#queue.some((j) => j.id === id);
  }

  /** Queues a job (new, or found unfinished) to run here when a slot is free. */
  start(job: Job): void {
    if (this.#closed || this.#running.has(job.id) || this.#queue.some((j) => j.id === job.id)) return;
    this.#queue.push(job);
    this.#pump();
  }

  /**
   * Cancels a job wherever it runs: marked in the shared store (the runner holding it checks
   * before each member and each write), out of this queue, and its folder removed.
   */
  async cancel(job: Job): Promise<void> {
    await this.o.store.set(cancelKey(job.id), '1', this.o.retentionMs + LEASE_MS).catch(() => undefined);
    const i = this.#queue.findIndex((j) => j.id === job.id);
    if (i >= 0) this.#queue.splice(i, 1);
    // Only jobs running here need telling; the set empties as they stop.
    if (this.#running.has(job.id)) this.#cancelled.add(job.id);
    this.o.metrics?.bulkQueued.set(this.#queue.length);
    await this.o.jobs.remove(job.practiceId, job.id);
  }

  /**
   * Queues every unfinished job on disk that no runner holds (another replica's running jobs
   * stay theirs), and deletes expired ones, what cancelled ones left, and folders whose state
   * does not open once they have been idle as long as a finished job is kept.
   */
  async resumeAll(): Promise<void> {
    const now = this.o.services.now();
    for (const { practiceId, id, job } of await this.o.jobs.scan()) {
      if (!job) {
        // No state that opens (an earlier version's): gone, its folder kept no longer than a finished job's.
        await this.o.jobs.removeIdle(practiceId, id, this.o.retentionMs);
      } else if (job.status === 'running') {
        if (this.#running.has(job.id) || this.isQueued(job.id) || (await this.#stopIfCancelled(job))) continue;
        // Free now? Then it is this runner's to queue (the lease is taken again when it runs).
        if (!(await this.o.store.lease(leaseKey(job.id), this.#owner, 5_000).catch(() => false))) continue;
        await this.o.store.release(leaseKey(job.id), this.#owner).catch(() => undefined);
        this.start(job);
      } else if (job.finishedAt !== undefined && job.expiresAt <= now) await this.o.jobs.remove(job.practiceId, job.id);
    }
    await this.o.jobs.sweepRemoved();
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
      .catch((err: unknown) => {
        // Another runner holds it now, or Redis (its lease) is away: it resumes at a later sweep.
        if (err instanceof LeaseLost || err instanceof StoreUnavailable) return;
        this.o.logger.error({ job: job.id, err: { name: (err as Error).name } }, 'bulk export job could not run');
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
    const lease = leaseKey(queued.id);
    if (!(await this.o.store.lease(lease, this.#owner, LEASE_MS))) return;
    // Its state now, not as it was queued: another replica may have run it meanwhile.
    const current = await this.o.jobs.get(queued.practiceId, queued.id).catch(() => undefined);
    let job: Job | undefined = current?.status === 'running' ? current : undefined;
    try {
      if (!job) return;
      await this.#work(job, lease, (j) => (job = j));
    } catch (err) {
      if (err instanceof LeaseLost || err instanceof StoreUnavailable || this.#closed || !job) throw err;
      await this.#fail(job, lease, err);
    } finally {
      await this.o.store.release(lease, this.#owner).catch(() => undefined);
    }
  }

  /**
   * Records a job as failed, saying why when it is a JobStopped — only while this runner still
   * holds it (another runner's state is never overwritten), and not once it was cancelled.
   */
  async #fail(job: Job, lease: string, err: unknown): Promise<void> {
    this.o.logger.error({ job: job.id, err: { name: (err as Error).name }, ...(err instanceof JobStopped ? { why: err.why } : {}) }, 'bulk export job failed');
    if (await this.#stopIfCancelled(job)) return;
    if (!(await this.o.store.lease(lease, this.#owner, LEASE_MS).catch(() => false))) return;
    const now = this.o.services.now();
    const failure = err instanceof JobStopped ? { failure: err.why } : {};
    const failed: Job = { ...ended(job), status: 'failed', ...failure, finishedAt: new Date(now).toISOString(), expiresAt: now + this.o.retentionMs };
    if (await this.o.jobs.save(failed).catch(() => false)) auditJob(this.#audit, failed);
  }

  /** Whether the job was cancelled; if so its folder goes (again: a removal that failed at the DELETE is retried here). */
  async #stopIfCancelled(job: Job): Promise<boolean> {
    if (!(await this.#isCancelled(job.id))) return false;
    await this.o.jobs.remove(job.practiceId, job.id).catch(() => undefined);
    return true;
  }

  /** Works the job from its checkpoint to its end; `progress` learns each checkpoint (for #fail). */
  async #work(initial: Job, lease: string, progress: (job: Job) => void): Promise<void> {
    let job: Job = initial;
    const folder = this.o.jobs.folder(job.practiceId, job.id) as string;
    // Back to the last checkpoint: whatever a crash left after it is undone.
    await this.o.jobs.rollBack(job);
    const started = Date.now();
    // Before each member and each write: still this runner's job, not cancelled, not stopping.
    const mayGoOn = async () => !this.#closed && !(await this.#stopIfCancelled(job)) && (await this.o.store.lease(lease, this.#owner, LEASE_MS));
    while (job.next < job.members.length) {
      if (!(await mayGoOn())) return;
      await this.#assertSignedIn(job);
      const member = job.members[job.next] as string;
      const { lines, seen, unresolved, failed } = await this.#member(job, member);
      if (!(await mayGoOn())) return;
      job = await writeMember(job, folder, lines, this.o.fileKey, this.o.hooks);
      job = {
        ...job,
        next: job.next + 1,
        seen: [...job.seen, ...seen],
        unresolved: [...job.unresolved, ...unresolved],
        failed: failed ? [...job.failed, member] : job.failed,
      };
      await this.o.jobs.save(job);
      progress(job);
    }
    if (!(await mayGoOn())) return;
    const done: Job = { ...ended(job), status: 'done', finishedAt: new Date(this.o.services.now()).toISOString(), expiresAt: this.o.services.now() + this.o.retentionMs };
    if (!(await this.o.jobs.save(done))) return;
    auditJob(this.#audit, done);
    this.o.logger.info(
      {
        job: job.id,
        members: job.members.length,
        resources: resourcesOf(job),
        errors: resourcesOf(job, true),
        unresolved: job.unresolved.length,
        upstreamCalls: this.#calls.get(job.id) ?? 0,
        ms: Date.now() - started,
      },
      'bulk export job done',
    );
  }

  async #isCancelled(id: string): Promise<boolean> {
    return this.#cancelled.has(id) || (await this.o.store.get(cancelKey(id)).catch(() => undefined)) !== undefined;
  }

  /** A person's job goes on only while their sign-in stands (a revoked one stops it). */
  async #assertSignedIn(job: Job): Promise<void> {
    const smart = this.o.services.doors.smart;
    if (job.person?.signIn !== undefined && smart?.signedIn && !(await smart.signedIn(job.person.signIn))) {
      throw new JobStopped('The sign-in that started this export has ended; sign in again and start a new export');
    }
  }

  /** One member's resources by type, or an OperationOutcome line when it could not be read. */
  async #member(job: Job, patientId: string): Promise<{ lines: Map<string, FhirResource[]>; seen: string[]; unresolved: string[]; failed?: true }> {
    const ctx = jobContext(job, {
      services: this.o.services,
      store: this.o.store,
      ...(this.o.metrics ? { metrics: this.o.metrics } : {}),
      callsPerSecond: this.o.callsPerSecond,
      runner: this.#owner,
      counted: () => this.#calls.set(job.id, (this.#calls.get(job.id) ?? 0) + 1),
    });
    try {
      const { lines, seen, unresolved } = await exportMember(ctx, job, patientId, unreadable);
      this.o.metrics?.bulkResources.inc([...lines].reduce((n, [type, rs]) => (type === 'OperationOutcome' ? n : n + rs.length), 0));
      if (unresolved.length > 0) {
        // Counts and kinds only: the references are in the job's error file, for its client.
        this.o.logger.warn({ job: job.id, member: job.next, unresolved: unresolved.length, why: [...new Set(unresolved.map((u) => u.why))] }, 'bulk export member references resources that could not be read');
      }
      return { lines, seen, unresolved: unresolved.map((u) => u.reference) };
    } catch (err) {
      if (this.#closed || err instanceof LeaseLost || err instanceof StoreUnavailable) throw err;
      // A person's Nextech token no longer accepted: every other member would fail the same way.
      const unauthorized = (err instanceof UpstreamError && err.failure.kind === 'unauthorized') || (err instanceof FhirError && err.status === 401);
      if (job.person && unauthorized) throw new JobStopped('Nextech no longer accepts the sign-in that started this export (it expired); sign in again and start a new export');
      const why = err instanceof FhirError ? (err.outcome.issue[0]?.diagnostics ?? 'unreadable') : err instanceof UpstreamError ? `Nextech: ${err.failure.kind}` : 'unreadable';
      this.o.logger.warn({ job: job.id, member: job.next, why: err instanceof UpstreamError ? err.failure.kind : (err as Error).name }, 'bulk export member failed');
      const problem: FhirResource = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: `Patient/${patientId} could not be exported: ${why}` }] };
      return { lines: new Map([['OperationOutcome', [problem]]]), seen: [], unresolved: [], failed: true };
    } finally {
      releaseHeld(ctx);
    }
  }
}

/**
 * Why reading one resource failed, when that leaves out only that resource (member-export.ts
 * `ReadFailure`): it does not exist (any more), or Nextech, or this service's own bounds,
 * refused it for now. A token Nextech no longer accepts is not the resource's failure but the
 * job's (a person's job stops on it); anything else is no read failure at all.
 */
export function unreadable(err: unknown): string | undefined {
  if (err instanceof UpstreamError) return err.failure.kind === 'unauthorized' ? undefined : err.failure.kind;
  if (err instanceof FhirError) return err.status === 401 ? undefined : (err.outcome.issue[0]?.code ?? 'exception');
  return undefined;
}
