import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox } from '../../src/sandbox/app.ts';
import { ccdFor } from '../../src/sandbox/ccd.ts';
import { buildSandboxData } from '../../src/sandbox/data.ts';
import type { ExtraPatientSpec } from '../../src/sandbox/extra-patients.ts';
import { startTestSandbox, type TestSandbox } from './helpers.ts';

const EXTRAS: ExtraPatientSpec[] = [
  { practiceId: '1001', firstName: 'Perpetua', lastName: 'Wexcombe', encounters: 45 },
  { practiceId: '1001', firstName: 'Benedikt', lastName: 'Harrowgate', encounters: 3, largeCcds: { count: 2, resultRows: 10_000 } },
  { practiceId: '1002', firstName: 'Adela', lastName: 'Quillfeather', encounters: 0 },
];

describe('sandbox extraPatients', () => {
  const plain = buildSandboxData();
  const extended = buildSandboxData(undefined, { extraPatients: EXTRAS });

  it('adds each extra patient after its practice\'s generated ones, with the encounters asked for', () => {
    for (const practice of extended.practices) {
      const before = plain.practices.find((p) => p.practiceId === practice.practiceId)?.patients ?? [];
      const added = practice.patients.slice(before.length);
      const wanted = EXTRAS.filter((e) => e.practiceId === practice.practiceId);
      expect(added.map((p) => [p.json.firstName, p.json.lastName, p.encounters.length])).toEqual(
        wanted.map((e) => [e.firstName, e.lastName, e.encounters]),
      );
      const lastId = before.at(-1)?.patientId ?? 0;
      expect(added.map((p) => p.patientId)).toEqual(added.map((_, i) => lastId + i + 1));
    }
  });

  it('gives the earliest encounters the large CCDs and the others ordinary ones', () => {
    const practice = extended.practices[0];
    const patient = practice?.patients.find((p) => p.json.lastName === 'Harrowgate');
    if (!practice || !patient) throw new Error('no Harrowgate');
    const sizes = patient.encounters.map((e) => Buffer.byteLength(ccdFor(practice, patient, e), 'utf8'));
    expect(sizes.slice(0, 2).every((b) => b > 1024 * 1024)).toBe(true);
    expect(sizes[2]).toBeLessThan(200 * 1024);
  });

  it('leaves every generated patient and encounter as it was', () => {
    for (const practice of plain.practices) {
      const same = extended.practices.find((p) => p.practiceId === practice.practiceId)?.patients.slice(0, practice.patients.length);
      expect(same).toEqual(practice.patients);
    }
  });

  it('refuses an extra patient of an unknown practice or with more large CCDs than encounters', () => {
    expect(() => createSandbox({ extraPatients: [{ practiceId: '9999', firstName: 'A', lastName: 'B', encounters: 1 }] })).toThrow(/unknown practice/);
    expect(() => createSandbox({ extraPatients: [{ practiceId: '1001', firstName: 'A', lastName: 'B', encounters: 1, largeCcds: { count: 2, resultRows: 10 } }] })).toThrow(
      /largeCcds/,
    );
  });
});

describe('sandbox memoizeResponses', () => {
  let sandbox: TestSandbox;
  beforeAll(async () => {
    sandbox = await startTestSandbox({ memoizeResponses: true, extraPatients: EXTRAS.slice(0, 1) });
  });
  afterAll(() => sandbox.close());

  it('answers a repeat with the same bytes, and records every call', async () => {
    const patient = sandbox.sandbox.data.practices[0]?.patients.find((p) => p.json.lastName === 'Wexcombe');
    const path = `/${patient?.patientId}/encounters/search?end=2099-12-31T23:59:59.999Z`;
    sandbox.sandbox.resetCalls();
    const first = await sandbox.get(path);
    const second = await sandbox.get(path);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(await second.text()).toBe(await first.text());
    expect(sandbox.sandbox.calls).toHaveLength(2);
  });

  it('still checks the token and the practice of a repeat', async () => {
    await sandbox.get('/search?term=Wexcombe');
    expect((await sandbox.get('/search?term=Wexcombe', { token: 'not-a-token' })).status).toBe(401);
    expect((await sandbox.get('/search?term=Wexcombe', { practiceId: '1002' })).status).toBe(200);
    expect(await (await sandbox.get('/search?term=Wexcombe', { practiceId: '1002' })).json()).toEqual([]);
  });
});
