/**
 * Jobs of the earlier export file format, whose frames were bound to their file name only (a
 * file moved between jobs opened, export-files.ts), are never served. At each start and sweep
 * a finished one is deleted — its status answers 404 and the client exports again; files are
 * kept a day at most anyway — and an unfinished one starts over from its first member in the
 * current format, under the same status URL. A job no runner here can lease (another replica
 * runs it) is left for a later sweep.
 */
import type { Logger } from 'pino';
import type { SharedStore } from '../shared/store.ts';
import type { Job, JobStore } from './export-jobs.ts';
import { LEASE_MS, leaseKey } from './job-lease.ts';

export interface RetireOptions {
  jobs: JobStore;
  store: SharedStore;
  /** The runner's identity in leases. */
  owner: string;
  logger: Logger;
}

export async function retireLegacy(o: RetireOptions): Promise<void> {
  for (const job of await o.jobs.legacy()) {
    const lease = leaseKey(job.id);
    if (!(await o.store.lease(lease, o.owner, LEASE_MS).catch(() => false))) continue;
    try {
      if (job.status !== 'running') {
        await o.jobs.remove(job.practiceId, job.id);
        continue;
      }
      const fresh: Job = { ...job, next: 0, files: [], seen: [], failed: [] };
      await o.jobs.rollBack(fresh);
      await o.jobs.save(fresh);
      o.logger.info({ job: job.id }, 'bulk export job of the earlier file format starts over');
    } finally {
      await o.store.release(lease, o.owner).catch(() => undefined);
    }
  }
}
