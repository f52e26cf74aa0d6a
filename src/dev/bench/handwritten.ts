/**
 * The bench's second baseline: a hand-written FHIR facade of exactly the bench's scenarios,
 * with no import from the product — Hono + undici, the same Nextech calls the facade makes
 * with the caller's token and practice header, `JSON.parse`, a filter, a plain-JS mapping,
 * a searchset `JSON.stringify`. What the inherent work of each scenario costs, written
 * without any machinery (no validation, no policy, no logging, no sealed ids).
 *
 * It answers the FHIR paths the facade is sent, under `/practices/{practiceId}/fhir/`:
 * `Patient?family=`, `Patient/{id}`, `Encounter?patient={id}&_count=`,
 * `DocumentReference?patient={id}`. Patient ids are the facade's own (sealed); the bench hands
 * this process the table of the bench patients' ids (`IdTable`) instead of the key.
 *
 * Function names matter: the stage classifier (stages.ts) files this file's frames by them.
 */
import { Hono, type Context } from 'hono';
import type { Dispatcher } from 'undici';

/** FHIR id → the Nextech patient it stands for. */
export type IdTable = Readonly<Record<string, { patientId: number; chartNumber: string }>>;

type Row = Record<string, unknown> & { patientId: number; chartNumber: string; firstName: string; lastName: string; dob: string };
type Enc = { summary: Record<string, unknown> & { encounterId: number; encounterDate: string; type: string; location: string }; ccd: string };

/** One Nextech GET with the caller's token and practice, its body parsed. */
async function upstreamGet(d: Dispatcher, base: string, c: Context, path: string): Promise<unknown> {
  const u = new URL(base + path);
  const authorization = c.req.header('authorization');
  const res = await d.request({ origin: u.origin, path: u.pathname + u.search, method: 'GET', headers: { 'x-nextech-practice-id': c.req.param('practiceId') ?? '', ...(authorization ? { authorization } : {}) } });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`upstream ${res.statusCode}`);
  return JSON.parse(text) as unknown;
}

// The encounter search's window, as the facade asks it: no start, an end far ahead (all encounters).
const ENCOUNTER_WINDOW = '?end=2099-12-31T23%3A59%3A59.999Z';

// Function declarations, not arrows in consts: the profile of tsx's output names only these.
function mapPatient(id: string, p: Row) {
  return {
    resourceType: 'Patient', id,
    identifier: [{ system: 'urn:nextech:chart-number', value: p.chartNumber }],
    name: [{ family: p.lastName, given: [p.firstName] }],
    birthDate: p.dob.slice(0, 10),
  };
}
function mapEncounter(e: Enc, patient: string) {
  return {
  resourceType: 'Encounter', id: `${patient}-${e.summary.encounterId}`, status: 'finished',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
  type: [{ text: e.summary.type }], subject: { reference: `Patient/${patient}` },
  period: { start: e.summary.encounterDate }, location: [{ location: { display: e.summary.location } }],
  };
}
function mapDocumentReference(e: Enc, patient: string) {
  return {
  resourceType: 'DocumentReference', id: `${patient}-${e.summary.encounterId}`, status: 'current',
  subject: { reference: `Patient/${patient}` }, date: e.summary.encounterDate,
  content: [{ attachment: { contentType: 'application/xml', data: Buffer.from(e.ccd, 'utf8').toString('base64') } }],
  };
}
function serialiseBundle(c: Context, resources: unknown[]) {
  const entry = resources.map((resource) => ({ resource, search: { mode: 'match' } }));
  return c.body(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', total: resources.length, entry }), 200, { 'content-type': 'application/fhir+json' });
}

/** A stable FHIR id for a patient found by name: the table's, else a plain one. */
function idOfRow(ids: IdTable, p: Row) {
  return Object.keys(ids).find((k) => ids[k]?.patientId === p.patientId) ?? `p${p.patientId}`;
}
function newestFirst(a: Enc, b: Enc) {
  return b.summary.encounterDate.localeCompare(a.summary.encounterDate);
}

export function createHandwrittenApp(apiBaseUrl: string, d: Dispatcher, ids: IdTable): Hono {
  const base = apiBaseUrl.replace(/\/+$/, '');
  const app = new Hono().basePath('/practices/:practiceId/fhir');
  app.get('/Patient', async (c) => {
    const family = c.req.query('family') ?? '';
    const rows = (await upstreamGet(d, base, c, `/search?term=${encodeURIComponent(family)}`)) as Row[];
    const prefix = family.toLowerCase();
    function matchFamily(p: Row) {
      return p.lastName.toLowerCase().startsWith(prefix);
    }
    return serialiseBundle(c, rows.filter(matchFamily).map((p) => mapPatient(idOfRow(ids, p), p)));
  });
  app.get('/Patient/:id', async (c) => {
    const known = ids[c.req.param('id')];
    if (!known) return c.json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] }, 404);
    const rows = (await upstreamGet(d, base, c, `/search?term=${encodeURIComponent(known.chartNumber)}`)) as Row[];
    function matchId(p: Row) {
      return p.patientId === known?.patientId;
    }
    const row = rows.find(matchId);
    return row ? c.json(mapPatient(c.req.param('id'), row), 200, { 'content-type': 'application/fhir+json' }) : c.json({ resourceType: 'OperationOutcome' }, 404);
  });
  /** The patient check and the listing at once, as the facade makes them. */
  const listing = async (c: Context): Promise<{ patient: string; encounters: Enc[] } | undefined> => {
    const patient = c.req.query('patient') ?? '';
    const known = ids[patient];
    if (!known) return undefined;
    const [rows, encounters] = await Promise.all([
      upstreamGet(d, base, c, `/search?term=${encodeURIComponent(known.chartNumber)}`) as Promise<Row[]>,
      upstreamGet(d, base, c, `/${known.patientId}/encounters/search${ENCOUNTER_WINDOW}`) as Promise<Enc[]>,
    ]);
    function matchId(p: Row) {
      return p.patientId === known?.patientId;
    }
    return rows.some(matchId) ? { patient, encounters } : undefined;
  };
  app.get('/Encounter', async (c) => {
    const l = await listing(c);
    if (!l) return c.json({ resourceType: 'OperationOutcome' }, 404);
    const count = Number(c.req.query('_count') ?? 20);
    return serialiseBundle(c, l.encounters.sort(newestFirst).slice(0, count).map((e) => mapEncounter(e, l.patient)));
  });
  app.get('/DocumentReference', async (c) => {
    const l = await listing(c);
    if (!l) return c.json({ resourceType: 'OperationOutcome' }, 404);
    return serialiseBundle(c, l.encounters.sort(newestFirst).map((e) => mapDocumentReference(e, l.patient)));
  });
  app.onError((_err, c) => c.json({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] }, 502));
  return app;
}
