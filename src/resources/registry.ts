/**
 * The registry: every resource type this server offers, declared once. Routes, the
 * CapabilityStatement and the openapi.yaml check all read this list.
 */
import { patientModule } from './patient/index.ts';
import type { ResourceModule } from './registry-types.ts';

export const resourceModules: readonly ResourceModule[] = [patientModule];

/** Search parameter definitions by name, per resource type (built once). */
export const searchParamIndex = new Map(
  resourceModules.map((m) => [m.type, new Map(m.searchParams.map((p) => [p.name, p]))] as const),
);
