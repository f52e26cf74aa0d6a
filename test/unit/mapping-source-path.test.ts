// src/mapping/source-path.ts: plain `from` paths compile to direct property access that must
// agree with FHIRPath on every record (the semantics mappings had when every path was
// FHIRPath), and loadMappings checks every segment of a path against the Nextech schema.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fhirpath from 'fhirpath';
import { describe, expect, it } from 'vitest';
import { MappingError } from '../../src/mapping/compile.ts';
import { loadMappings, MAPPINGS_DIR } from '../../src/mapping/load.ts';
import { compilePlainPath, plainPath, rootChains } from '../../src/mapping/source-path.ts';

const records: unknown[] = [
  {},
  { a: null },
  { a: '' },
  { a: 0, b: false },
  { a: 'x', b: { c: 'y' } },
  { a: ['x', null, 'y'], b: [{ c: 1 }, { c: [2, 3] }, { c: null }, null, {}] },
  { b: { c: { d: 'deep' } } },
  { b: [{ c: [{ d: 1 }, { d: [2, 3] }] }, { c: { d: true } }] },
  { b: 'not an object' },
  { b: { c: '' } },
  { summary: { encounterId: 7, encounterDate: '2021-03-15T10:00:00Z', encounterLocked: false }, ccd: '<html/>' },
];
const paths = ['a', 'b', 'b.c', 'b.c.d', 'summary.encounterId', 'summary.encounterDate', 'summary.encounterLocked', 'ccd', 'missing.field'];

describe('plain paths', () => {
  for (const p of paths) {
    it(`${p} agrees with FHIRPath on every sample record`, () => {
      const direct = compilePlainPath(plainPath(p) ?? []);
      const viaFhirPath = fhirpath.compile(p, undefined);
      for (const r of records) expect(direct(r)).toEqual(viaFhirPath(r as object));
    });
  }

  it('only dotted identifiers are plain paths', () => {
    expect(plainPath('summary.encounterId')).toEqual(['summary', 'encounterId']);
    for (const e of ['a | b', 'a.upper()', "'x'", 'a..b', 'a.b.', '%x', 'a[0]']) expect(plainPath(e)).toBeUndefined();
  });

  it('finds the chains a FHIRPath expression reads from the record', () => {
    expect(rootChains('lastName | firstName')).toEqual([['lastName'], ['firstName']]);
    expect(rootChains("a.b.where(c = 'd').e")).toEqual([['a', 'b']]);
    expect(rootChains("a is String and b.c = 'x.y'")).toEqual([['a'], ['b', 'c']]);
  });
});

describe('loadMappings checks every segment of a from path', () => {
  it('fails on summary.encounterIdd, naming the file and the mapping path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mappings-'));
    try {
      cpSync(MAPPINGS_DIR, dir, { recursive: true });
      const file = join(dir, 'encounter.map.yaml');
      const yaml = readFileSync(file, 'utf8');
      expect(yaml).toContain('value: { from: summary.encounterId, fn: string }');
      writeFileSync(file, yaml.replace('value: { from: summary.encounterId, fn: string }', 'value: { from: summary.encounterIdd, fn: string }'));
      let err: unknown;
      try {
        loadMappings(dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MappingError);
      expect((err as Error).message).toBe(`${file}: resource.identifier[0].value: "summary.encounterIdd": the source record has no field "summary.encounterIdd"`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads the mappings as they are', () => {
    expect(() => loadMappings()).not.toThrow();
  });
});
