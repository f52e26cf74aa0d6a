// The resource id schemes (src/ids) as data tables: what each id holds, that it reads back,
// that it is a short legal FHIR id (https://hl7.org/fhir/R4/datatypes.html#id) showing no
// chart number, name or birth date, that it is stable for one key, and that anything else
// — one character changed, cut, extended, another kind, practice or key — opens as nothing.
import { createHash } from 'node:crypto';
import { aessiv } from '@noble/ciphers/aes.js';
import { describe, expect, it } from 'vitest';
import { SANDBOX_RESOURCE_ID_KEY } from '../../src/config.ts';
import { createResourceIds, type DocumentKey, type PatientRecord, type ResourceIds } from '../../src/ids/resource-ids.ts';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.';
const P = '1001';
const ids = createResourceIds(SANDBOX_RESOURCE_ID_KEY);
const INT32_MAX = 2 ** 31 - 1;
const BIG_PATIENT = 123456789012345; // 47 bits: a 7-byte varint, so 15 bytes of term

/** The bytes an id spells, decoded independently of src/ids (base64url, `.` for `_`). */
const bytesOf = (id: string) => Buffer.from(id.replaceAll('.', '_'), 'base64url');

// ---------------------------------------------------------------------------------------
// Patient ids: the record, and the search term the id must carry.

interface PatientCase {
  name: string;
  record: PatientRecord;
  term: string;
}

const patientCases: PatientCase[] = [
  { name: 'a plain chart number', record: { patientId: 10002, chartNumber: 'E10050', lastName: "O'Brien" }, term: 'E10050' },
  { name: 'a chart number with a space', record: { patientId: 52341, chartNumber: 'AB 1234' }, term: 'AB 1234' },
  { name: 'a chart number with a slash', record: { patientId: 7, chartNumber: '2019/0042' }, term: '2019/0042' },
  { name: 'an all-digit chart number', record: { patientId: 12, chartNumber: '0042' }, term: '0042' },
  { name: 'a unicode chart number', record: { patientId: 1, chartNumber: 'Zoë-7' }, term: 'Zoë-7' },
  { name: 'a chart number with spaces around it is trimmed', record: { patientId: 3, chartNumber: '  C1  ' }, term: 'C1' },
  { name: 'without a chart number, the last name', record: { patientId: 52341, lastName: 'Whitfield' }, term: 'Whitfield' },
  { name: 'a last name with an apostrophe', record: { patientId: 9, lastName: "O'Connor" }, term: "O'Connor" },
  { name: 'the chart number wins over the last name', record: { patientId: 9, chartNumber: 'C9', lastName: 'Smith' }, term: 'C9' },
  { name: 'without chart number or last name, the first name', record: { patientId: 52341, firstName: 'Ann' }, term: 'Ann' },
  { name: 'a blank chart number counts as none', record: { patientId: 4, chartNumber: '   ', lastName: 'Núñez' }, term: 'Núñez' },
  // Budget: 32 bytes of plaintext − 10 for the longest encounter prefix − the patientId's varint.
  { name: 'a chart number that fits exactly stays whole', record: { patientId: 1, chartNumber: 'y'.repeat(21), lastName: 'Smith' }, term: 'y'.repeat(21) },
  { name: 'a chart number one byte too long gives way to the last name', record: { patientId: 1, chartNumber: 'y'.repeat(22), lastName: 'Smith' }, term: 'Smith' },
  { name: 'a long chart number gives way to the last name', record: { patientId: BIG_PATIENT, chartNumber: 'x'.repeat(100), lastName: 'Smith' }, term: 'Smith' },
  { name: 'a long multibyte chart number gives way to the first name', record: { patientId: 1, chartNumber: 'ë'.repeat(11), firstName: 'Ann' }, term: 'Ann' },
  { name: 'a long last name is cut to the budget', record: { patientId: 1, lastName: 'x'.repeat(100) }, term: 'x'.repeat(21) },
  { name: 'a long name under a big patientId is cut shorter', record: { patientId: BIG_PATIENT, lastName: 'x'.repeat(100) }, term: 'x'.repeat(15) },
  { name: 'a two-byte name keeps whole characters', record: { patientId: 1, lastName: 'ë'.repeat(100) }, term: 'ë'.repeat(10) },
  { name: 'an astral name never splits a surrogate pair', record: { patientId: 1, lastName: '😀'.repeat(40) }, term: '😀'.repeat(5) },
  { name: 'a decomposed accent stays with its letter', record: { patientId: 1, lastName: 'Zoe\u0308'.repeat(10) }, term: `${'Zoe\u0308'.repeat(4)}Z` },
  { name: 'an emoji sequence is kept whole or not at all', record: { patientId: 1, lastName: '👩‍👩‍👧'.repeat(2) }, term: '👩‍👩‍👧' },
  { name: 'flags are never cut in half', record: { patientId: 1, lastName: '🇫🇷'.repeat(3) }, term: '🇫🇷'.repeat(2) },
  { name: 'a three-byte script keeps whole characters', record: { patientId: 1, lastName: '山田'.repeat(10) }, term: '山田'.repeat(3) + '山' },
  { name: 'an int32 patientId', record: { patientId: INT32_MAX, chartNumber: 'A1' }, term: 'A1' },
  { name: 'patientId 0', record: { patientId: 0, chartNumber: 'Z' }, term: 'Z' },
];

