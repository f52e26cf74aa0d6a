/**
 * Encounter's search parameters: US Core's (us-core-encounter-*). One deviation: Nextech
 * records only when an encounter started, so `date` matches that instant
 * (`Encounter.period.start`) rather than an open-ended period, which would make every past
 * encounter match any later date.
 */
import type { SearchParamDef } from '../../fhir/search/types.ts';

const US_CORE = 'http://hl7.org/fhir/us/core/SearchParameter';

export const encounterSearchParams: readonly SearchParamDef[] = [
  {
    name: '_id',
    type: 'token',
    identifies: 'Encounter',
    expression: 'Encounter.id',
    definition: `${US_CORE}/us-core-encounter-id`,
    documentation: 'Logical id (carries the patient and date: one upstream call per id).',
  },
  {
    name: 'patient',
    type: 'reference',
    identifies: 'Patient',
    expression: 'Encounter.subject',
    definition: `${US_CORE}/us-core-encounter-patient`,
    documentation: 'The patient: `id`, `Patient/id` or an absolute URL of this server. Required unless `_id` is given.',
    targets: ['Patient'],
  },
  {
    name: 'date',
    type: 'date',
    narrowsWindow: true,
    expression: 'Encounter.period.start',
    definition: `${US_CORE}/us-core-encounter-date`,
    documentation: 'When the encounter started; all prefixes and partial dates. Narrows the upstream date range.',
  },
  {
    name: 'type',
    type: 'token',
    expression: 'Encounter.type',
    definition: `${US_CORE}/us-core-encounter-type`,
    documentation: 'Visit type: `system|code` (SNOMED CT where known) or `:text` on the Nextech type.',
    modifiers: ['text', 'not'],
  },
  {
    name: 'class',
    type: 'token',
    expression: 'Encounter.class',
    definition: `${US_CORE}/us-core-encounter-class`,
    documentation: 'Always AMB (v3 ActCode): Nextech practices are outpatient clinics.',
    modifiers: ['not'],
  },
  {
    name: 'status',
    type: 'token',
    expression: 'Encounter.status',
    definition: `${US_CORE}/us-core-encounter-status`,
    documentation: 'planned, in-progress or finished (see README for the rule).',
    implicitSystem: 'http://hl7.org/fhir/encounter-status',
    modifiers: ['not'],
  },
  {
    name: 'identifier',
    type: 'token',
    expression: 'Encounter.identifier',
    definition: `${US_CORE}/us-core-encounter-identifier`,
    documentation: 'The Nextech encounter id (ENCOUNTER_ID_SYSTEM).',
  },
];
