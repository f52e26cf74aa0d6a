// The Patient id scheme (src/mapping/ids.ts) as data: record → id → locator. The id must be
// a legal FHIR id (https://hl7.org/fhir/R4/datatypes.html#id) and read back to the patientId
// and an upstream search term that finds the record (the key, or a prefix of it).
import { describe, expect, it } from 'vitest';
import { parsePatientId, patientResourceId } from '../../src/mapping/ids.ts';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');
const LONG_ID = 123456789012345;

interface RoundTrip {
  name: string;
  record: { patientId: number; chartNumber?: string; lastName?: string };
  id: string;
  term: string;
}

const roundTrips: RoundTrip[] = [
  { name: 'a plain chart number is written as it is after a dash', record: { patientId: 52341, chartNumber: 'C10482' }, id: '52341-C10482', term: 'C10482' },
  { name: 'a plain chart number may hold dots and dashes', record: { patientId: 12, chartNumber: '2019-00.42' }, id: '12-2019-00.42', term: '2019-00.42' },
  { name: 'an all-digit chart number stays plain', record: { patientId: 12, chartNumber: '0042' }, id: '12-0042', term: '0042' },
  { name: 'a chart number with a space is written as hex after a dot', record: { patientId: 52341, chartNumber: 'AB 1234' }, id: '52341.41422031323334', term: 'AB 1234' },
  { name: 'a chart number with a slash is written as hex', record: { patientId: 7, chartNumber: '2019/0042' }, id: '7.323031392f30303432', term: '2019/0042' },
  { name: 'a chart number starting with a dash is written as hex', record: { patientId: 7, chartNumber: '-5' }, id: '7.2d35', term: '-5' },
  { name: 'a unicode chart number is written as the hex of its UTF-8 bytes', record: { patientId: 1, chartNumber: 'Zoë' }, id: '1.5a6fc3ab', term: 'Zoë' },
  { name: 'the chart number is trimmed', record: { patientId: 3, chartNumber: '  C1  ' }, id: '3-C1', term: 'C1' },
  { name: 'without a chart number the last name is the key', record: { patientId: 52341, lastName: 'Whitfield' }, id: '52341-Whitfield', term: 'Whitfield' },
  { name: 'a last name with an apostrophe is written as hex', record: { patientId: 9, lastName: "O'Connor" }, id: `9.${hex("O'Connor")}`, term: "O'Connor" },
  { name: 'the chart number wins over the last name', record: { patientId: 9, chartNumber: 'C9', lastName: 'Smith' }, id: '9-C9', term: 'C9' },
];

// Patient ids are at most 38 characters (MAX_PATIENT_ID_LENGTH), so that Encounter ids
// embedding them fit FHIR's 64. LONG_ID (15 digits) + separator leaves 22 for the key.
const longKeys: Array<{ name: string; record: RoundTrip['record']; id: string }> = [
  { name: 'a chart number too long to fit gives way to the last name', record: { patientId: LONG_ID, chartNumber: 'x'.repeat(100), lastName: 'Smith' }, id: `${LONG_ID}-Smith` },
  { name: 'a long plain last name is cut to fit', record: { patientId: LONG_ID, lastName: 'x'.repeat(100) }, id: `${LONG_ID}-${'x'.repeat(22)}` },
  { name: 'a long two-byte name keeps whole characters', record: { patientId: LONG_ID, lastName: 'ë'.repeat(100) }, id: `${LONG_ID}.${hex('ë'.repeat(5))}` },
  { name: 'a long name of astral characters never splits a surrogate pair', record: { patientId: 7, lastName: '😀'.repeat(40) }, id: `7.${hex('😀'.repeat(4))}` },
  { name: 'a long mixed name keeps as many bytes as fit', record: { patientId: LONG_ID, lastName: `AB ${'x'.repeat(100)}` }, id: `${LONG_ID}.${hex(`AB ${'x'.repeat(8)}`)}` },
  { name: 'a chart number that fits exactly is not cut', record: { patientId: 1, chartNumber: 'y'.repeat(36) }, id: `1-${'y'.repeat(36)}` },
];

const notOurs: Array<[string, string]> = [
  ['letters only', 'abc'],
  ['digits only (no key)', '12345'],
  ['a hex part that is not hex', '1.zz'],
  ['a dot with nothing after it', '1.'],
  ['a dash with nothing after it', '1-'],
  ['an odd number of hex digits', '1.abc'],
  ['upper-case hex (we only write lower case)', '1.5A6F'],
  ['hex that is not valid UTF-8', '1.ff'],
  ['hex of only spaces', '1.2020'],
  ['a plain key starting with a dot', '1-.x'],
  ['65 characters', `1-${'a'.repeat(63)}`],
  ['a path', '../x'],
  ['an empty string', ''],
  ['a patientId over 15 digits', `${'9'.repeat(16)}-A`],
];

describe('patientResourceId / parsePatientId', () => {
  for (const c of roundTrips) {
    it(`round-trips: ${c.name}`, () => {
      const id = patientResourceId(c.record);
      expect(id).toBe(c.id);
      expect(id).toMatch(FHIR_ID);
      expect(parsePatientId(c.id)).toEqual({ patientId: c.record.patientId, term: c.term });
    });
  }

  for (const c of longKeys) {
    it(c.name, () => {
      const id = patientResourceId(c.record) ?? '';
      expect(id).toBe(c.id);
      expect(id).toMatch(FHIR_ID);
      expect(id.length).toBeLessThanOrEqual(38);
      const key = c.id.includes('Smith') ? 'Smith' : (c.record.chartNumber ?? c.record.lastName ?? '');
      const loc = parsePatientId(id);
      expect(loc?.patientId).toBe(c.record.patientId);
      expect(loc?.term.length).toBeGreaterThan(0);
      expect(key.startsWith(loc?.term ?? '\u0000')).toBe(true);
    });
  }

  it('gives no id to something that is not a patient record', () => {
    expect(patientResourceId({ patientId: '52341', chartNumber: 'C1' })).toBeUndefined();
    expect(patientResourceId(null)).toBeUndefined();
    expect(patientResourceId('52341-C1')).toBeUndefined();
  });

  it('falls back to the first name when there is neither chart number nor last name', () => {
    const id = patientResourceId({ patientId: 52341, firstName: 'Ann' }) ?? '';
    expect(parsePatientId(id)).toEqual({ patientId: 52341, term: 'Ann' });
  });

  it('issues a bare patient id, which cannot be read back, only when there is nothing to search by', () => {
    // Documented limitation: Nextech can only find a patient by name or chart number.
    expect(patientResourceId({ patientId: 52341 })).toBe('52341');
    expect(parsePatientId('52341')).toBeUndefined();
  });

  for (const [why, id] of notOurs) {
    it(`refuses ${why}: ${JSON.stringify(id.length > 20 ? `${id.slice(0, 20)}…` : id)}`, () => {
      expect(parsePatientId(id)).toBeUndefined();
    });
  }
});
