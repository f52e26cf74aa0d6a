/**
 * Who may use bulk export, with which rights, and how much of it.
 *
 * - **Backend Services clients** with `system/Group` scopes: their jobs run on the service's
 *   own Nextech credential, as all their requests do.
 * - **A person's SMART token** with user-level scopes (`user/Group.rs` and read + search on
 *   every exported type): the job runs with the person's own Nextech access token, exactly as
 *   their API requests do, so it never exports what Nextech would not show them; it stops when
 *   their sign-in is revoked or their Nextech token expires. Patient-level tokens are refused
 *   (a cohort names many patients; one patient's data is one search away).
 *
 * Jobs belong to their caller (the client, or the person's sign-in). A caller may have
 * MAX_ACTIVE_PER_CALLER unfinished; beyond MAX_KEPT_PER_CALLER kept, its oldest finished job is
 * deleted to make room (clients rarely DELETE what they downloaded); a practice bounds both
 * across callers. The count and the new job are one step per caller: a lease in the shared
 * store spans them, so parallel kick-offs cannot all pass the count.
 */
import type { Context } from 'hono';
import { allows } from '../auth/smart/scopes.ts';
import { forbidden } from '../auth/smart/compartment.ts';
import { FhirError, outcome } from '../fhir/outcome.ts';
import type { RequestContext, Services } from '../resources/context.ts';
import type { AppEnv } from '../routes/env.ts';
import { requestContext } from '../routes/request-context.ts';
import { StoreUnavailable, type SharedStore } from '../shared/store.ts';
import type { ExportType, Job, JobStore } from './export-jobs.ts';

/** Exports one caller may have unfinished (running or queued) at once; more wait their turn (429). */
export const MAX_ACTIVE_PER_CALLER = 3;
/** Exports kept per caller (unfinished, or finished and not expired); past it the oldest finished one goes. */
export const MAX_KEPT_PER_CALLER = 20;
/** Unfinished exports per practice, all callers together (429 beyond). */
export const MAX_ACTIVE_PER_PRACTICE = 50;
/** Exports kept per practice, all callers together (429 beyond, until one expires or is deleted). */
export const MAX_KEPT_PER_PRACTICE = 500;
/** How long one caller's kick-off may hold its turn (its group's members may be resolved meanwhile). */
const KICK_OFF_LEASE_MS = 120_000;

type Grant = NonNullable<RequestContext['grant']>;

/** A caller of bulk export: who it is, and whose jobs it sees. */
export interface ExportCaller {
  ctx: RequestContext & { grant: Grant };
  /** Whose jobs these are: the Backend Services client, or the person's sign-in in that app. */
  owner: string;
  /** A person's export: runs with their Nextech token, while their sign-in stands. */
  person?: NonNullable<Job['person']>;
}

const throttled = (why: string, retryAfter: number) => new FhirError(429, outcome('error', 'throttled', why), { 'Retry-After': String(retryAfter) });

/** Admits a bulk export caller (see the module comment); every other door and scope is a 403. */
export async function exportCaller(c: Context<AppEnv>, services: Services): Promise<ExportCaller> {
  const ctx = await requestContext(c, services);
  const grant = ctx.grant;
  const level = grant && allows(grant.scopes, 'Group', 'read');
  if (grant && ctx.door === 'backend') {
    if (level !== 'system') throw forbidden('Bulk export by a Backend Services client needs system/Group scopes');
    // Jobs of Backend Services clients have always been theirs by client id.
    return { ctx: ctx as ExportCaller['ctx'], owner: grant.clientId };
  }
  if (grant && ctx.door === 'smart' && ctx.call.credential.kind === 'bearer') {
    if (level !== 'user' || allows(grant.scopes, 'Group', 'search') !== 'user') {
      throw forbidden('Bulk export with a person\'s token needs user-level scopes, user/Group.rs among them');
    }
    const person = { nextechToken: ctx.call.credential.token, ...(ctx.signIn !== undefined ? { signIn: ctx.signIn } : {}) };
    return { ctx: ctx as ExportCaller['ctx'], owner: ctx.callerKey, person };
  }
  throw forbidden('Bulk export needs a SMART access token: a Backend Services client\'s, or a person\'s with user-level scopes');
}

/** The token must read and search every exported type, at its own level (a person's: user-level). */
export function assertTypesAllowed(caller: ExportCaller, types: readonly ExportType[]): void {
  const want = caller.person ? 'user' : 'system';
  for (const t of types) {
    if (allows(caller.ctx.grant.scopes, t, 'read') !== want || allows(caller.ctx.grant.scopes, t, 'search') !== want) {
      throw forbidden(`The access token's scopes do not allow reading and searching ${t} (${want}/${t}.rs): ask for them or leave ${t} out of _type`);
    }
  }
}

/**
 * Holds the caller's turn to start an export while `start` runs (it counts, then saves the
 * job); a second kick-off of the same caller meanwhile is a 429.
 */
export async function withKickOffTurn<T>(store: SharedStore, caller: ExportCaller, start: () => Promise<T>): Promise<T> {
  const key = `bulk-kickoff:${caller.ctx.call.practiceId}:${caller.owner}`;
  const turn = `${caller.owner}:${Math.random()}`;
  let mine: boolean;
  try {
    mine = await store.lease(key, turn, KICK_OFF_LEASE_MS);
  } catch (err) {
    // Redis away: turns are Redis's or nobody's (a replica alone could not count for the others).
    if (err instanceof StoreUnavailable) throw new FhirError(503, outcome('error', 'transient', 'Exports cannot be started for a moment; retry shortly'), { 'Retry-After': '5' });
    throw err;
  }
  if (!mine) throw throttled('Another export of yours is being started; retry in a moment', 2);
  try {
    return await start();
  } finally {
    await store.release(key, turn).catch(() => undefined);
  }
}

/**
 * Checks there is room for one more job of `owner` in the practice, or refuses (429): counted
 * over the jobs on disk, so across replicas. Returns what makes the room — deleting the
 * owner's oldest finished jobs past its bound — to run once the new job is saved (a kick-off
 * that fails later deletes nothing).
 */
export async function makeRoom(jobs: JobStore, practiceId: string, owner: string, now: number): Promise<() => Promise<void>> {
  const live = (await jobs.list(practiceId)).filter((j) => !(j.finishedAt !== undefined && j.expiresAt <= now));
  const unfinished = (js: Job[]) => js.filter((j) => j.status === 'running');
  const mine = live.filter((j) => j.owner === owner);
  if (unfinished(mine).length >= MAX_ACTIVE_PER_CALLER) {
    throw throttled(`At most ${MAX_ACTIVE_PER_CALLER} of your exports run at once; retry when one has finished`, 30);
  }
  if (unfinished(live).length >= MAX_ACTIVE_PER_PRACTICE) throw throttled('The practice has as many exports running as it may; retry later', 60);
  const finished = mine.filter((j) => j.status !== 'running').sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? ''));
  const excess = mine.length + 1 - MAX_KEPT_PER_CALLER;
  const evicted = finished.slice(0, Math.max(0, excess));
  const kept = live.length - evicted.length;
  if (kept >= MAX_KEPT_PER_PRACTICE) {
    const soonest = Math.min(...live.filter((j) => j.finishedAt !== undefined).map((j) => j.expiresAt));
    const wait = Number.isFinite(soonest) ? Math.ceil((soonest - now) / 1000) : 60;
    throw throttled('The practice keeps as many exports as it may; retry when one has expired', Math.max(60, wait));
  }
  return async () => {
    for (const old of evicted) await jobs.remove(practiceId, old.id);
  };
}
