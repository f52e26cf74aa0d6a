/**
 * The registry: every resource type this server offers, declared once — its interactions,
 * search parameters (and which of them identify whose records a search is about), its
 * patient compartment, raw reads and operations. Routes, the CapabilityStatement, the
 * openapi.yaml check, scope enforcement and SearchParameter resources are views of it.
 */
import { binaryModule } from './binary/index.ts';
import { documentReferenceModule } from './document-reference/index.ts';
import { encounterModule } from './encounter/index.ts';
import { groupModule } from './group/index.ts';
import { locationModule } from './location/index.ts';
import { organizationModule } from './organization/index.ts';
import { patientModule } from './patient/index.ts';
import { practitionerModule } from './practitioner/index.ts';
import type { Compartments } from '../auth/smart/compartment.ts';
import type { PracticeIds } from '../ids/resource-ids.ts';
import type { ResourceModule } from './registry-types.ts';
import { searchParameterModuleFor } from './search-parameter.ts';

const dataModules: readonly ResourceModule[] = [
  patientModule,
  encounterModule,
  documentReferenceModule,
  binaryModule,
  practitionerModule,
  locationModule,
  organizationModule,
  groupModule,
];

export const resourceModules: readonly ResourceModule[] = [...dataModules, searchParameterModuleFor(dataModules)];

/** Search parameter definitions by name, per resource type (built once). */
export const searchParamIndex = new Map(
  resourceModules.map((m) => [m.type, new Map(m.searchParams.map((p) => [p.name, p]))] as const),
);

const byType = new Map(resourceModules.map((m) => [m.type as string, m]));

/** The registered module of a type. */
export function moduleOf(type: string): ResourceModule | undefined {
  return byType.get(type);
}

/** Parameter name → the resource type its values are ids of, per resource type's search. */
export const identifyingParams: ReadonlyMap<string, ReadonlyMap<string, string>> = new Map(
  resourceModules.map((m) => [m.type, new Map(m.searchParams.flatMap((p) => (p.identifies ? [[p.name, p.identifies] as const] : [])))]),
);

/** Patient compartment membership of every registered type, with one practice's ids. */
export function compartmentsFor(ids: PracticeIds): Compartments {
  return {
    // Closed by default: a type the registry does not know is treated as a patient's.
    has: (type) => !byType.has(type) || byType.get(type)?.compartment !== undefined,
    ofResource: (r) => byType.get(r.resourceType)?.compartment?.ofResource(r, ids),
    ofId: (type, id) => byType.get(type)?.compartment?.ofId(id, ids),
  };
}
