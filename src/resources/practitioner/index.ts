/**
 * Practitioner: the doctors Nextech names on encounters, readable by the id an Encounter's
 * participant or a DocumentReference's author references (no search: Nextech cannot list
 * its doctors).
 */
import type { Practitioner } from 'fhir/r4';
import { directoryModule } from '../directory-read.ts';

export const practitionerModule = directoryModule<{ doctorId: number; firstName?: string | undefined; lastName?: string | undefined; designation?: string | undefined }, Practitioner>({
  type: 'Practitioner',
  profile: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-practitioner',
  documentation:
    'A doctor named on Nextech encounters (Encounter.participant, DocumentReference.author). Read only: the id carries what Nextech said (no upstream call), or, when that does not fit an id, the encounter that named the doctor (one upstream call).',
  // Σ elements of R4 Practitioner (none is mandatory).
  summary: ['identifier', 'active', 'name', 'telecom', 'address', 'gender', 'birthDate'],
  source: 'practitioner',
  codec: (ids) => ids.practitioner,
  record: (key) => key,
});
