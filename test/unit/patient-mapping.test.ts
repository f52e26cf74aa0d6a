// Golden cases for mappings/patient.map.yaml, kept as data in
// test/fixtures/patient-mapping.cases.json and run by one loop (the fhirpath.js way). Each
// case is a Nextech patient as the API sends it, the practice and environment it is served
// under, and the exact FHIR Patient expected. The runner takes the real path: zod schema
// (as the Nextech client parses it) → compiled mapping → context from mappingContext().
// Expected ids are pinned values of the id scheme under the sandbox key (test/unit/resource-ids.test.ts
// tests the scheme itself).
// vitest runs this under TZ=America/New_York, and the cases run again under zones east and
// west of UTC, so a birthDate shifted by the machine's zone shows up as a wrong day.
import { GroupStore } from '../../src/bulk/group-store.ts';
import { FileGroups } from '../../src/bulk/group-files.ts';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config.ts';
import { createResourceIds } from '../../src/ids/resource-ids.ts';
import { CONTEXT_KEYS, MappingValuesSchema } from '../../src/mapping/context.ts';
import { loadMappings } from '../../src/mapping/load.ts';
import { NextechSource } from '../../src/source/nextech/source.ts';
import { EhrPatientSchema } from '../../src/source/nextech/schemas.ts';
import { mappingContext, type RequestContext } from '../../src/resources/context.ts';
import { assertValidFhir } from '../helpers/validator.ts';

const CaseSchema = z.object({
  name: z.string().min(1),
  input: z.record(z.string(), z.unknown()),
  context: z.object({
    practiceId: z.string().min(1),
    /** Environment variables for loadConfig (EXPOSE_SSN, *_SYSTEM templates). */
    env: z.record(z.string(), z.string()).optional(),
  }),
  expected: z.record(z.string(), z.unknown()),
});
type Case = z.infer<typeof CaseSchema>;

const cases = z
  .array(CaseSchema)
  .min(1)
  .parse(JSON.parse(readFileSync(new URL('../fixtures/patient-mapping.cases.json', import.meta.url), 'utf8')));

const mappings = loadMappings();
/** Never called: mapping does no I/O. Constructing it opens no connection. */
const source = new NextechSource({
  client: { baseUrl: 'http://nextech.invalid', policy: { requestMs: 1000, connectMs: 1000 } },
  caches: { encounterTtlMs: 0, encounterMaxBytes: 0, categoryTtlMs: 0, patientTtlMs: 0 },
  now: () => 0,
});

/** The request context a route would build for this case's practice and environment. */
function requestContext(c: Case): RequestContext {
  const config = { ...loadConfig(c.context.env ?? {}), publicBaseUrl: 'http://fhir.test' };
  return {
    services: {
      config,
      source,
      mappings,
      ids: createResourceIds(config.resourceIdKey),
      doors: { passthrough: false, anonymous: false, supportedTypes: [] },
      // Never touched: mapping stores nothing.
      groups: new GroupStore(new FileGroups({ dir: '/nonexistent', resourceIdKey: config.resourceIdKey })),
      now: () => 0,
    },
    call: { practiceId: c.context.practiceId, credential: { kind: 'managed' }, callerKey: 'test' },
    baseUrl: `${config.publicBaseUrl}/fhir`,
    callerKey: 'test',
    memo: new Map(),
  };
}

function mapCase(c: Case) {
  const row = EhrPatientSchema.parse(c.input);
  return mappings.patient(row, mappingContext(requestContext(c)));
}

describe('the mapping context', () => {
  it('mappingContext() builds exactly the values declared in src/mapping/context.ts', () => {
    const values = mappingContext(requestContext(cases[0] as Case)).values;
    expect(() => MappingValuesSchema.strict().parse(values)).not.toThrow();
    for (const k of Object.keys(values)) expect(CONTEXT_KEYS.has(k)).toBe(true);
  });
});

describe('patient.map.yaml golden cases', () => {
  it('has uniquely named cases', () => {
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  for (const c of cases) {
    it(c.name, () => {
      expect(mapCase(c)).toEqual(c.expected);
    });
  }
});

/** Zones either side of UTC, with their offset at the epoch (Date#getTimezoneOffset). */
const zones: Array<[string, number]> = [
  ['Asia/Tokyo', -540],
  ['Pacific/Honolulu', 600],
];

for (const [zone, offset] of zones) {
  describe(`patient.map.yaml golden cases under TZ=${zone}`, () => {
    const saved = process.env.TZ;
    beforeAll(() => {
      process.env.TZ = zone;
    });
    afterAll(() => {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    });

    it('runs in that zone', () => {
      expect(new Date(0).getTimezoneOffset()).toBe(offset);
    });

    for (const c of cases) {
      it(c.name, () => {
        expect(mapCase(c)).toEqual(c.expected);
      });
    }
  });
}

describe('patient.map.yaml expected outputs', () => {
  for (const c of cases) {
    it(`is valid FHIR R4: ${c.name}`, () => {
      expect(() => assertValidFhir(c.expected)).not.toThrow();
    });
  }
});

describe('SSN handling', () => {
  const hidden = cases.filter((c) => c.context.env?.EXPOSE_SSN !== 'true' && typeof c.input.ssn === 'string' && c.input.ssn !== '');
  const exposed = cases.filter((c) => c.context.env?.EXPOSE_SSN === 'true' && typeof c.input.ssn === 'string' && c.input.ssn !== '');

  it('has cases on both sides', () => {
    expect(hidden.length).toBeGreaterThan(0);
    expect(exposed.length).toBeGreaterThan(0);
  });

  for (const c of hidden) {
    it(`puts the SSN nowhere in the output unless EXPOSE_SSN=true: ${c.name}`, () => {
      const text = JSON.stringify(mapCase(c));
      const ssn = String(c.input.ssn);
      expect(text).not.toContain(ssn);
      expect(text).not.toContain(ssn.replace(/\D/g, ''));
      expect(text).not.toContain('us-ssn');
    });
  }
});
