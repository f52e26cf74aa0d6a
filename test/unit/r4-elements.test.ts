// src/mapping/r4-elements.json cannot go stale: regenerating it from the R4
// StructureDefinitions gives the checked-in file byte for byte. And the mapping compiler
// checks every output element against it, naming the file and the path of a wrong one.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EMITTED_RESOURCES, generateR4Elements, R4_ELEMENTS_FILE } from '../../src/dev/gen-r4-elements.ts';
import { compileMapping, MappingError, type CompileEnv } from '../../src/mapping/compile.ts';
import { loadR4Elements } from '../../src/mapping/r4-elements.ts';

const FILE = 'mappings/test.map.yaml';
const r4 = loadR4Elements();
const env: CompileEnv = { source: z.object({ a: z.string().optional() }), tables: new Map(), contextKeys: new Set(['system']), r4 };

describe('r4-elements.json', () => {
  it('is what `npm run gen:r4-elements` writes now', () => {
    expect(readFileSync(R4_ELEMENTS_FILE, 'utf8')).toBe(generateR4Elements());
  });

  it('holds every resource type mappings build, with choice elements expanded', () => {
    for (const t of EMITTED_RESOURCES) expect(r4.isComplex(t)).toBe(true);
    expect(r4.elementType('Encounter', 'participant')).toBe('Encounter.participant');
    expect(r4.elementType('Encounter.participant', 'individual')).toBe('Reference');
    expect(r4.elementType('Extension', 'valueString')).toBe('string');
    expect(r4.elementType('Extension', 'value[x]')).toBeUndefined();
    expect(r4.isComplex('string')).toBe(false);
  });
});

const failures: { name: string; resourceType?: string; resource: Record<string, unknown>; path: string; why: RegExp }[] = [
  { name: 'a misspelt top-level element', resource: { identifer: [{ value: 'x' }] }, path: 'resource.identifer', why: /"identifer" is not an element of Patient/ },
  { name: 'an unknown element of a datatype in a list', resource: { identifier: [{ system: 'urn:x' }, { sytem: 'urn:y' }] }, path: 'resource.identifier[1].sytem', why: /"sytem" is not an element of Identifier/ },
  { name: 'an unknown element of a nested datatype', resource: { identifier: [{ period: { begin: { from: 'a' } } }] }, path: 'resource.identifier[0].period.begin', why: /not an element of Period/ },
  { name: 'an element under a primitive', resource: { gender: { code: 'x' } }, path: 'resource.gender.code', why: /code is a primitive type: it has no element "code"/ },
  { name: 'an unchecked choice name', resource: { extension: [{ url: 'urn:x', 'value[x]': 'y' }] }, path: 'resource.extension[0].value[x]', why: /not an element of Extension/ },
  { name: 'an unknown element of a backbone element', resourceType: 'Encounter', resource: { participant: [{ individual: { reference: 'x' }, actor: 'y' }] }, path: 'resource.participant[0].actor', why: /not an element of Encounter\.participant/ },
  { name: 'a resource type not in the file', resourceType: 'Basic', resource: { code: { text: 'x' } }, path: 'resourceType', why: /"Basic" is not an R4 resource type/ },
];

describe('output elements are checked against R4', () => {
  for (const c of failures) {
    it(`names the file and path for ${c.name}`, () => {
      let err: unknown;
      try {
        compileMapping(FILE, { resourceType: c.resourceType ?? 'Patient', source: 't', resource: c.resource }, env);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MappingError);
      expect((err as Error).message.startsWith(`${FILE}: ${c.path}: `)).toBe(true);
      expect((err as Error).message).toMatch(c.why);
    });
  }

  it('accepts elements of resources, datatypes, backbone elements and choices', () => {
    const resource = {
      identifier: [{ system: { $context: 'system' }, value: { from: 'a' }, period: { start: '2020' }, assigner: { display: 'x' } }],
      participant: [{ $when: { from: 'a' }, individual: { reference: 'Practitioner/1', identifier: { value: 'x' } }, type: [{ coding: [{ code: 'ATND' }] }] }],
      extension: [{ url: 'urn:x', valueString: 'y' }, { url: 'urn:y', valuePeriod: { end: '2021' } }],
      meta: { profile: ['urn:p'] },
    };
    expect(() => compileMapping(FILE, { resourceType: 'Encounter', source: 't', resource }, env)).not.toThrow();
  });
});
