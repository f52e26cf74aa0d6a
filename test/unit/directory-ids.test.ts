// Practitioner, Location and Organization ids (src/ids/directory-ids.ts): the data sealed
// when it fits, the encounter that named it otherwise; bound to kind and practice; stable.
import { describe, expect, it } from 'vitest';
import { createResourceIds } from '../../src/ids/resource-ids.ts';

const ids = createResourceIds('directory id test key, 32+ characters long').forPractice('1001');
const other = createResourceIds('directory id test key, 32+ characters long').forPractice('1002');
const anchor = { encounterId: 1000031, date: '2024-03-05', patient: { patientId: 10002, term: 'E10050' } };

describe('directory ids', () => {
  it('seal the data when it fits: the same record gets the same id, with or without an anchor, and opens to it', () => {
    const doctor = { doctorId: 504, firstName: 'Tomás', lastName: 'Ibarra', designation: 'DO' };
    const id = ids.practitioner.issue(doctor);
    expect(id).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
    expect(ids.practitioner.issue(doctor, anchor)).toBe(id);
    expect(ids.practitioner.open(id ?? '')).toEqual({ data: doctor });
    expect(ids.organization.open(ids.organization.issue({ kind: 'practice' }) ?? '')).toEqual({ data: { kind: 'practice' } });
    expect(ids.location.open(ids.location.issue({ name: 'Bayview Skin Center' }) ?? '')).toEqual({ data: { name: 'Bayview Skin Center' } });
  });

  it('name the encounter instead when the data does not fit, and issue nothing without one', () => {
    const name = 'Lakeside Eye Associates – Main Street';
    expect(ids.location.issue({ name })).toBeUndefined();
    const id = ids.location.issue({ name }, anchor) ?? '';
    expect(id.length).toBeLessThanOrEqual(64);
    const opened = ids.location.open(id);
    expect(opened && 'anchor' in opened ? { ...opened.anchor, patientResourceId: undefined } : opened).toEqual({ ...anchor, patientResourceId: undefined });
    expect(opened && 'anchor' in opened ? opened.anchor.patientResourceId : undefined).toBe(ids.patient.idOf(anchor.patient));
  });

  it('open only as their own kind and practice, and not when altered', () => {
    const id = ids.organization.issue({ kind: 'department', name: 'Retina' }) ?? '';
    expect(ids.organization.open(id)).toEqual({ data: { kind: 'department', name: 'Retina' } });
    expect(ids.location.open(id)).toBeUndefined();
    expect(ids.practitioner.open(id)).toBeUndefined();
    expect(other.organization.open(id)).toBeUndefined();
    expect(ids.organization.open(`${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
  });
});
