/**
 * The request context a bulk export job calls Nextech with, and its pacing:
 * - the credential: the service's own for Backend Services jobs; a person's Nextech access
 *   token for a person's job (export-access.ts), so it sees what their API requests would;
 * - every upstream call first takes a slot of the export pacer of that credential — one ledger
 *   for all jobs on it, in the shared store (with Redis, for all replicas) — at
 *   `BULK_EXPORT_SHARE` of the rate, then passes the usual budget like any caller's;
 * - while it paces, the job's lease is renewed, and a job whose lease another runner took
 *   stops at once (`LeaseLost`) instead of writing beside it.
 */
import { keyedNames, stateNamesSecret } from '../crypto/keys.ts';
import type { Metrics } from '../metrics.ts';
import type { RequestContext, Services } from '../resources/context.ts';
import { requestRoom } from '../resources/request-memory.ts';
import type { SharedStore } from '../shared/store.ts';
import type { Job } from './export-jobs.ts';
import { LEASE_MS, LeaseLost, leaseKey } from './job-lease.ts';


export interface JobContextOptions {
  services: Services;
  store: SharedStore;
  metrics?: Metrics;
  /** Upstream calls per second the jobs of one credential may spend together. */
  callsPerSecond: number;
  /** This runner's identity in leases. */
  runner: string;
  /** Counts one upstream call of the job. */
  counted: () => void;
}

export function jobContext(job: Job, o: JobContextOptions): RequestContext {
  // A person's job never falls back to the service's credential.
  const token = job.runAs === 'person' ? job.person?.nextechToken : undefined;
  if (job.runAs === 'person' && token === undefined) throw new Error('a person\'s job without its token');
  const gap = 1000 / o.callsPerSecond;
  // Never the token itself in a key, nor a plain hash of it: a keyed hash names its pacer.
  const pacer = token !== undefined ? `bulk-export:${keyedNames(stateNamesSecret(o.services.config), 'nextech-fhir-facade export pacers v1')(token)}` : 'bulk-export:managed';
  let renewed = Date.now();
  const pace = async (signal?: AbortSignal) => {
    if (Date.now() - renewed > LEASE_MS / 3) {
      if (!(await o.store.lease(leaseKey(job.id), o.runner, LEASE_MS))) throw new LeaseLost();
      renewed = Date.now();
    }
    for (;;) {
      if (signal?.aborted) throw signal.reason as Error;
      const wait = await o.store.takeSlot(pacer, gap);
      if (wait === 0) {
        o.metrics?.bulkUpstreamCalls.inc();
        o.metrics?.bulkJobCalls.inc({ job: job.id });
        o.counted();
        return;
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  };
  const callerKey = `bulk:${job.id}`;
  const credential = token !== undefined ? { kind: 'bearer' as const, token, vouched: true } : { kind: 'managed' as const };
  const ctx: RequestContext = {
    services: o.services,
    baseUrl: job.request.slice(0, job.request.indexOf('/Group/')),
    memo: new Map(),
    // Its answers are the job's alone: kept here for its next searches, never shared.
    call: { practiceId: job.practiceId, credential, callerKey, pace, unshared: true },
    callerKey,
  };
  ctx.call.room = () => requestRoom(ctx);
  return ctx;
}