describe('Patient ids', () => {
  for (const c of patientCases) {
    it(`round-trips ${c.name}`, () => {
      const id = ids.patient.issue(P, c.record) ?? '';
      expect(id).toMatch(FHIR_ID);
      expect(ids.patient.open(P, id)).toEqual({ patientId: c.record.patientId, term: c.term });
      expect(ids.patient.idOf(P, { patientId: c.record.patientId, term: c.term })).toBe(id);
      // The term is a whole-character prefix of what Nextech matches (chart exactly, names by substring).
      const source = [c.record.chartNumber, c.record.lastName, c.record.firstName].map((s) => s?.trim() ?? '');
      expect(source.some((s) => s === c.term || (s.startsWith(c.term) && s !== c.record.chartNumber?.trim()))).toBe(true);
      expect(Buffer.from(c.term, 'utf8').toString('utf8')).toBe(c.term);
    });
  }

  it('issues an id that reads nothing for a record with neither chart number nor name', () => {
    // Documented: Nextech can only find a patient by name or chart number.
    const id = ids.patient.issue(P, { patientId: 52341 }) ?? '';
    expect(id).toMatch(FHIR_ID);
    expect(ids.patient.open(P, id)).toBeUndefined();
  });

  for (const patientId of [-1, 1.5, Number.NaN, 2 ** 53]) {
    it(`issues no id for patientId ${patientId}`, () => {
      expect(ids.patient.issue(P, { patientId, chartNumber: 'C1' })).toBeUndefined();
    });
  }

  it('binds the same ids through forPractice', () => {
    const bound = ids.forPractice(P);
    const record = { patientId: 10002, chartNumber: 'E10050' };
    expect(bound.practiceId).toBe(P);
    expect(bound.patient.issue(record)).toBe(ids.patient.issue(P, record));
    expect(bound.patient.open(bound.patient.issue(record) ?? '')).toEqual({ patientId: 10002, term: 'E10050' });
  });
});

// ---------------------------------------------------------------------------------------
// Encounter and DocumentReference ids.

const patient = { patientId: 10002, term: 'E10050' };
const sectionKeyOf = (name: string) => createHash('sha1').update(name.toLowerCase(), 'utf8').digest('hex').slice(0, 4);
const longest = { patientId: INT32_MAX, term: 'x'.repeat(17) }; // the largest term an int32 patientId allows

interface EncounterCase {
  name: string;
  key: DocumentKey;
}

const encounterCases: EncounterCase[] = [
  { name: 'a sandbox encounter', key: { encounterId: 1000031, date: '2021-06-12', patient } },
  { name: 'the first day', key: { encounterId: 1, date: '1970-01-01', patient } },
  { name: 'a leap day', key: { encounterId: 42, date: '2024-02-29', patient } },
  { name: 'a far future day', key: { encounterId: 42, date: '2099-12-31', patient } },
  { name: 'a section document', key: { encounterId: 1000031, date: '2021-06-12', patient, section: 'Allergies' } },
  { name: 'a section named in another case', key: { encounterId: 1000031, date: '2021-06-12', patient, section: 'ALLERGIES' } },
  { name: 'the longest: int32 ids, a section, a full term, year 2500', key: { encounterId: INT32_MAX, date: '2500-12-31', patient: longest, section: 'Vital Signs' } },
  { name: 'an astral term', key: { encounterId: 7, date: '2021-03-15', patient: { patientId: 1, term: '😀'.repeat(5) } } },
];

