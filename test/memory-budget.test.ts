/**
 * The document memory budget over HTTP, with the real app and sandbox: concurrent requests
 * for a patient with a >1 MB CCD over distinct date ranges never hold more than
 * DOCUMENT_MEMORY_MB (bodies being read plus CCDs cached, read from the budget's high-water
 * mark), and each answers 200 with the right documents or 503 + Retry-After; a request
 * whose client leaves gives its room back; a body that finds no room in time is a 503.
 * (That a request keeps its room until its response is written: unit/release-memory.test.ts.)
 */
import type { Bundle, DocumentReference, OperationOutcome } from 'fhir/r4';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Fault } from '../src/sandbox/index.ts';
import { attachmentOf, ccdBytes, docFetch, edgePatient, matchesOf, type DocPatient } from './helpers/documents.ts';
import { startTestService, type TestService } from './helpers/service.ts';
import { waitFor } from './helpers/wait.ts';

const MB = 1024 * 1024;
const DAY = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

let svc: TestService;
let large: DocPatient;
beforeAll(async () => {
  // No rate budget in the way: the point is many bodies in flight at once.
  svc = await startTestService({ DOCUMENT_MEMORY_MB: '6', NEXTECH_RATE_LIMIT_PER_SECOND: '1000' });
  large = await edgePatient(svc.sandbox, svc.fhir, 'large-ccd');
});
afterEach(() => svc.sandbox.faults.clear());
afterAll(() => svc.close());

/** Nextech sends this patient's encounter searches slowly, as over a slow network, so bodies overlap. */
function dripLargePatient(s: TestService, fault: Extract<Fault, { kind: 'slow-drip' }>): void {
  s.sandbox.faults.add({ fault, path: `/ehr/api/${large.patient.patientId}/encounters/search` });
}

/** The i-th distinct range around the big CCD (the patient's first encounter), and what it holds. */
function rangeAround(i: number) {
  const first = large.patient.encounters[0]?.instant ?? 0;
  const start = day(first - (i + 1) * DAY);
  const end = day(first + (i + 1) * 30 * DAY);
  const to = Date.parse(`${end}T00:00:00Z`) + DAY;
  const expected = large.patient.encounters.filter((e) => e.instant >= Date.parse(`${start}T00:00:00Z`) && e.instant < to).length;
  return { query: `patient=${encodeURIComponent(large.id)}&date=ge${start}&date=le${end}&_count=50`, expected };
}

describe('one memory budget for documents', () => {
  it('holds at most DOCUMENT_MEMORY_MB while 30 requests fetch a >1 MB CCD over distinct ranges at once; each answers 200 or 503 + Retry-After', async () => {
    const memory = svc.running.memory;
    const before = { ...memory.stats };
    dripLargePatient(svc, { kind: 'slow-drip', chunkBytes: 256 * 1024, intervalMs: 50 });
    const big = large.patient.encounters[0];
    if (!big) throw new Error('the large-ccd patient has no encounters');
    const bigSize = ccdBytes(large, big).length;
    expect(bigSize).toBeGreaterThan(MB);
    const ranges = Array.from({ length: 30 }, (_, i) => rangeAround(i));
    const answers = await Promise.all(ranges.map((r) => docFetch<Bundle | OperationOutcome>(`${svc.fhir}/DocumentReference?${r.query}`)));
    const statuses = new Set<number>();
    answers.forEach((res, i) => {
      statuses.add(res.status);
      if (res.status === 503) {
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        expect((res.body as OperationOutcome).issue[0]?.code).toBe('transient');
        return;
      }
      expect(res.status).toBe(200);
      const docs = matchesOf<DocumentReference>(res.body as Bundle);
      expect(docs).toHaveLength(ranges[i]?.expected ?? -1);
      expect(docs.map((d) => attachmentOf(d).size)).toContain(bigSize);
    });
    expect([...statuses].every((s) => s === 200 || s === 503)).toBe(true);
    expect(memory.highWater).toBeLessThanOrEqual(6 * MB);
    // The bodies were counted (30 encounter listings, plus patient checks), and the budget was tight enough to make some wait.
    expect(memory.stats.reservations - before.reservations).toBeGreaterThanOrEqual(30);
    expect(memory.stats.waits - before.waits).toBeGreaterThan(0);
    // Each request gives its room back once its response has been written out.
    await waitFor(() => memory.inFlight === 0 && memory.waiting === 0, 2_000);
  });

  it('gives back the room of bodies whose clients left mid-read', async () => {
    const memory = svc.running.memory;
    dripLargePatient(svc, { kind: 'slow-drip', chunkBytes: 64 * 1024, intervalMs: 100 });
    const clients = [100, 101, 102].map(() => new AbortController());
    const leaving = clients.map((c, i) => fetch(`${svc.fhir}/DocumentReference?${rangeAround(100 + i).query}`, { signal: c.signal }).catch((e: unknown) => e));
    await waitFor(() => memory.inFlight > 3 * MB);
    for (const c of clients) c.abort();
    await Promise.all(leaving);
    await waitFor(() => memory.inFlight === 0 && memory.waiting === 0, 2_000);
    expect(memory.inFlight).toBe(0);
  });

  it('answers 503 transient with Retry-After when no room for a body comes within the wait', async () => {
    // Room for one large body only; the first one arrives over six seconds and holds it.
    const tight = await startTestService({ DOCUMENT_MEMORY_MB: '2' });
    try {
      const patient = await edgePatient(tight.sandbox, tight.fhir, 'large-ccd');
      tight.sandbox.faults.add({
        fault: { kind: 'slow-drip', chunkBytes: 64 * 1024, intervalMs: 300 },
        path: `/ehr/api/${patient.patient.patientId}/encounters/search`,
      });
      const memory = tight.running.memory;
      const url = (start: string) => `${tight.fhir}/DocumentReference?patient=${encodeURIComponent(patient.id)}&date=ge${start}`;
      const first = docFetch<Bundle>(url('2010-01-01'));
      await waitFor(() => memory.inFlight > MB);
      const refused = await docFetch<OperationOutcome>(url('2011-01-01'));
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('2');
      expect(refused.body.issue[0]).toMatchObject({
        code: 'transient',
        diagnostics: 'The service is at its memory limit for documents; retry shortly',
      });
      const f = await first;
      expect(f.status, JSON.stringify(f.body).slice(0, 500)).toBe(200);
      expect(memory.highWater).toBeLessThanOrEqual(2 * MB);
      expect(memory.stats.refused).toBe(1);
    } finally {
      await tight.close();
    }
  });
});
