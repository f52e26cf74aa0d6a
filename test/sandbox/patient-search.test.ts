import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeCases } from '../../src/sandbox/edge-cases.ts';
import { foldText } from '../../src/sandbox/matching.ts';
import type { NextechPatient } from '../../src/sandbox/types.ts';
import { anyString, startTestSandbox, type TestSandbox } from './helpers.ts';

describe('GET /ehr/api/search', () => {
  let sb: TestSandbox;
  beforeAll(async () => {
    sb = await startTestSandbox();
  });
  afterAll(() => sb.close());

  const search = async (term: string, practiceId = '1001'): Promise<NextechPatient[]> => {
    const res = await sb.get(`/search?term=${encodeURIComponent(term)}`, { practiceId });
    expect(res.status).toBe(200);
    return (await res.json()) as NextechPatient[];
  };
  const practice = (id: string) => sb.sandbox.data.practices.find((p) => p.practiceId === id);

  it('returns the exact patient objects of every surname match, sorted by patientId', async () => {
    const expected = practice('1001')?.patients
      .filter((p) => foldText(p.json.lastName).includes('smith') || foldText(p.json.firstName).includes('smith')
        || foldText(p.json.middleName ?? '').includes('smith'))
      .map((p) => p.json);
    const found = await search('smith');
    expect(found).toEqual(expected);
    expect(found.length).toBeGreaterThanOrEqual(3);
  });

  it('keeps omitted keys omitted on the wire', async () => {
    const [absent] = edgeCases('middle-name-absent', '1001');
    const found = await search('Zoë Müller');
    const zoe = found.find((p) => p.patientId === absent?.patientId);
    expect(zoe).toBeDefined();
    expect(zoe && 'middleName' in zoe).toBe(false);
  });

  it('finds Núñez when searching Nunez, without accents or case', async () => {
    const [nunez] = edgeCases('diacritics', '1001').filter((e) => e.name.includes('Núñez'));
    expect((await search('Nunez')).map((p) => p.patientId)).toEqual([nunez?.patientId]);
    expect((await search('NÚÑEZ')).map((p) => p.patientId)).toEqual([nunez?.patientId]);
  });

  it('matches "last, first" and "first last" forms', async () => {
    const [obrien] = edgeCases('apostrophe-name', '1001');
    expect((await search("O'Brien, Siobhan")).map((p) => p.patientId)).toEqual([obrien?.patientId]);
    expect((await search("siobhan o'brien")).map((p) => p.patientId)).toEqual([obrien?.patientId]);
  });

  it('matches a chart number with a space or slash exactly, and not partly', async () => {
    const [space] = edgeCases('chart-number-with-space', '1001');
    const [slash] = edgeCases('chart-number-with-slash', '1001');
    expect((await search('NT 4471')).map((p) => p.patientId)).toEqual([space?.patientId]);
    expect((await search('2019/0045')).map((p) => p.patientId)).toEqual([slash?.patientId]);
    expect(await search('NT 447')).toEqual([]);
  });

  it('keeps practices apart: the same name gives a different patient in each', async () => {
    const [a, b] = edgeCases('same-name-both-practices');
    expect((await search('Thornbury', '1001')).map((p) => p.patientId)).toEqual([a?.patientId]);
    expect((await search('Thornbury', '1002')).map((p) => p.patientId)).toEqual([b?.patientId]);
  });

  it('returns an empty array when nothing matches', async () => {
    expect(await search('Zzyzx')).toEqual([]);
  });

  it('returns 400 when term is missing, blank or repeated', async () => {
    for (const query of ['', '?term=', '?term=%20%20', '?term=a&term=b']) {
      const res = await sb.get(`/search${query}`);
      expect(res.status, query).toBe(400);
      expect(await res.json()).toEqual({ message: anyString });
    }
  });
});