describe('Encounter and DocumentReference ids', () => {
  for (const c of encounterCases) {
    const { section, ...rest } = c.key;
    const expected = {
      encounterId: rest.encounterId,
      date: rest.date,
      patient: rest.patient,
      patientResourceId: ids.patient.idOf(P, rest.patient),
    };

    it(`round-trips as a DocumentReference id: ${c.name}`, () => {
      const id = ids.document.issue(P, c.key) ?? '';
      expect(id).toMatch(FHIR_ID);
      expect(ids.document.open(P, id)).toEqual({ ...expected, ...(section === undefined ? {} : { sectionKey: sectionKeyOf(section) }) });
    });

    it(`round-trips as an Encounter id (never with a section): ${c.name}`, () => {
      const id = ids.encounter.issue(P, c.key) ?? '';
      expect(id).toMatch(FHIR_ID);
      expect(ids.encounter.open(P, id)).toEqual(expected);
      expect(id).not.toBe(ids.document.issue(P, rest));
    });
  }

  it('gives a section document its own id, the same for any case of the name', () => {
    const base = { encounterId: 1000031, date: '2021-06-12', patient };
    const whole = ids.document.issue(P, base);
    const allergies = ids.document.issue(P, { ...base, section: 'Allergies' });
    expect(new Set([whole, allergies, ids.document.issue(P, { ...base, section: 'Medications' })]).size).toBe(3);
    expect(ids.document.issue(P, { ...base, section: 'ALLERGIES' })).toBe(allergies);
  });

  const refused: Array<[string, DocumentKey]> = [
    ['a day before 1970', { encounterId: 1, date: '1969-12-31', patient }],
    ['an impossible date', { encounterId: 1, date: '2021-02-30', patient }],
    ['a date-time instead of a day', { encounterId: 1, date: '2021-02-03T00:00:00Z', patient }],
    ['a negative encounter id', { encounterId: -1, date: '2021-02-03', patient }],
    ['a term over the budget', { encounterId: 1, date: '2021-02-03', patient: { patientId: 1, term: 'x'.repeat(22) } }],
  ];
  for (const [why, key] of refused) {
    it(`issues no id for ${why}`, () => {
      expect(ids.encounter.issue(P, key)).toBeUndefined();
      expect(ids.document.issue(P, key)).toBeUndefined();
    });
  }
});

// ---------------------------------------------------------------------------------------
// Properties over every id issued above.

const allIds: Array<{ kind: 'patient' | 'encounter' | 'document'; id: string }> = [
  ...patientCases.map((c) => ({ kind: 'patient' as const, id: ids.patient.issue(P, c.record) ?? '' })),
  ...encounterCases.map((c) => ({ kind: 'encounter' as const, id: ids.encounter.issue(P, c.key) ?? '' })),
  ...encounterCases.map((c) => ({ kind: 'document' as const, id: ids.document.issue(P, c.key) ?? '' })),
];
const open = (r: ResourceIds, kind: 'patient' | 'encounter' | 'document', practice: string, id: string) => r[kind].open(practice, id);

