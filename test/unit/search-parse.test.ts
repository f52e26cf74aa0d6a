// Golden cases for search parsing (src/fhir/search/parse.ts) over Patient's parameters,
// kept as data and run by one loop: query pairs (already URL-decoded, as the route hands
// them over) → the parsed parameters, or the 400 the client gets. Every valid case must
// also survive formatSearch → URLSearchParams → parseSearch unchanged, since the same
// code writes the bundle's self/next links.
// Rules: https://hl7.org/fhir/R4/search.html (comma = OR, repetition = AND, #escaping).
import { describe, expect, it } from 'vitest';
import { FhirError } from '../../src/fhir/outcome.ts';
import { splitUnescaped, unescapeValue } from '../../src/fhir/search/escape.ts';
import { formatSearch, parseSearch, UNDEFINED_PARAMETER } from '../../src/fhir/search/parse.ts';
import type { ParsedValue, SearchRequest } from '../../src/fhir/search/types.ts';
import { patientSearchParams } from '../../src/resources/patient/params.ts';

/** Built the way src/resources/registry.ts builds its index. */
const defs = new Map(patientSearchParams.map((p) => [p.name, p]));
const BASE = 'http://fhir.test/fhir';

type Pairs = Array<[string, string]>;
interface ExpectedParam {
  name: string;
  modifier?: string;
  values: ParsedValue[];
}
interface Common {
  name: string;
  query: Pairs;
  strict?: true;
}
type Case =
  | (Common & { params: ExpectedParam[]; count?: number; offset?: number; ignored?: string[] })
  /** The parameter the error names (a name this server defines), or null when it names none. */
  | (Common & { error: string | null });

const str = (raw: string, text = raw): ParsedValue => ({ kind: 'string', raw, text });
const tok = (raw: string, token: { system?: string; code?: string }): ParsedValue => ({ kind: 'token', raw, token });
const missing = (raw: 'true' | 'false'): ParsedValue => ({ kind: 'missing', raw, missing: raw === 'true' });
const utc = (iso: string) => Date.parse(iso);
const CHARTS = 'urn:nextech:practice:1001:chart-number';

const combining: Case[] = [
  { name: 'a comma separates OR-ed values of one parameter', query: [['name', 'smith,jones']], params: [{ name: 'name', values: [str('smith'), str('jones')] }] },
  {
    name: 'a repeated parameter is AND-ed: each occurrence stays separate',
    query: [['given', 'ann'], ['given', 'marie']],
    params: [{ name: 'given', values: [str('ann')] }, { name: 'given', values: [str('marie')] }],
  },
  {
    name: 'OR and AND combine, in query order',
    query: [['family', 'smith,jones'], ['given', 'ann'], ['family', 'sm']],
    params: [
      { name: 'family', values: [str('smith'), str('jones')] },
      { name: 'given', values: [str('ann')] },
      { name: 'family', values: [str('sm')] },
    ],
  },
  { name: 'a value keeps its inner spaces and plus signs', query: [['name', 'van der berg+1']], params: [{ name: 'name', values: [str('van der berg+1')] }] },
  { name: 'a value keeps non-ASCII text as written', query: [['family', 'Núñez']], params: [{ name: 'family', values: [str('Núñez')] }] },
];

const escapes: Case[] = [
  { name: '\\, is a literal comma, not an OR', query: [['name', 'smith\\,jr']], params: [{ name: 'name', values: [str('smith\\,jr', 'smith,jr')] }] },
  { name: '\\| in a token is a literal bar, not a system separator', query: [['identifier', 'A\\|1']], params: [{ name: 'identifier', values: [tok('A\\|1', { code: 'A|1' })] }] },
  {
    name: '\\\\ is a literal backslash, and the comma after it still separates',
    query: [['name', 'a\\\\,b']],
    params: [{ name: 'name', values: [str('a\\\\', 'a\\'), str('b')] }],
  },
  { name: '\\$ is a literal dollar', query: [['name', 'a\\$b']], params: [{ name: 'name', values: [str('a\\$b', 'a$b')] }] },
  {
    name: 'an escaped bar in the system and a real bar before the code',
    query: [['identifier', 'urn:x\\|y|C1']],
    params: [{ name: 'identifier', values: [tok('urn:x\\|y|C1', { system: 'urn:x|y', code: 'C1' })] }],
  },
  { name: 'a lone trailing backslash is kept as it is', query: [['name', 'a\\']], params: [{ name: 'name', values: [str('a\\')] }] },
];

