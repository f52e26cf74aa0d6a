/**
 * The audit line a bulk export job writes when it ends: whose it was, its practice, and the
 * Patient ids whose data it exported (opaque FHIR ids, never names or chart numbers), with
 * its counts — the same shape and log as the API's audit lines (routes/audit.ts), so the
 * kick-off, every status poll and download, and the job itself join on the job id.
 */
import type { Logger } from 'pino';
import { backendCallerKey } from '../auth/doors.ts';
import type { Job } from './export-jobs.ts';

/**
 * Who started the job, as the API's audit lines name them: the caller key recorded at
 * kick-off. A job from before it was recorded falls back to its owner, which for a person's
 * job is that key already, and for a Backend Services job is the client the key names.
 */
export const callerOf = (job: Job): string => job.caller ?? (job.person !== undefined ? job.owner : backendCallerKey(job.owner));

/** Resources in the job's output files, or in its error files. */
export const resourcesOf = (job: Job, errors = false): number =>
  job.files.filter((f) => (f.type === 'OperationOutcome') === errors).reduce((n, f) => n + f.count, 0);

/** Writes the job's own audit line (once it is done, or has failed). */
export function auditJob(audit: Logger, job: Job): void {
  const failed = new Set(job.failed);
  const exported = job.members.slice(0, job.next).filter((id) => !failed.has(id));
  audit.info(
    {
      caller: callerOf(job),
      practice: job.practiceId,
      interaction: 'export-job',
      resourceType: 'Group',
      job: job.id,
      outcome: job.status,
      resources: resourcesOf(job),
      errors: resourcesOf(job, true),
      ids: exported.map((id) => `Patient/${id}`),
    },
    'audit',
  );
}
