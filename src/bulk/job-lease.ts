/**
 * A bulk export job's lease in the shared store: a job runs where its runner holds it
 * (export-runner.ts), renewed as the job works (job-context.ts).
 */

/** A job's lease lives this long unless renewed; it is renewed every third of it while the job works. */
export const LEASE_MS = 60_000;

/** Another runner holds the job now: this one stops without touching its state. */
export class LeaseLost extends Error {
  constructor() {
    super('bulk export job lease lost');
    this.name = 'LeaseLost';
  }
}

export const leaseKey = (jobId: string) => `bulk-job:${jobId}`;