const tokens: Case[] = [
  {
    name: 'system|code gives both',
    query: [['identifier', `${CHARTS}|C10482`]],
    params: [{ name: 'identifier', values: [tok(`${CHARTS}|C10482`, { system: CHARTS, code: 'C10482' })] }],
  },
  { name: '|code means a code with no system', query: [['identifier', '|C10482']], params: [{ name: 'identifier', values: [tok('|C10482', { system: '', code: 'C10482' })] }] },
  { name: 'system| means any code in that system', query: [['identifier', `${CHARTS}|`]], params: [{ name: 'identifier', values: [tok(`${CHARTS}|`, { system: CHARTS })] }] },
  { name: 'a bare code means any system', query: [['identifier', 'C10482']], params: [{ name: 'identifier', values: [tok('C10482', { code: 'C10482' })] }] },
  {
    name: 'token values OR with a comma',
    query: [['_id', '52341-C10482,7.4142']],
    params: [{ name: '_id', values: [tok('52341-C10482', { code: '52341-C10482' }), tok('7.4142', { code: '7.4142' })] }],
  },
  { name: 'a lone | is neither system nor code', query: [['identifier', '|']], error: 'identifier' },
  { name: 'two unescaped bars are refused', query: [['identifier', 'a|b|c']], error: 'identifier' },
];

const modifiers: Case[] = [
  { name: ':exact is kept for a string parameter', query: [['name:exact', 'Smith']], params: [{ name: 'name', modifier: 'exact', values: [str('Smith')] }] },
  { name: ':contains is kept for a string parameter', query: [['family:contains', 'mit']], params: [{ name: 'family', modifier: 'contains', values: [str('mit')] }] },
  { name: ':missing=true on any parameter', query: [['given:missing', 'true']], params: [{ name: 'given', modifier: 'missing', values: [missing('true')] }] },
  { name: ':missing=false on a date parameter', query: [['birthdate:missing', 'false']], params: [{ name: 'birthdate', modifier: 'missing', values: [missing('false')] }] },
  { name: ':not is kept for gender', query: [['gender:not', 'male']], params: [{ name: 'gender', modifier: 'not', values: [tok('male', { code: 'male' })] }] },
  { name: 'an unknown modifier is refused, naming the parameter but not the modifier sent', query: [['name:text', 'x']], error: 'name' },
  { name: 'a string modifier on a token parameter is refused', query: [['_id:exact', '1-A']], error: '_id' },
  { name: 'an empty modifier is refused', query: [['name:', 'x']], error: 'name' },
  { name: ':missing=maybe is refused', query: [['name:missing', 'maybe']], error: 'name' },
  { name: ':missing takes lower-case booleans only', query: [['name:missing', 'TRUE']], error: 'name' },
  { name: 'an unknown modifier is refused even when lenient', query: [['gender:below', 'x'], ['foo', '1']], error: 'gender' },
  { name: 'a modifier that is a patient\'s name is never repeated back', query: [['family:Whitfield', 'x']], error: 'family' },
];

const paging: Case[] = [
  { name: '_count defaults to 10 and _offset to 0', query: [['name', 'a']], params: [{ name: 'name', values: [str('a')] }], count: 10, offset: 0 },
  { name: '_count is taken as given up to the maximum', query: [['_count', '25']], params: [], count: 25 },
  { name: '_count of exactly 50 is kept', query: [['_count', '50']], params: [], count: 50 },
  { name: '_count above 50 is clamped to 50', query: [['_count', '51']], params: [], count: 50 },
  { name: 'a huge _count is clamped to 50', query: [['_count', '999999999']], params: [], count: 50 },
  { name: 'a 10-digit _count is clamped to 50 too', query: [['_count', '1000000000']], params: [], count: 50 },
  { name: '_count=0 is allowed (a count-only search)', query: [['_count', '0']], params: [], count: 0 },
  { name: '_count=-1 is refused', query: [['_count', '-1']], error: '_count' },
  { name: '_count=abc is refused', query: [['_count', 'abc']], error: '_count' },
  { name: 'a fractional _count is refused', query: [['_count', '2.5']], error: '_count' },
  { name: 'an empty _count is refused', query: [['_count', '']], error: '_count' },
  { name: 'a repeated _count is refused', query: [['_count', '5'], ['_count', '5']], error: '_count' },
  { name: '_offset is taken as given', query: [['_offset', '20'], ['_count', '5']], params: [], count: 5, offset: 20 },
  { name: '_offset of 10000 is the deepest page allowed', query: [['_offset', '10000']], params: [], offset: 10000 },
  { name: '_offset beyond 10000 is refused', query: [['_offset', '10001']], error: '_offset' },
  { name: 'a negative _offset is refused', query: [['_offset', '-5']], error: '_offset' },
  { name: 'a repeated _offset is refused', query: [['_offset', '10'], ['_offset', '20']], error: '_offset' },
];