describe('every id', () => {
  it('is a FHIR id of at most 64 characters', () => {
    for (const { id } of allIds) {
      expect(id).toMatch(FHIR_ID);
      expect(id.length).toBeLessThanOrEqual(64);
    }
  });

  it('is the same from two instances with the same key, and different under another key', () => {
    const again = createResourceIds(SANDBOX_RESOURCE_ID_KEY);
    const other = createResourceIds('another key of at least thirty-two characters');
    for (const c of patientCases) {
      expect(again.patient.issue(P, c.record)).toBe(ids.patient.issue(P, c.record));
      const otherId = other.patient.issue(P, c.record) ?? '';
      expect(otherId).not.toBe(ids.patient.issue(P, c.record));
      expect(ids.patient.open(P, otherId)).toBeUndefined();
    }
    for (const c of encounterCases) {
      expect(again.document.issue(P, c.key)).toBe(ids.document.issue(P, c.key));
      expect(again.encounter.issue(P, c.key)).toBe(ids.encounter.issue(P, c.key));
      expect(ids.document.open(P, other.document.issue(P, c.key) ?? '')).toBeUndefined();
    }
  });

  it('opens only as its own kind and in its own practice', () => {
    for (const { kind, id } of allIds) {
      for (const k of ['patient', 'encounter', 'document'] as const) {
        if (k !== kind) expect(open(ids, k, P, id)).toBeUndefined();
      }
      expect(open(ids, kind, '1002', id)).toBeUndefined();
      expect(open(ids, kind, '', id)).toBeUndefined();
      expect(open(ids, kind, P, id)).toBeDefined();
    }
  });

  it('opens as nothing with any single character changed (one id of each kind, a section document, the longest)', () => {
    const sample = [allIds[0], allIds[patientCases.length], ...allIds.slice(-4)].filter((x) => x !== undefined);
    expect(new Set(sample.map((x) => x.kind))).toEqual(new Set(['patient', 'encounter', 'document']));
    for (const { kind, id } of sample) {
      for (let i = 0; i < id.length; i += 1) {
        for (const ch of ALPHABET) {
          if (ch === id[i]) continue;
          const altered = `${id.slice(0, i)}${ch}${id.slice(i + 1)}`;
          expect(open(ids, kind, P, altered), `${id} → ${altered}`).toBeUndefined();
        }
      }
    }
  });

  it('opens as nothing cut short, extended, or with two characters swapped', () => {
    for (const { kind, id } of allIds) {
      for (let n = 0; n < id.length; n += 1) expect(open(ids, kind, P, id.slice(0, n))).toBeUndefined();
      for (const ch of ALPHABET) expect(open(ids, kind, P, `${id}${ch}`)).toBeUndefined();
      for (const ch of ALPHABET) expect(open(ids, kind, P, `${ch}${id}`)).toBeUndefined();
      for (let i = 0; i + 1 < id.length; i += 1) {
        if (id[i] === id[i + 1]) continue;
        const swapped = `${id.slice(0, i)}${id[i + 1] ?? ''}${id[i] ?? ''}${id.slice(i + 2)}`;
        expect(open(ids, kind, P, swapped)).toBeUndefined();
      }
    }
  });
});

// ---------------------------------------------------------------------------------------
// No patient data in ids.

const people: Array<{ record: PatientRecord; dob: string; encounterId: number; date: string }> = [
  { record: { patientId: 10002, chartNumber: 'E10050', firstName: 'Aiden', lastName: "O'Brien" }, dob: '1961-08-09', encounterId: 1000031, date: '2021-06-12' },
  { record: { patientId: 52341, chartNumber: 'C10482', firstName: 'Margaret', lastName: 'Whitfield' }, dob: '1980-05-14', encounterId: 4711, date: '2021-03-15' },
  { record: { patientId: 10156, chartNumber: 'NT 4471', firstName: 'Zoë', lastName: 'Núñez' }, dob: '1975-01-01', encounterId: 99, date: '2019-12-31' },
  { record: { patientId: 777, firstName: 'Renée', lastName: 'Castellano-Whitfield' }, dob: '2001-02-28', encounterId: 5, date: '2022-07-04' },
];

/** The ways a value could show in an id: as it is, and in the encodings an id could use. */
function spellings(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const b64 = bytes.toString('base64').replace(/=+$/, '');
  const b64url = bytes.toString('base64url');
  return [value, value.toLowerCase(), bytes.toString('hex'), bytes.toString('hex').toUpperCase(), b64, b64url, b64url.replaceAll('_', '.')];
}

