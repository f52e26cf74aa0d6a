/**
 * What a resource module needs to serve one request: who is asking for which practice, the
 * FHIR base the answer's URLs are written against, and the shared services.
 */
import type { RuntimeConfig } from '../config.ts';
import type { Mappings } from '../mapping/load.ts';
import type { MappingContext } from '../mapping/functions.ts';
import { tokenFingerprint } from '../nextech/fingerprint.ts';
import type { CallContext, NextechClient } from '../nextech/client.ts';
import type { SmartServer } from '../auth/smart/server.ts';
import type { SmartGrant } from '../auth/smart/compartment.ts';
import type { CategoryCache } from './category-cache.ts';
import type { EncounterStore } from './encounter-store.ts';

export interface Services {
  config: RuntimeConfig;
  nextech: NextechClient;
  mappings: Mappings;
  encounters: EncounterStore;
  categories: CategoryCache;
  /** The SMART authorization server, when SMART is configured. */
  smart?: SmartServer;
  now: () => number;
}

export interface RequestContext {
  services: Services;
  /** Practice, caller token and abort signal for upstream calls. */
  call: CallContext;
  /** This request's FHIR base, e.g. http://host/fhir or http://host/practices/1001/fhir. */
  baseUrl: string;
  /** Who is asking, for keying shared caches (never the token itself). */
  callerKey: string;
  /** Work already started in this request, by key, so no upstream read is repeated. */
  memo: Map<string, Promise<unknown>>;
  /** What a SMART token granted, when the caller sent one. */
  grant?: SmartGrant;
}

/**
 * A non-reversible fingerprint of the caller: in pass-through mode a hash of its token (each
 * token sees only what Nextech lets it see), in managed mode the service itself.
 */
export function callerKeyOf(callerToken: string | undefined, managed: boolean): string {
  if (managed || callerToken === undefined) return 'service';
  return tokenFingerprint(callerToken);
}

/** Runs `work` once per key within one request. */
export function once<T>(ctx: RequestContext, key: string, work: () => Promise<T>): Promise<T> {
  let p = ctx.memo.get(key) as Promise<T> | undefined;
  if (!p) {
    p = work();
    ctx.memo.set(key, p);
  }
  return p;
}

/** The per-request values mappings may read, for this practice. */
export function mappingContext(ctx: RequestContext): MappingContext {
  const { practiceId } = ctx.call;
  const systems = ctx.services.config.identifierSystems;
  return {
    practiceId,
    values: {
      practiceId,
      chartNumberSystem: practiceSystem(systems.chartNumber, practiceId),
      patientIdSystem: practiceSystem(systems.patientId, practiceId),
      encounterIdSystem: practiceSystem(systems.encounterId, practiceId),
      doctorIdSystem: practiceSystem(systems.doctorId, practiceId),
      baseUrl: ctx.baseUrl,
      now: ctx.services.now(),
      exposeSsn: ctx.services.config.exposeSsn,
    },
  };
}

/** Fills `{practiceId}` in an identifier system template. */
export function practiceSystem(template: string, practiceId: string): string {
  return template.replaceAll('{practiceId}', practiceId);
}