const lengths: Case[] = [
  { name: 'a value of 256 characters is accepted', query: [['name', 'a'.repeat(256)]], params: [{ name: 'name', values: [str('a'.repeat(256))] }] },
  { name: 'a value of 257 characters is refused', query: [['name', 'a'.repeat(257)]], error: 'name' },
  { name: 'a long comma list counts as one value', query: [['family', 'ab,'.repeat(86).slice(0, 257)]], error: 'family' },
  { name: 'an over-long value is refused even for an unknown parameter, which it does not name', query: [['foo', 'x'.repeat(300)]], error: null },
];

const leniency: Case[] = [
  { name: 'an unknown parameter is ignored and counted, not named', query: [['foo', 'bar'], ['name', 'a']], params: [{ name: 'name', values: [str('a')] }], ignored: [UNDEFINED_PARAMETER] },
  { name: 'an unknown parameter with a modifier is counted once', query: [['foo:exact', 'bar']], params: [], ignored: [UNDEFINED_PARAMETER] },
  { name: 'unsupported result parameters are ignored and listed', query: [['_sort', 'family'], ['_include', 'Patient:x']], params: [], ignored: ['_sort', '_include'] },
  { name: 'an unknown parameter is refused under handling=strict, without naming it', query: [['foo', 'bar']], strict: true, error: null },
  { name: 'an empty value is ignored and listed', query: [['name', ''], ['given', 'ann']], params: [{ name: 'given', values: [str('ann')] }], ignored: ['name'] },
  { name: 'an empty value with a modifier is listed by the parameter\'s name', query: [['name:exact', '']], params: [], ignored: ['name'] },
  { name: 'an empty value is refused under handling=strict', query: [['name', '']], strict: true, error: 'name' },
  { name: 'an empty item in a comma list is refused', query: [['name', 'a,']], error: 'name' },
  { name: 'a leading empty item in a comma list is refused', query: [['identifier', ',C1']], error: 'identifier' },
  { name: '_format and _pretty are ignored without being listed', query: [['_format', 'json'], ['_pretty', 'true']], params: [], ignored: [] },
  { name: '_format and _pretty are not errors under handling=strict', query: [['_format', 'xml'], ['_pretty', 'true'], ['name', 'a']], strict: true, params: [{ name: 'name', values: [str('a')] }] },
  { name: 'known parameters parse the same under handling=strict', query: [['family', 'smith'], ['_count', '5']], strict: true, params: [{ name: 'family', values: [str('smith')] }], count: 5 },
];

const dates: Case[] = [
  {
    name: 'a prefixed year is the whole year',
    query: [['birthdate', 'ge1980']],
    params: [{ name: 'birthdate', values: [{ kind: 'date', raw: 'ge1980', date: { prefix: 'ge', value: '1980', range: { start: utc('1980-01-01T00:00:00Z'), end: utc('1981-01-01T00:00:00Z') } } }] }],
  },
  {
    name: 'a "+" zone that arrived as a space is read as "+", raw kept for the links',
    query: [['birthdate', 'lt2020-01-01T10:00 02:00']],
    params: [
      {
        name: 'birthdate',
        values: [
          {
            kind: 'date',
            raw: 'lt2020-01-01T10:00 02:00',
            date: { prefix: 'lt', value: '2020-01-01T10:00+02:00', range: { start: utc('2020-01-01T08:00:00Z'), end: utc('2020-01-01T08:01:00Z') } },
          },
        ],
      },
    ],
  },
  { name: 'an impossible date is refused', query: [['birthdate', '2021-02-30']], error: 'birthdate' },
  { name: 'an unknown date prefix is refused', query: [['birthdate', 'xx1980']], error: 'birthdate' },
];

const groups: Record<string, Case[]> = { combining, escapes, tokens, modifiers, paging, lengths, leniency, dates };
const all = Object.values(groups).flat();
const valid = all.filter((c): c is Extract<Case, { params: ExpectedParam[] }> => 'params' in c);

const parse = (query: Pairs, strict = false) => parseSearch('Patient', defs, query, { strict, baseUrl: BASE });

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error, but none was thrown');
}

/** The parsed params without their (shared) definitions, for comparison with a case. */
const shape = (req: SearchRequest) => req.params.map((p) => ({ name: p.def.name, modifier: p.modifier, values: p.values }));

