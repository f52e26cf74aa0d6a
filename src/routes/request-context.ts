/**
 * Who is calling, for which practice, with which Nextech credential: the RequestContext
 * every FHIR interaction starts from. The caller passes exactly one door (auth/doors.ts)
 * before anything else happens, so an unauthenticated request learns nothing, not even
 * whether its practice is valid.
 */
import type { Context } from 'hono';
import { admit, confirmSignIn } from '../auth/doors.ts';
import type { RequestContext, Services } from '../resources/context.ts';
import { releaseHeld, requestRoom } from '../resources/request-memory.ts';
import type { AppEnv } from './env.ts';

export async function requestContext(c: Context<AppEnv>, services: Services): Promise<RequestContext> {
  const base = c.var.fhirBase;
  const caller = admit(c.req.header('authorization'), base.practiceId, services.doors);
  await confirmSignIn(caller, services.doors);
  c.set('caller', caller.key);
  if (base.practiceError || base.practiceId === undefined) throw base.practiceError ?? new Error('no practice');
  const ctx: RequestContext = {
    services,
    baseUrl: base.baseUrl,
    memo: new Map<string, Promise<unknown>>(),
    call: {
      practiceId: base.practiceId,
      credential: caller.credential,
      callerKey: caller.key,
      ...(c.var.source !== undefined ? { source: c.var.source } : {}),
      signal: c.req.raw.signal,
    },
    callerKey: caller.key,
    door: caller.door,
    ...(caller.signIn !== undefined ? { signIn: caller.signIn } : {}),
    ...(caller.grant ? { grant: caller.grant } : {}),
  };
  // Listings read for this request count in its room until its response is built.
  ctx.call.room = () => requestRoom(ctx);
  c.set('releaseMemory', () => releaseHeld(ctx));
  return ctx;
}