describe('ids show no patient data', () => {
  for (const p of people) {
    const loc = ids.patient.open(P, ids.patient.issue(P, p.record) ?? '');
    const key = { encounterId: p.encounterId, date: p.date, patient: loc ?? { patientId: 0, term: '' } };
    const issued = [
      ids.patient.issue(P, p.record) ?? '',
      ids.encounter.issue(P, key) ?? '',
      ids.document.issue(P, key) ?? '',
      ids.document.issue(P, { ...key, section: 'Problems' }) ?? '',
    ];
    const secrets = [p.record.chartNumber, p.record.lastName, p.record.firstName, p.dob, p.dob.replaceAll('-', ''), loc?.term].filter(
      (s): s is string => s !== undefined && s.length >= 3,
    );

    it(`holds no chart number, name or birth date of patient ${p.record.patientId}, in clear or encoded`, () => {
      expect(issued.every((id) => FHIR_ID.test(id))).toBe(true);
      for (const id of issued) {
        for (const s of secrets) {
          for (const spelled of spellings(s)) expect(id).not.toContain(spelled);
          // At any byte alignment: the id's bytes do not contain the value's bytes.
          expect(bytesOf(id).includes(Buffer.from(s, 'utf8'))).toBe(false);
        }
      }
    });
  }
});

// ---------------------------------------------------------------------------------------
// Inputs that are not ids at all, and the pinned scheme.

const notIds: Array<[string, string]> = [
  ['an empty string', ''],
  ['an old-format Patient id', '10002-E10050'],
  ['an old-format hex Patient id', '10156.4e542034343731'],
  ['an old-format Encounter id', '1000031.20210612.10002-E10050'],
  ['an old-format section document id', '1000031.20210612s3fa2.10002-E10050'],
  ['65 characters', 'A'.repeat(65)],
  ['a path', '../x'],
  ['base64 padding', 'Zr8-qLkajz.v.ttGSa2XQE8rmz4Ryce1=='],
  ['base64url underscore (we write a dot)', 'Zr8-qLkajz_v_ttGSa2XQE8rmz4Ryce1'],
  ['a tag alone', 'A'.repeat(22)],
  ['a non-canonical spelling (leftover bits set)', 'Zr8-qLkajz.v.ttGSa2XQE8rmz4Ryce1AB'],
];

describe('strings that are not our ids', () => {
  for (const [why, id] of notIds) {
    it(`open as nothing: ${why}`, () => {
      for (const kind of ['patient', 'encounter', 'document'] as const) expect(open(ids, kind, P, id)).toBeUndefined();
    });
  }
});

describe('the pinned scheme (ids issued today must read back after every upgrade)', () => {
  // Sandbox patient 10002, chart E10050, practice 1001, under the sandbox key; encounter
  // 1000031 of 2021-06-12. A change here breaks every id clients have stored.
  const key = { encounterId: 1000031, date: '2021-06-12', patient };
  const pinned: Array<[string, string | undefined, string]> = [
    ['Patient', ids.patient.issue(P, { patientId: 10002, chartNumber: 'E10050' }), 'Zr8-qLkajz.v.ttGSa2XQE8rmz4Ryce1'],
    ['Encounter', ids.encounter.issue(P, key), 'svSHImNSsL8ifQfHybvN5cBxfBcv2o6eHg3MCs40'],
    ['DocumentReference and Binary', ids.document.issue(P, key), 'L.YX9DGxrPlw2hmNkxf8LBVXH3Kx1XfA9lxl2uX1'],
    ['DocumentReference of the Allergies section', ids.document.issue(P, { ...key, section: 'Allergies' }), 'v--p0swMJY.DKoAiWsHpG2La159cCzA4Sx80tL04x0U'],
    ['Patient in practice 1002', ids.patient.issue('1002', { patientId: 10002, chartNumber: 'E10050' }), 'i-6In3OUnyomNhJBm85jPquOtEMOZzMD'],
  ];
  for (const [what, issued, expected] of pinned) {
    it(`issues ${expected} for ${what}`, () => {
      expect(issued).toBe(expected);
    });
  }

  it('rests on AES-SIV as RFC 5297 defines it (appendix A.1)', () => {
    const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
    const key64 = hex('fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff');
    const ad = hex('10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627');
    const out = aessiv(key64, ad).encrypt(hex('11223344 55667788 99aabbcc ddee'));
    expect(Buffer.from(out).toString('hex')).toBe('85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c');
  });
});
