/**
 * What a resource module needs to serve one request: who is asking for which practice, the
 * FHIR base the answer's URLs are written against, and the shared services.
 */
import type { RuntimeConfig } from '../config.ts';
import type { Mappings } from '../mapping/load.ts';
import type { MappingContext } from '../mapping/functions.ts';
import type { CallContext, NextechClient } from '../nextech/client.ts';

export interface Services {
  config: RuntimeConfig;
  nextech: NextechClient;
  mappings: Mappings;
  now: () => number;
}

export interface RequestContext {
  services: Services;
  /** Practice, caller token and abort signal for upstream calls. */
  call: CallContext;
  /** This request's FHIR base, e.g. http://host/fhir or http://host/practices/1001/fhir. */
  baseUrl: string;
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
