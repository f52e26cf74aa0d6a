/**
 * Organization: the practice (custodian of its CCDs) and the departments Nextech names on
 * encounters (Encounter.serviceProvider), readable by id (no search). Nextech tells us only
 * the practice's id, so the practice is named after it.
 */
import type { Organization } from 'fhir/r4';
import type { OrganizationKey } from '../../ids/resource-ids.ts';
import { directoryModule } from '../directory-read.ts';

export const organizationModule = directoryModule<OrganizationKey, Organization>({
  type: 'Organization',
  profile: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-organization',
  documentation:
    'The Nextech practice (DocumentReference.custodian) and its departments (Encounter.serviceProvider). Read only: the id carries the department name (no upstream call), or, for a name too long for an id, the encounter that named it (one upstream call).',
  // Σ elements of R4 Organization (none is mandatory).
  summary: ['identifier', 'active', 'type', 'name', 'alias', 'telecom', 'address', 'partOf', 'endpoint'],
  source: 'organization',
  codec: (ids) => ids.organization,
  record: (key, ctx) => (key.kind === 'practice' ? { kind: 'practice', name: `Nextech practice ${ctx.call.practiceId}` } : key),
});
