// The order of an Encounter search (src/resources/encounter-listing.ts encounterOrder): by
// start, newest first unless asked otherwise, ties by the Nextech encounter id — computed
// from the records, so light and mapped matches page in the same order.
import { describe, expect, it } from 'vitest';
import { encounterOrder, type LoadedEncounter } from '../../src/resources/encounter-listing.ts';

const enc = (encounterId: number, encounterDate: string): LoadedEncounter =>
  ({ record: { summary: { encounterId, encounterDate } }, patientResourceId: 'p', patient: {} }) as unknown as LoadedEncounter;

describe('encounterOrder', () => {
  const items = [enc(5, '2024-03-01T10:00:00Z'), enc(2, '2024-03-01T10:00:00Z'), enc(9, '2023-01-01T00:00:00Z'), enc(1, '2025-06-30T08:00:00Z'), enc(3, '2024-03-01T10:00:00Z')];
  const ids = (xs: LoadedEncounter[]) => xs.map((x) => x.record.summary.encounterId);

  it('orders newest first, ties by encounter id ascending', () => {
    expect(ids(encounterOrder(items, (x) => x, true))).toEqual([1, 2, 3, 5, 9]);
  });

  it('orders oldest first with _sort=date, ties the same way', () => {
    expect(ids(encounterOrder(items, (x) => x, false))).toEqual([9, 2, 3, 5, 1]);
  });

  it('gives the same order whatever order the listing came in', () => {
    const reversed = [...items].reverse();
    expect(ids(encounterOrder(reversed, (x) => x, true))).toEqual(ids(encounterOrder(items, (x) => x, true)));
  });
});
