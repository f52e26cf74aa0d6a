/**
 * Patient's search parameters: US Core's (https://hl7.org/fhir/us/core/STU6.1/CapabilityStatement-us-core-server.html)
 * plus the base `phone` and `telecom`. Expressions are the spec's, so in-memory matching
 * follows the same paths a FHIR server would index.
 */
import type { SearchParamDef } from '../../fhir/search/types.ts';

const US_CORE = 'http://hl7.org/fhir/us/core/SearchParameter';
const STRING_MODIFIERS = ['exact', 'contains'] as const;

export const patientSearchParams: readonly SearchParamDef[] = [
  {
    name: '_id',
    type: 'token',
    identifies: 'Patient',
    expression: 'Patient.id',
    definition: `${US_CORE}/us-core-patient-id`,
    documentation: 'Logical id of the Patient (see README: the id carries the Nextech patient id and chart number).',
  },
  {
    name: 'identifier',
    type: 'token',
    expression: 'Patient.identifier',
    definition: `${US_CORE}/us-core-patient-identifier`,
    documentation: 'Chart number (`system|value`, `value`) or Nextech patient id; a chart number alone can drive the search.',
  },
  {
    name: 'name',
    type: 'string',
    expression: 'Patient.name',
    definition: `${US_CORE}/us-core-patient-name`,
    documentation: 'Any part of the name; starts-with, case- and accent-insensitive; `:exact`, `:contains`.',
    modifiers: STRING_MODIFIERS,
  },
  {
    name: 'family',
    type: 'string',
    expression: 'Patient.name.family',
    definition: `${US_CORE}/us-core-patient-family`,
    documentation: 'Family name; string matching as for `name`.',
    modifiers: STRING_MODIFIERS,
  },
  {
    name: 'given',
    type: 'string',
    expression: 'Patient.name.given',
    definition: `${US_CORE}/us-core-patient-given`,
    documentation: 'Given or middle name; string matching as for `name`.',
    modifiers: STRING_MODIFIERS,
  },
  {
    name: 'birthdate',
    type: 'date',
    expression: 'Patient.birthDate',
    definition: `${US_CORE}/us-core-patient-birthdate`,
    documentation: 'Birth date; all prefixes (eq ne gt lt ge le sa eb ap) and partial dates. Needs a name or identifier too.',
  },
  {
    name: 'gender',
    type: 'token',
    expression: 'Patient.gender',
    definition: `${US_CORE}/us-core-patient-gender`,
    documentation: 'Always `unknown`: Nextech records no gender. Needs a name or identifier too.',
    implicitSystem: 'http://hl7.org/fhir/administrative-gender',
    modifiers: ['not'],
  },
  {
    name: 'phone',
    type: 'token',
    expression: "Patient.telecom.where(system='phone')",
    definition: 'http://hl7.org/fhir/SearchParameter/individual-phone',
    documentation: 'Home phone, compared by its digits. Needs a name or identifier too.',
  },
  {
    name: 'telecom',
    type: 'token',
    expression: 'Patient.telecom',
    definition: 'http://hl7.org/fhir/SearchParameter/individual-telecom',
    documentation: '`phone|number` or `number`; phone numbers compared by their digits. Needs a name or identifier too.',
  },
];
