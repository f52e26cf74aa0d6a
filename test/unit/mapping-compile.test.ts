// The mapping compiler (src/mapping/compile.ts) as two tables of inline mappings: ones that
// must fail at start-up with a MappingError naming the file and the path inside it, and ones
// that compile and build the expected output from a record and a context.
import fhirpath from 'fhirpath';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { compileEmits, compileMapping, MappingError, type CompileEnv } from '../../src/mapping/compile.ts';
import { createResourceIds } from '../../src/ids/resource-ids.ts';
import type { MappingValues } from '../../src/mapping/context.ts';
import type { MappingContext } from '../../src/mapping/functions.ts';
import type { CodeTable, MappingFile } from '../../src/mapping/spec.ts';

const FILE = 'mappings/test.map.yaml';
const ids = createResourceIds('mapping compiler tests: any key of 32+ characters');

const status: CodeTable = {
  name: 'status',
  entries: {
    ' Active ': { code: 'active', display: 'Active' },
    inactive: { code: 'inactive' },
  },
  default: { code: 'unknown' },
};
const noDefault: CodeTable = { name: 'no-default', entries: { a: { code: 'A' } } };

const env: CompileEnv = {
  source: z.object({
    first: z.string().nullish(),
    last: z.string().nullish(),
    status: z.string().optional(),
    tags: z.array(z.string()).optional(),
    flag: z.boolean().optional(),
    dob: z.string().optional(),
    id: z.number(),
    summary: z.object({ encounterId: z.number(), doctor: z.object({ name: z.string() }).nullish() }).optional(),
  }),
  tables: new Map([
    ['status', status],
    ['no-default', noDefault],
  ]),
  contextKeys: new Set(['system', 'show']),
};

const mapping = (resource: Record<string, unknown>): MappingFile => ({ resourceType: 'Basic', source: 'test', resource });

interface Failure {
  name: string;
  resource: Record<string, unknown>;
  /** The path inside the file the error must name. */
  path: string;
  why: RegExp;
}

const failures: Failure[] = [
  { name: 'an unknown source field in from', resource: { code: { text: { from: 'nickname' } } }, path: 'resource.code.text', why: /"nickname" does not start with a field/ },
  { name: 'a from that starts with no field at all', resource: { code: { from: "'literal'" } }, path: 'resource.code', why: /does not start with a field/ },
  { name: 'an unknown source field inside a list', resource: { items: [{ from: 'first' }, { from: 'middle' }] }, path: 'resource.items[1]', why: /"middle"/ },
  { name: 'an unknown fn', resource: { created: { from: 'dob', fn: 'toDate' } }, path: 'resource.created', why: /unknown function "toDate"/ },
  { name: 'an unknown fn on the whole record', resource: { id: { fn: 'makeId' } }, path: 'resource.id', why: /unknown function "makeId"/ },
  { name: 'an unknown table', resource: { code: { from: 'status', table: 'statuses' } }, path: 'resource.code', why: /unknown code table "statuses"/ },
  { name: 'an unknown $context key', resource: { system: { $context: 'practiceSystem' } }, path: 'resource.system', why: /unknown context value "practiceSystem"/ },
  { name: 'an invalid FHIRPath expression', resource: { text: { from: 'first.where(' } }, path: 'resource.text', why: /"first\.where\(" is not a valid FHIRPath expression/ },
  { name: 'a FHIRPath expression with two dots', resource: { text: { from: 'first..last' } }, path: 'resource.text', why: /not a valid FHIRPath/ },
  { name: 'an unknown $directive', resource: { code: { $unless: { from: 'flag' }, text: 'x' } }, path: 'resource.code.$unless', why: /unknown directive/ },
  { name: 'from and $context together', resource: { value: { from: 'first', $context: 'system' } }, path: 'resource.value', why: /either from or \$context, not both/ },
  { name: 'an invalid condition in an expression node\'s $when', resource: { value: { from: 'first', $when: { $context: 'hide' } } }, path: 'resource.value.$when[0]', why: /unknown context value "hide"/ },
  { name: 'an unknown key in an expression node', resource: { value: { from: 'first', function: 'trim' } }, path: 'resource.value', why: /function/ },
  { name: 'a table alone, with nothing to look up', resource: { value: { table: 'status' } }, path: 'resource.value', why: /needs from, \$context or fn/ },
  { name: 'an invalid expression inside $when', resource: { code: { $when: { from: 'nope' }, text: 'x' } }, path: 'resource.code.$when[0]', why: /"nope"/ },
  { name: 'the second $when of a list', resource: { code: { $when: [{ from: 'flag' }, { $context: 'hide' }], text: 'x' } }, path: 'resource.code.$when[1]', why: /"hide"/ },
  { name: 'a null node', resource: { code: null }, path: 'resource.code', why: /null is not a valid mapping node/ },
  { name: 'an unknown nested field in a plain path', resource: { id: { from: 'summary.encounterIdd' } }, path: 'resource.id', why: /no field "summary\.encounterIdd"/ },
  { name: 'a path into a field that is not an object', resource: { id: { from: 'first.length' } }, path: 'resource.id', why: /no field "first\.length"/ },
  { name: 'an unknown field through a nullable object', resource: { id: { from: 'summary.doctor.nam' } }, path: 'resource.id', why: /no field "summary\.doctor\.nam"/ },
  { name: 'an unknown nested field in a FHIRPath expression', resource: { id: { from: 'summary.encounterIdd.toString()' } }, path: 'resource.id', why: /no field "summary\.encounterIdd"/ },
  { name: 'an unknown field on the right of a union', resource: { id: { from: 'first | middle' } }, path: 'resource.id', why: /no field "middle"/ },
];

