/**
 * Location: the practice locations Nextech names on encounters, readable by the id an
 * Encounter's location references (no search: Nextech cannot list them).
 */
import type { Location } from 'fhir/r4';
import { directoryModule } from '../directory-read.ts';

export const locationModule = directoryModule<{ name: string }, Location>({
  type: 'Location',
  profile: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-location',
  documentation:
    'A practice location named on Nextech encounters (Encounter.location). Read only: the id carries the name (no upstream call), or, for a name too long for an id, the encounter that named it (one upstream call).',
  // Σ elements of R4 Location (none is mandatory).
  summary: ['identifier', 'status', 'operationalStatus', 'name', 'alias', 'mode', 'type', 'telecom', 'address', 'physicalType', 'managingOrganization', 'partOf', 'endpoint'],
  source: 'location',
  codec: (ids) => ids.location,
  record: (key) => key,
});
