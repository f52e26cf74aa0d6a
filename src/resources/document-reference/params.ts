/**
 * DocumentReference's search parameters: US Core's, the base `encounter`, and `section`,
 * this server's own (defined by the SearchParameter in section-param.ts), which asks
 * Nextech for one CCD section. As for Encounter, `date` and `period` match the encounter's
 * start instant: Nextech records no end.
 */
import type { SearchParamDef } from '../../fhir/search/types.ts';

const US_CORE = 'http://hl7.org/fhir/us/core/SearchParameter';
export const SECTION_PARAM_ID = 'DocumentReference-section';

export const documentReferenceSearchParams: readonly SearchParamDef[] = [
  {
    name: '_id',
    type: 'token',
    identifies: 'DocumentReference',
    expression: 'DocumentReference.id',
    definition: `${US_CORE}/us-core-documentreference-id`,
    documentation: 'Logical id (carries the patient and date: one upstream call per id).',
  },
  {
    name: 'patient',
    type: 'reference',
    identifies: 'Patient',
    expression: 'DocumentReference.subject',
    definition: `${US_CORE}/us-core-documentreference-patient`,
    documentation: 'The patient: `id`, `Patient/id` or an absolute URL of this server. Required unless `_id` or `encounter` is given.',
    targets: ['Patient'],
  },
  {
    name: 'encounter',
    type: 'reference',
    identifies: 'Encounter',
    expression: 'DocumentReference.context.encounter',
    definition: 'http://hl7.org/fhir/SearchParameter/DocumentReference-encounter',
    documentation: 'The encounter whose CCD this is: `id`, `Encounter/id` or an absolute URL of this server.',
    targets: ['Encounter'],
  },
  {
    name: 'date',
    type: 'date',
    narrowsWindow: true,
    expression: 'DocumentReference.date',
    definition: `${US_CORE}/us-core-documentreference-date`,
    documentation: 'When the encounter (and so its CCD) happened; all prefixes and partial dates.',
  },
  {
    name: 'period',
    type: 'date',
    narrowsWindow: true,
    expression: 'DocumentReference.context.period.start',
    definition: `${US_CORE}/us-core-documentreference-period`,
    documentation: 'The encounter start the document covers; all prefixes and partial dates.',
  },
  {
    name: 'category',
    type: 'token',
    expression: 'DocumentReference.category',
    definition: `${US_CORE}/us-core-documentreference-category`,
    documentation: 'Always clinical-note (US Core DocumentReference category).',
    modifiers: ['text', 'not'],
  },
  {
    name: 'type',
    type: 'token',
    expression: 'DocumentReference.type',
    definition: `${US_CORE}/us-core-documentreference-type`,
    documentation: 'Always LOINC 34133-9 (Summary of episode note).',
    modifiers: ['text', 'not'],
  },
  {
    name: 'status',
    type: 'token',
    expression: 'DocumentReference.status',
    definition: `${US_CORE}/us-core-documentreference-status`,
    documentation: 'Always current.',
    implicitSystem: 'http://hl7.org/fhir/document-reference-status',
    modifiers: ['not'],
  },
  {
    name: 'section',
    type: 'token',
    expression: '',
    definition: `{base}/SearchParameter/${SECTION_PARAM_ID}`,
    documentation:
      'Asks Nextech for one section of each encounter CCD (a name from Nextech GET /encounters/categories, case-insensitive); each DocumentReference then holds only that section and has an id of its own. One value only.',
    upstreamOnly: true,
    multipleOr: false,
    multipleAnd: false,
  },
];
