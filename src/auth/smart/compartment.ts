/**
 * Scope enforcement for requests carrying a SMART token: which interactions the granted
 * scopes allow, and — with `patient/` scopes — confinement to the patient in context.
 * Membership comes from the resource registry (each type declares it): the Nextech patient
 * number sealed inside an id (src/ids) decides it, since that is what Nextech itself checks.
 */
import type { FhirResource } from 'fhir/r4';
import { FhirError, outcome } from '../../fhir/outcome.ts';
import type { PracticeIds } from '../../ids/resource-ids.ts';
import { allows, type Scopes } from './scopes.ts';

export interface SmartGrant {
  clientId: string;
  scopes: Scopes;
  /** The patient in context (FHIR id), with launch/patient. */
  patient?: string;
}

export const forbidden = (why: string) => new FhirError(403, outcome('error', 'forbidden', why));

/**
 * Membership in the patient compartment, as the resource registry declares it: the upstream
 * patient number a resource belongs to, or that an id of a type carries (undefined: nobody's,
 * or a type without patient data).
 */
export interface Compartments {
  /** Whether resources of the type belong to a patient at all (directory resources do not). */
  has(resourceType: string): boolean;
  ofResource(r: FhirResource): number | undefined;
  ofId(resourceType: string, id: string): number | undefined;
}

/**
 * Checks the grant allows the interaction; returns the patient number the request must be
 * confined to (patient scopes) or undefined (user scopes: whatever Nextech lets the user see).
 */
export function authorize(
  grant: SmartGrant,
  ids: PracticeIds,
  resourceType: string,
  interaction: 'read' | 'search',
  /** Another type whose scopes allow this one too (the registry's `scopedAlsoAs`). */
  alsoAs?: string,
): number | undefined {
  const context = allows(grant.scopes, resourceType, interaction) ?? (alsoAs === undefined ? undefined : allows(grant.scopes, alsoAs, interaction));
  if (!context) throw forbidden(`The access token's scopes do not allow ${interaction} of ${resourceType}`);
  if (context !== 'patient') return undefined;
  const patient = grant.patient === undefined ? undefined : ids.patient.open(grant.patient)?.patientId;
  if (patient === undefined) throw forbidden('patient/ scopes need a patient in context (launch/patient)');
  return patient;
}

/**
 * Refuses, before any upstream call, a search or operation whose values of a parameter that
 * identifies records (`patient`, `_id`, `encounter`: `identifying`, parameter name → the
 * resource type of its ids) name another patient than the one in context.
 */
export function assertOwnPatient(
  compartments: Compartments,
  identifying: ReadonlyMap<string, string>,
  pairs: ReadonlyArray<readonly [string, string]>,
  patient: number,
): void {
  for (const [key, value] of pairs) {
    const type = identifying.get(key.split(':')[0] ?? '');
    if (type === undefined) continue;
    for (const v of value.split(',')) {
      const id = v.replace(/^.*\//, '');
      if (compartments.ofId(type, id) !== patient) throw forbidden('The access token only allows the patient in context');
    }
  }
}

/**
 * Keeps the resources of the patient (all of them when not confined); resources of types
 * outside the patient compartment (a practitioner, a location) hold no patient's data and stay.
 */
export function confine<T extends FhirResource>(compartments: Compartments, resources: readonly T[], patient: number | undefined): T[] {
  if (patient === undefined) return [...resources];
  return resources.filter((r) => !compartments.has(r.resourceType) || compartments.ofResource(r) === patient);
}

/**
 * The `_include`d and `_revinclude`d resources a grant may see: each only if the scopes allow
 * reading its type, and — when only patient scopes do — only the patient in context's. A
 * token for Encounters alone so never receives DocumentReferences (their CCDs) through
 * `_revinclude`. Without a grant (Nextech alone decides), all of them.
 */
export function permittedIncluded(
  grant: SmartGrant | undefined,
  ids: PracticeIds,
  compartments: Compartments,
  resources: readonly FhirResource[],
  /** The registry's `scopedAlsoAs` of a type, if any. */
  alsoAs: (resourceType: string) => string | undefined,
): FhirResource[] {
  if (!grant) return [...resources];
  const inContext = grant.patient === undefined ? undefined : ids.patient.open(grant.patient)?.patientId;
  return resources.filter((r) => {
    const other = alsoAs(r.resourceType);
    const context = allows(grant.scopes, r.resourceType, 'read') ?? (other === undefined ? undefined : allows(grant.scopes, other, 'read'));
    if (context === undefined) return false;
    if (context !== 'patient' || !compartments.has(r.resourceType)) return true;
    return inContext !== undefined && compartments.ofResource(r) === inContext;
  });
}
