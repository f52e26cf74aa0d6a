// Search filters select values with the registry's expressions; plain `Type.a.b` ones are
// compiled to direct property access (src/fhir/search/match.ts), which must give exactly
// what FHIRPath gives on every resource. The samples are real mapped Patients (the golden
// cases) and hand-built resources of every registered type, with arrays, nested backbone
// elements and missing elements.
import { readFileSync } from 'node:fs';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { FhirResource } from 'fhir/r4';
import { describe, expect, it } from 'vitest';
import { compileSelector } from '../../src/fhir/search/match.ts';
import { searchParamIndex } from '../../src/resources/registry.ts';

const golden = (JSON.parse(readFileSync(new URL('../fixtures/patient-mapping.cases.json', import.meta.url), 'utf8')) as { expected: FhirResource }[]).map((c) => c.expected);

const ref = (reference: string) => ({ reference, display: 'x' });
const samples: FhirResource[] = [
  ...golden,
  { resourceType: 'Patient', id: 'p0' },
  { resourceType: 'Patient', name: [{ family: 'A', given: ['B', 'C'] }, { given: ['D'] }, { text: 'E' }], telecom: [{ system: 'phone', value: '1' }, { system: 'email', value: 'e' }] },
  {
    resourceType: 'Encounter',
    id: 'e1',
    status: 'finished',
    class: { code: 'AMB' },
    identifier: [{ system: 'urn:s', value: '7' }],
    type: [{ coding: [{ code: 'a' }, { code: 'b' }], text: 't' }, { text: 'u' }],
    subject: ref('Patient/p1'),
    participant: [{ individual: ref('Practitioner/d1') }, { individual: ref('Practitioner/d2') }],
    period: { start: '2021-03-15T10:00:00Z' },
    location: [{ location: ref('Location/l1') }],
    serviceProvider: ref('Organization/o1'),
  },
  { resourceType: 'Encounter', status: 'planned', class: { code: 'AMB' } },
  {
    resourceType: 'DocumentReference',
    id: 'd1',
    status: 'current',
    subject: ref('Patient/p1'),
    date: '2021-03-15T10:00:00.000Z',
    type: { coding: [{ system: 'http://loinc.org', code: '34133-9' }] },
    category: [{ coding: [{ code: 'clinical-note' }] }],
    content: [{ attachment: { url: 'Binary/b' } }],
    context: { encounter: [ref('Encounter/e1'), ref('Encounter/e2')], period: { start: '2021-03-15T10:00:00Z' } },
  },
  { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: {} }] },
  { resourceType: 'Practitioner', id: 'pr1', name: [{ family: 'Roe', given: ['Jane'], suffix: ['MD'] }], identifier: [{ system: 'urn:d', value: '9' }] },
  { resourceType: 'Location', id: 'l1', name: 'Main', status: 'active' },
  { resourceType: 'Organization', id: 'o1', name: 'Eye clinic', identifier: [{ value: 'x' }] },
];

const defs = [...searchParamIndex.values()].flatMap((m) => [...m.values()]).filter((d) => d.expression !== '');

describe('compiled search selectors', () => {
  it('cover the registry', () => {
    expect(defs.length).toBeGreaterThan(10);
  });

  for (const expression of new Set(defs.map((d) => d.expression))) {
    it(`${expression} selects what FHIRPath selects`, () => {
      const direct = compileSelector(expression);
      const viaFhirPath = fhirpath.compile(expression, r4);
      for (const r of samples) expect(direct(r)).toEqual(viaFhirPath(r));
    });
  }

  it('leaves choice elements and real expressions to FHIRPath', () => {
    const obs = { resourceType: 'Observation', status: 'final', code: {}, valueString: 'v' } as FhirResource;
    expect(compileSelector('Observation.value')(obs)).toEqual(['v']);
    const ext = { resourceType: 'Patient', extension: [{ url: 'u', valueCode: 'c' }] } as FhirResource;
    expect(compileSelector('Patient.extension.value')(ext)).toEqual(['c']);
    const p = { resourceType: 'Patient', telecom: [{ system: 'phone', value: '1' }, { system: 'email', value: 'e' }] } as FhirResource;
    expect(compileSelector("Patient.telecom.where(system='phone')")(p)).toEqual([{ system: 'phone', value: '1' }]);
  });
});