describe('parseSearch', () => {
  for (const [group, cases] of Object.entries(groups)) {
    describe(group, () => {
      for (const c of cases) {
        it(c.name, () => {
          if ('error' in c) {
            const err = thrown(() => parse(c.query, c.strict));
            expect(err).toBeInstanceOf(FhirError);
            const { status, outcome } = err as FhirError;
            expect(status).toBe(400);
            expect(outcome.issue).toHaveLength(1);
            expect(outcome.issue[0]?.code).toBe('invalid');
            const diagnostics = outcome.issue[0]?.diagnostics ?? '';
            if (c.error === null) expect(outcome.issue[0]?.expression).toBeUndefined();
            else {
              expect(outcome.issue[0]?.expression).toEqual([c.error]);
              expect(diagnostics.startsWith(`${c.error}: `)).toBe(true);
            }
            // Nothing the client sent comes back: no value, no name this server does not define, no modifier.
            for (const [key, value] of c.query) {
              if (value.length >= 3) expect(diagnostics).not.toContain(value);
              const [name = '', modifier = ''] = key.split(':');
              if (!defs.has(name) && !name.startsWith('_')) expect(diagnostics).not.toContain(name);
              if (modifier.length >= 3 && modifier !== 'missing') expect(diagnostics).not.toContain(modifier);
            }
            return;
          }
          const { request, ignored } = parse(c.query, c.strict);
          expect(request.resourceType).toBe('Patient');
          expect(shape(request)).toEqual(c.params);
          for (const p of request.params) expect(p.def).toBe(defs.get(p.def.name));
          expect(request.count).toBe(c.count ?? 10);
          expect(request.offset).toBe(c.offset ?? 0);
          expect(ignored).toEqual(c.ignored ?? []);
        });
      }
    });
  }

  it('never echoes an over-long value in the diagnostics', () => {
    const secret = `1968-12-31${'x'.repeat(300)}`;
    const err = thrown(() => parse([['birthdate', secret]]));
    expect(JSON.stringify((err as FhirError).outcome)).not.toContain('1968-12-31');
  });
});

describe('formatSearch', () => {
  for (const c of valid) {
    it(`round-trips: ${c.name}`, () => {
      const { request } = parse(c.query, c.strict);
      const again = parse([...new URLSearchParams(formatSearch(request))], c.strict);
      expect(again.request).toEqual(request);
      expect(again.ignored).toEqual([]);
    });
  }

  it('writes applied parameters in order, then _count, and _offset only when past the first page', () => {
    const { request } = parse([['family', 'smith,jones'], ['foo', '1'], ['gender:not', 'male'], ['_count', '5']]);
    expect(formatSearch(request)).toBe('family=smith,jones&gender:not=male&_count=5');
    expect(formatSearch(request, { offset: 15 })).toBe('family=smith,jones&gender:not=male&_count=5&_offset=15');
    expect(formatSearch(request, { offset: 0, count: 20 })).toBe('family=smith,jones&gender:not=male&_count=20');
  });

  it('percent-encodes escapes and reserved characters but keeps ":" and "/" readable', () => {
    const { request } = parse([['identifier', 'urn:x/y|A\\,1 & 2']]);
    expect(formatSearch(request)).toBe('identifier=urn:x/y%7CA%5C%2C1%20%26%202&_count=10');
  });
});

describe('escape helpers', () => {
  const splits: Array<[string, string, string[]]> = [
    ['a,b', ',', ['a', 'b']],
    ['a\\,b', ',', ['a\\,b']],
    ['a\\\\,b', ',', ['a\\\\', 'b']],
    ['', ',', ['']],
    [',', ',', ['', '']],
    ['a\\', ',', ['a\\']],
    ['sys|code', '|', ['sys', 'code']],
    ['a\\|b|c', '|', ['a\\|b', 'c']],
    ['a,b|c', '|', ['a,b', 'c']],
  ];
  for (const [value, sep, want] of splits) {
    it(`splitUnescaped(${JSON.stringify(value)}, "${sep}") leaves escapes in place`, () => {
      expect(splitUnescaped(value, sep)).toEqual(want);
    });
  }

  const unescapes: Array<[string, string]> = [
    ['a\\,b', 'a,b'],
    ['a\\|b', 'a|b'],
    ['a\\$b', 'a$b'],
    ['a\\\\b', 'a\\b'],
    ['a\\\\\\,b', 'a\\,b'],
    ['a\\nb', 'a\\nb'],
    ['a\\', 'a\\'],
    ['plain', 'plain'],
  ];
  for (const [value, want] of unescapes) {
    it(`unescapeValue(${JSON.stringify(value)}) is ${JSON.stringify(want)}`, () => {
      expect(unescapeValue(value)).toBe(want);
    });
  }
});
