/**
 * What a resource module needs to serve one request: who is asking for which practice, the
 * FHIR base the answer's URLs are written against, and the shared services.
 */
import type { RuntimeConfig } from '../config.ts';
import type { PracticeIds, ResourceIds } from '../ids/resource-ids.ts';
import type { Mappings } from '../mapping/load.ts';
import type { MappingContext } from '../mapping/context.ts';
import type { CallContext } from '../source/call.ts';
import type { EhrSource } from '../source/ehr-source.ts';
import type { DeferredBase64 } from '../fhir/deferred-base64.ts';
import type { AuthorizationServer } from '../auth/authorization-server.ts';
import type { DoorConfig, DoorName } from '../auth/doors.ts';
import type { MemoryBudget, Reservation } from '../source/memory-budget.ts';
import type { Groups } from './groups.ts';
import type { SmartGrant } from '../auth/smart/compartment.ts';

export interface Services {
  config: RuntimeConfig;
  /** The EHR the resources read, as one interface (src/source). */
  source: EhrSource;
  mappings: Mappings;
  /** Issues and opens resource ids, keyed by RESOURCE_ID_KEY (src/ids). */
  ids: ResourceIds;
  /** The OAuth authorization server (SMART App Launch, Backend Services), when configured. */
  auth?: AuthorizationServer;
  /** The doors a FHIR request may pass (auth/doors.ts). */
  doors: DoorConfig;
  /** The document memory budget: responses holding CCDs reserve room in it too. */
  memory?: MemoryBudget;
  /** Bulk-export cohorts the service stores itself (DATA_DIR or Redis; src/bulk/group-store.ts implements it). */
  groups: Groups;
  now: () => number;
}

export interface RequestContext {
  services: Services;
  /** Practice, upstream credential, caller and abort signal for upstream calls. */
  call: CallContext;
  /** This request's FHIR base, e.g. http://host/fhir or http://host/practices/1001/fhir. */
  baseUrl: string;
  /** Who is asking (the door's caller key), for keying shared caches (never a token). */
  callerKey: string;
  /** The door the caller passed (absent for the service's own work, e.g. a bulk export job). */
  door?: DoorName;
  /** The SMART sign-in the caller's token belongs to (random, kept across refreshes). */
  signIn?: string;
  /** Work already started in this request, by key, so no upstream read is repeated. */
  memo: Map<string, Promise<unknown>>;
  /** This request's share of the document memory budget, once it holds any (request-memory.ts). */
  memory?: Reservation;
  /** Set before reading when the request builds documents with their data: what it reads then counts for more. */
  buildsDocuments?: boolean;
  /** What the caller's token granted (SMART, Backend Services); Nextech alone decides otherwise. */
  grant?: SmartGrant;
  /**
   * Set (before anything is mapped) by a route whose response streams: documents' base64 data
   * is then a marker, encoded only as the response is written (fhir/deferred-base64.ts).
   */
  deferred?: DeferredBase64;
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

/** The resource ids of this request's practice. */
export function practiceIds(ctx: RequestContext): PracticeIds {
  return ctx.services.ids.forPractice(ctx.call.practiceId);
}

/** Built once per request: a response maps many records with the same context. */
const mappingContexts = new WeakMap<RequestContext, MappingContext>();

/** The per-request values mappings may read, for this practice. */
export function mappingContext(ctx: RequestContext): MappingContext {
  let built = mappingContexts.get(ctx);
  if (!built) {
    built = buildMappingContext(ctx);
    mappingContexts.set(ctx, built);
  }
  return built;
}

function buildMappingContext(ctx: RequestContext): MappingContext {
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
    ids: practiceIds(ctx),
    ...(ctx.deferred ? { deferBase64: ctx.deferred.marker.bind(ctx.deferred) } : {}),
  };
}

/** Fills `{practiceId}` in an identifier system template. */
export function practiceSystem(template: string, practiceId: string): string {
  return template.replaceAll('{practiceId}', practiceId);
}
