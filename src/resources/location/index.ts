/**
 * Location: the practice locations Nextech names on encounters, readable by the id an
 * Encounter's location references (no search: Nextech cannot list them).
 */
import type { Location } from 'fhir/r4';
import { directoryRead } from '../directory-read.ts';
import type { ResourceModule } from '../registry-types.ts';

const read = directoryRead<{ name: string }, Location>({
  type: 'Location',
  source: 'location',
  codec: (ids) => ids.location,
  record: (key) => key,
});

export const locationModule: ResourceModule = {
  type: 'Location',
  profile: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-location',
  documentation:
    'A practice location named on Nextech encounters (Encounter.location). Read only: the id carries the name (no upstream call), or, for a name too long for an id, the encounter that named it (one upstream call).',
  interactions: ['read'],
  searchParams: [],
  capabilities: { includes: [], revincludes: [], sorts: [] },
  // Σ elements of R4 Location (none is mandatory).
  view: {
    mandatory: new Set(),
    summary: new Set(['identifier', 'status', 'operationalStatus', 'name', 'alias', 'mode', 'type', 'telecom', 'address', 'physicalType', 'managingOrganization', 'partOf', 'endpoint']),
  },
  read: (ctx, id) => read(ctx, id),
};
