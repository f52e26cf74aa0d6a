/**
 * The registry: every resource type this server offers, declared once. Routes, the
 * CapabilityStatement and the openapi.yaml check all read this list.
 */
import { binaryModule } from './binary.ts';
import { documentReferenceModule } from './document-reference/index.ts';
import { encounterModule } from './encounter/index.ts';
import { patientModule } from './patient/index.ts';
import type { ResourceModule } from './registry-types.ts';
import { searchParameterModule } from './search-parameter.ts';

export const resourceModules: readonly ResourceModule[] = [
  patientModule,
  encounterModule,
  documentReferenceModule,
  binaryModule,
  searchParameterModule,
];

/** Search parameter definitions by name, per resource type (built once). */
export const searchParamIndex = new Map(
  resourceModules.map((m) => [m.type, new Map(m.searchParams.map((p) => [p.name, p]))] as const),
);