interface Success {
  name: string;
  resource: Record<string, unknown>;
  record: Record<string, unknown>;
  context?: Record<string, unknown>;
  /** The output without resourceType (always Basic here). */
  expected: Record<string, unknown>;
}

const successes: Success[] = [
  { name: 'literals are copied', resource: { a: 'x', n: 3, b: false }, record: {}, expected: { a: 'x', n: 3, b: false } },
  { name: 'from selects a field', resource: { text: { from: 'first' } }, record: { first: 'Ann' }, expected: { text: 'Ann' } },
  { name: 'from with FHIRPath functions', resource: { text: { from: 'first.upper()' } }, record: { first: 'Ann' }, expected: { text: 'ANN' } },
  { name: 'a nested plain path', resource: { n: { from: 'summary.doctor.name' } }, record: { summary: { encounterId: 1, doctor: { name: 'Roe' } } }, expected: { n: 'Roe' } },
  { name: 'a FHIRPath union of known fields', resource: { n: { from: 'last | first' } }, record: { first: 'Ann' }, expected: { n: 'Ann' } },
  { name: 'FHIRPath function arguments are not source paths', resource: { n: { from: "tags.where($this = 'y')" } }, record: { tags: ['x', 'y'] }, expected: { n: 'y' } },
  { name: 'a missing field leaves the element out', resource: { text: { from: 'first' }, other: 'x' }, record: {}, expected: { other: 'x' } },
  { name: 'a plain "context" key is a FHIR element to build, not an expression', resource: { context: { related: { from: 'first' } } }, record: { first: 'Ann' }, expected: { context: { related: 'Ann' } } },
  { name: 'fn applies a whitelisted function', resource: { text: { from: 'first', fn: 'trim' } }, record: { first: '  Ann ' }, expected: { text: 'Ann' } },
  {
    name: 'fn alone applies to the whole record',
    resource: { display: { fn: 'doctorDisplay' } },
    record: { summary: { encounterId: 7, encounterDate: '2021-03-15T10:00:00Z', doctorFirstName: 'Jane', doctorLastName: 'Roe', doctorProfessionalDesignation: 'MD' } },
    expected: { display: 'Jane Roe, MD' },
  },
  { name: '$context reads a per-request value', resource: { system: { $context: 'system' } }, record: {}, context: { system: 'urn:x' }, expected: { system: 'urn:x' } },
  { name: 'a code table matches without regard to case or surrounding spaces', resource: { code: { from: 'status', table: 'status' } }, record: { status: 'ACTIVE' }, expected: { code: { code: 'active', display: 'Active' } } },
  { name: 'a code table matches an exact key', resource: { code: { from: 'status', table: 'status' } }, record: { status: 'inactive' }, expected: { code: { code: 'inactive' } } },
  { name: 'a code table gives its default for an unknown value', resource: { code: { from: 'status', table: 'status' } }, record: { status: 'archived' }, expected: { code: { code: 'unknown' } } },
  { name: 'a code table gives its default for a blank value', resource: { code: { from: 'status', table: 'status' } }, record: { status: '  ' }, expected: { code: { code: 'unknown' } } },
  { name: 'a code table gives nothing for a missing value, even with a default', resource: { code: { from: 'status', table: 'status' }, x: 1 }, record: {}, expected: { x: 1 } },
  { name: 'a code table without default gives nothing for an unknown value', resource: { code: { from: 'status', table: 'no-default' }, x: 1 }, record: { status: 'b' }, expected: { x: 1 } },
  { name: 'a single $when keeps the object when it has a value', resource: { o: { $when: { from: 'first' }, v: 'x' } }, record: { first: 'Ann' }, expected: { o: { v: 'x' } } },
  { name: 'a single $when drops the object when it has no value', resource: { o: { $when: { from: 'first' }, v: 'x' }, keep: 1 }, record: {}, expected: { keep: 1 } },
  { name: 'a single $when drops the object when it is false', resource: { o: { $when: { from: 'flag' }, v: 'x' }, keep: 1 }, record: { flag: false }, expected: { keep: 1 } },
  { name: 'a single $when drops the object when it is an empty string', resource: { o: { $when: { from: 'first' }, v: 'x' }, keep: 1 }, record: { first: '' }, expected: { keep: 1 } },
  { name: 'a $when list keeps the object when all have values', resource: { o: { $when: [{ $context: 'show' }, { from: 'first' }], v: { from: 'first' } } }, record: { first: 'Ann' }, context: { show: true }, expected: { o: { v: 'Ann' } } },
  { name: 'a $when list drops the object when one is false', resource: { o: { $when: [{ $context: 'show' }, { from: 'first' }], v: { from: 'first' } }, keep: 1 }, record: { first: 'Ann' }, context: { show: false }, expected: { keep: 1 } },
  { name: 'a $when list drops the object when one is missing', resource: { o: { $when: [{ $context: 'show' }, { from: 'first' }], v: 'x' }, keep: 1 }, record: {}, context: { show: true }, expected: { keep: 1 } },
  { name: 'a $when on an expression node gives its value when it holds', resource: { v: { from: 'first', $when: { from: 'flag' } } }, record: { first: 'Ann', flag: true }, expected: { v: 'Ann' } },
  { name: 'a $when on an expression node gives nothing when it fails', resource: { v: { from: 'first', $when: [{ from: 'flag' }, { $context: 'show' }] }, keep: 1 }, record: { first: 'Ann', flag: true }, context: { show: false }, expected: { keep: 1 } },
  { name: 'a list drops its empty items', resource: { given: [{ from: 'first' }, { from: 'last' }, 'lit'] }, record: { first: '', last: 'B' }, expected: { given: ['B', 'lit'] } },
  { name: 'a list drops null items', resource: { given: [{ from: 'first' }, { from: 'last' }] }, record: { first: null, last: 'B' }, expected: { given: ['B'] } },
  { name: 'a list with nothing left is left out', resource: { given: [{ from: 'first' }, { from: 'last' }], keep: 1 }, record: {}, expected: { keep: 1 } },
  { name: 'a list flattens a multi-valued item and drops its empty values', resource: { tag: [{ from: 'tags' }, 'z'] }, record: { tags: ['x', '', 'y'] }, expected: { tag: ['x', 'y', 'z'] } },
  { name: 'a list drops objects that came out empty', resource: { items: [{ v: { from: 'first' } }, { v: { from: 'last' } }] }, record: { last: 'B' }, expected: { items: [{ v: 'B' }] } },
  { name: 'an object whose fields are all empty is left out', resource: { o: { a: { from: 'first' }, b: { from: 'last' } }, keep: 1 }, record: {}, expected: { keep: 1 } },
  { name: 'empty objects vanish all the way up', resource: { o: { inner: { deeper: { from: 'first' } } }, keep: 1 }, record: {}, expected: { keep: 1 } },
  { name: 'an object keeps the fields that have values', resource: { o: { a: { from: 'first' }, b: { from: 'last' } } }, record: { last: 'B' }, expected: { o: { b: 'B' } } },
];

