/**
 * The three documented Nextech EHR API endpoints, mounted at `/ehr/api`:
 * `GET /search?term=`, `GET /{patientId}/encounters/search?start=&end=&section=` and
 * `GET /encounters/categories`; anything else is a 404. Every request is recorded, meets
 * the injected faults if any (fault-inject.ts), then must pass the bearer and practice
 * checks (in that order) before it reaches a route.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { apiMessage, requireBearer, requirePractice, type ApiEnv, type PracticeIndex } from './api-guards.ts';
import { recordCalls, type RecordedCall } from './call-log.ts';
import { canonicalCategory, SANDBOX_CATEGORIES } from './categories.ts';
import { ccdFor } from './ccd.ts';
import { parseBound } from './dates.ts';
import { injectFaults } from './fault-inject.ts';
import { enforceRateLimit } from './rate-limit.ts';
import { memoizeResponses } from './response-memo.ts';
import type { FaultPlan } from './faults.ts';
import { termMatcher } from './matching.ts';
import type { TokenStore } from './token-store.ts';
import type { NextechEncounter, SandboxData } from './types.ts';

/** What the API routes need from the sandbox. */
export interface ApiDeps {
  data: SandboxData;
  store: TokenStore;
  calls: RecordedCall[];
  now: () => Date;
  /** Faults to inject (none when absent). */
  faults?: FaultPlan;
  /** Nextech's per-user, per-endpoint limit, enforced with 429s when given. */
  rateLimitPerSecond?: number;
  /** Replay each answer's bytes on a repeat request (load tests); see response-memo.ts. */
  memoizeResponses?: boolean;
}

/** A query value given at most once; an empty value counts as absent, as in ASP.NET binding. */
function single(c: Context, name: string): { value?: string; error?: string } {
  const values = c.req.queries(name) ?? [];
  if (values.length > 1) return { error: `The ${name} parameter may be given only once.` };
  const value = values[0];
  return value === undefined || value === '' ? {} : { value };
}

function searchPatients(c: Context<ApiEnv>): Response {
  const term = single(c, 'term');
  if (term.error) return apiMessage(c, 400, term.error);
  const matches = termMatcher(term.value ?? '');
  if (!matches) return apiMessage(c, 400, 'The term parameter is required.');
  const { practice } = c.get('practice');
  // practice.patients is kept sorted by patientId, so the answer is too.
  return c.json(practice.patients.filter((p) => matches(p.json)).map((p) => p.json));
}

/** The encounter search's query, validated; or the 400 message. */
function encounterQuery(c: Context, now: () => Date): { start: number; end: number; section?: string } | string {
  const start = single(c, 'start');
  const end = single(c, 'end');
  const section = single(c, 'section');
  const error = start.error ?? end.error ?? section.error;
  if (error) return error;
  const from = start.value === undefined ? Number.NEGATIVE_INFINITY : parseBound(start.value, 'start');
  if (from === undefined) return 'The start parameter is not a valid date or date-time.';
  // "If omitted, search ends with the current date."
  const to = end.value === undefined ? now().getTime() : parseBound(end.value, 'end');
  if (to === undefined) return 'The end parameter is not a valid date or date-time.';
  const category = section.value === undefined ? undefined : canonicalCategory(section.value);
  if (section.value !== undefined && category === undefined) {
    return 'The section parameter is not a valid section; see /encounters/categories.';
  }
  return { start: from, end: to, section: category };
}

function searchEncounters(c: Context<ApiEnv>, now: () => Date): Response {
  const rawId = c.req.param('patientId') ?? '';
  const patientId = /^\d{1,10}$/.test(rawId) ? Number(rawId) : 0;
  if (patientId < 1 || patientId > 2_147_483_647) return apiMessage(c, 400, 'The patientId must be a positive integer.');
  const query = encounterQuery(c, now);
  if (typeof query === 'string') return apiMessage(c, 400, query);
  const { practice, patients } = c.get('practice');
  const patient = patients.get(patientId);
  if (!patient) return apiMessage(c, 404, 'Patient not found.');
  const body: NextechEncounter[] = patient.encounters
    .filter((e) => e.instant >= query.start && e.instant <= query.end)
    .map((e) => ({ summary: e.summary, ccd: ccdFor(practice, patient, e, query.section) }));
  return c.json(body);
}

function indexPractices(data: SandboxData): Map<string, PracticeIndex> {
  return new Map(
    data.practices.map((practice) => [
      practice.practiceId,
      { practice, patients: new Map(practice.patients.map((p) => [p.patientId, p])) },
    ]),
  );
}

/** The API routes, to be mounted at `/ehr/api`. */
export function apiRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const api = new Hono<ApiEnv>();
  api.use('*', recordCalls(deps.calls));
  if (deps.faults) api.use('*', injectFaults(deps.faults));
  if (deps.rateLimitPerSecond !== undefined) api.use('*', enforceRateLimit(deps.rateLimitPerSecond));
  api.use('*', requireBearer(deps.store));
  api.use('*', requirePractice(indexPractices(deps.data)));
  if (deps.memoizeResponses) api.use('*', memoizeResponses());
  api.get('/search', (c) => searchPatients(c));
  // Registered before the patient route; its extra segment keeps the two apart anyway.
  api.get('/encounters/categories', (c) => c.json([...SANDBOX_CATEGORIES]));
  api.get('/:patientId/encounters/search', (c) => searchEncounters(c, deps.now));
  api.all('*', (c) => apiMessage(c, 404, 'No HTTP resource was found that matches the request URI.'));
  return api;
}
