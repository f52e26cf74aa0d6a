/**
 * Scope enforcement for requests carrying a SMART token: which interactions the granted
 * scopes allow, and — with `patient/` scopes — confinement to the patient in context. The
 * Nextech patient number sealed inside an id (src/ids) decides membership (it is what
 * Nextech itself checks); ids are opened with the practice's codec, so an altered id, or
 * one of another practice, belongs to nobody.
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

/** The Nextech patient number a resource belongs to, if any. */
export function patientNumberOf(ids: PracticeIds, r: FhirResource): number | undefined {
  if (r.resourceType === 'Patient') return ids.patient.open(r.id ?? '')?.patientId;
  if (r.resourceType === 'Encounter' || r.resourceType === 'DocumentReference') return refNumber(ids, r.subject?.reference);
  if (r.resourceType === 'Binary') return refNumber(ids, r.securityContext?.reference);
  // Other types carry no patient data here (e.g. SearchParameter).
  return undefined;
}

const refNumber = (ids: PracticeIds, ref: string | undefined) =>
  ref?.startsWith('Patient/') ? ids.patient.open(ref.slice(8))?.patientId : undefined;

/** The patient number an id of this type carries, when it opens as one (a Binary id is a DocumentReference's). */
export function patientNumberOfId(ids: PracticeIds, resourceType: string, id: string): number | undefined {
  switch (resourceType) {
    case 'Patient':
      return ids.patient.open(id)?.patientId;
    case 'Encounter':
      return ids.encounter.open(id)?.patient.patientId;
    case 'DocumentReference':
    case 'Binary':
      return ids.document.open(id)?.patient.patientId;
    default:
      return undefined;
  }
}

/**
 * Checks the grant allows the interaction; returns the patient number the request must be
 * confined to (patient scopes) or undefined (user scopes: whatever Nextech lets the user see).
 */
export function authorize(grant: SmartGrant, ids: PracticeIds, resourceType: string, interaction: 'read' | 'search'): number | undefined {
  // A CCD's Binary is readable with the scopes that read its DocumentReference.
  const context =
    allows(grant.scopes, resourceType, interaction) ??
    (resourceType === 'Binary' ? allows(grant.scopes, 'DocumentReference', interaction) : undefined);
  if (!context) throw forbidden(`The access token's scopes do not allow ${interaction} of ${resourceType}`);
  if (context !== 'patient') return undefined;
  const patient = grant.patient === undefined ? undefined : ids.patient.open(grant.patient)?.patientId;
  if (patient === undefined) throw forbidden('patient/ scopes need a patient in context (launch/patient)');
  return patient;
}

/**
 * Refuses, before any upstream call, a search or operation whose `patient`, `_id` or
 * `encounter` values name another patient than the one in context.
 */
export function assertOwnPatient(
  ids: PracticeIds,
  resourceType: string,
  pairs: ReadonlyArray<readonly [string, string]>,
  patient: number,
): void {
  for (const [key, value] of pairs) {
    const name = key.split(':')[0];
    if (name !== 'patient' && name !== '_id' && name !== 'encounter') continue;
    for (const v of value.split(',')) {
      const id = v.replace(/^.*\//, '');
      const type = name === 'patient' ? 'Patient' : name === 'encounter' ? 'Encounter' : resourceType;
      if (patientNumberOfId(ids, type, id) !== patient) throw forbidden('The access token only allows the patient in context');
    }
  }
}

/** Keeps the resources of the patient (all of them when not confined). */
export function confine<T extends FhirResource>(ids: PracticeIds, resources: readonly T[], patient: number | undefined): T[] {
  return patient === undefined ? [...resources] : resources.filter((r) => patientNumberOf(ids, r) === patient);
}