/** These tests declare their own context names (env.contextKeys), outside the service's MappingValues. */
const testValues = (values: Record<string, unknown>): MappingValues => values as unknown as MappingValues;

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error, but none was thrown');
}

describe('compileMapping fails fast', () => {
  for (const c of failures) {
    it(`names the file and path for ${c.name}`, () => {
      const err = thrown(() => compileMapping(FILE, mapping(c.resource), env));
      expect(err).toBeInstanceOf(MappingError);
      const { message } = err as MappingError;
      expect(message.startsWith(`${FILE}: ${c.path}: `)).toBe(true);
      expect(message).toMatch(c.why);
    });
  }
});

describe('compileMapping builds resources', () => {
  for (const c of successes) {
    it(c.name, () => {
      const compiled = compileMapping<Record<string, unknown>>(FILE, mapping(c.resource), env);
      const ctx: MappingContext = { practiceId: '1001', values: testValues(c.context ?? {}), ids: ids.forPractice('1001') };
      expect(compiled(c.record, ctx)).toEqual({ resourceType: 'Basic', ...c.expected });
    });
  }

  it('evaluates each request on its own record and context', () => {
    const compiled = compileMapping<Record<string, unknown>>(FILE, mapping({ v: { from: 'first' }, s: { $context: 'system' } }), env);
    const [one, two] = [{ practiceId: '1', values: testValues({ system: 'urn:1' }), ids: ids.forPractice('1') }, { practiceId: '2', values: testValues({ system: 'urn:2' }), ids: ids.forPractice('2') }];
    expect(compiled({ first: 'A' }, one)).toEqual({ resourceType: 'Basic', v: 'A', s: 'urn:1' });
    expect(compiled({ first: 'B' }, two)).toEqual({ resourceType: 'Basic', v: 'B', s: 'urn:2' });
  });

  it('evaluates a union of plain paths as FHIRPath does (order kept, duplicates left out)', () => {
    const ctx: MappingContext = { practiceId: '1', values: testValues({}), ids: ids.forPractice('1') };
    const records = [
      {},
      { first: 'Ann' },
      { last: 'Lee', first: 'Ann' },
      { last: 'Ann', first: 'Ann' },
      { first: null, last: '' },
      { first: 'A', tags: ['B', 'A', 'B', 'C'] },
      { tags: [] },
      { summary: { encounterId: 1, doctor: { name: 'X' } }, first: 'X' },
    ];
    for (const expr of ['last | first', 'first | tags', 'tags | first | last', 'summary.doctor.name | first']) {
      const compiled = compileMapping<Record<string, unknown>>(FILE, mapping({ n: { from: expr } }), env);
      for (const record of records) {
        const values = (fhirpath.evaluate(record, expr) as unknown[]).filter((v) => v !== '');
        const expected = values.length === 0 ? {} : { n: values.length === 1 ? values[0] : values };
        expect(compiled(record, ctx), `${expr} on ${JSON.stringify(record)}`).toEqual({ resourceType: 'Basic', ...expected });
      }
    }
  });
});

describe('compileEmits: one record yields records of other shapes', () => {
  const targets = {
    person: z.object({ name: z.string().min(1), code: z.number().int() }),
    place: z.object({ name: z.string().min(1) }),
  };
  const withEmits = (emits: Record<string, Record<string, unknown>>): MappingFile => ({ ...mapping({ v: 1 }), emits });
  const ctx: MappingContext = { practiceId: '1001', values: testValues({}), ids: ids.forPractice('1001') };

  it('builds each emitted record from the source, in file order, leaving out those whose condition fails or that do not satisfy their shape', () => {
    const emits = compileEmits(
      FILE,
      withEmits({
        person: { $when: { from: 'first' }, name: { from: 'first' }, code: { from: 'id' } },
        place: { name: { from: 'summary.doctor.name' } },
      }),
      env,
      targets,
    );
    expect(emits({ id: 7, first: 'Ann', summary: { encounterId: 1, doctor: { name: 'Main St' } } }, ctx)).toEqual([
      { source: 'person', record: { name: 'Ann', code: 7 } },
      { source: 'place', record: { name: 'Main St' } },
    ]);
    // No first name: the condition fails. No doctor: a place without its required name is not emitted.
    expect(emits({ id: 7, summary: { encounterId: 1 } }, ctx)).toEqual([]);
    // A record that does not satisfy the shape (code must be an integer) is not emitted either.
    expect(emits({ id: 7.5, first: 'Ann' }, ctx)).toEqual([]);
  });

  it('emits nothing for a mapping without emits', () => {
    expect(compileEmits(FILE, mapping({ v: 1 }), env, targets)({ id: 1 }, ctx)).toEqual([]);
  });

  const cases: Array<{ name: string; emits: Record<string, Record<string, unknown>>; path: string; why: RegExp }> = [
    { name: 'an unknown shape', emits: { animal: { name: 'x' } }, path: 'emits.animal', why: /not a record shape a mapping can emit/ },
    { name: 'a key that is no field of the shape', emits: { place: { title: { from: 'first' } } }, path: 'emits.place.title', why: /has no field "title"/ },
    { name: 'a path the source lacks', emits: { place: { name: { from: 'summary.doctor.nam' } } }, path: 'emits.place.name', why: /no field "summary.doctor.nam"/ },
    { name: 'an unknown function', emits: { place: { name: { fn: 'nope' } } }, path: 'emits.place.name', why: /unknown function/ },
  ];
  for (const c of cases) {
    it(`fails fast on ${c.name}, naming the file and path`, () => {
      const err = thrown(() => compileEmits(FILE, withEmits(c.emits), env, targets));
      expect(err).toBeInstanceOf(MappingError);
      expect((err as MappingError).message.startsWith(`${FILE}: ${c.path}: `)).toBe(true);
      expect((err as MappingError).message).toMatch(c.why);
    });
  }
});
