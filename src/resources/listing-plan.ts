/**
 * Plans the upstream side of an encounter-based search (Encounter, DocumentReference,
 * $docref): which patients to ask Nextech about, for which window of time. Nextech lists a
 * patient's encounters by date range, so a search needs a patient (the `patient`
 * parameter, or ids that carry one) and is narrowed by its date parameters as tightly as
 * they allow; everything is then filtered exactly in memory. Ids that do not open (src/ids)
 * name nothing, so they cost no upstream call.
 */
import { FhirError, outcome, tooCostly } from '../fhir/outcome.ts';
import { candidateWindow, type DateSearchValue } from '../fhir/search/date.ts';
import type { ParsedParam, SearchParamDef, SearchRequest } from '../fhir/search/types.ts';
import type { EncounterLocator, PatientLocator, PracticeIds } from '../ids/resource-ids.ts';

/** One upstream listing: a patient's encounters within [start, end) (either side open). */
export interface EncounterTarget {
  /** The Patient's FHIR id. */
  patientResourceId: string;
  /** What that id holds: the Nextech patientId and the term that finds the patient. */
  patient: PatientLocator;
  start?: number;
  end?: number;
}

export type TargetPlan = { kind: 'targets'; targets: EncounterTarget[] } | { kind: 'empty' };

/** Which of a resource type's search parameters find its records, from their definitions. */
export function targetParams(defs: readonly SearchParamDef[]): TargetParams {
  const naming = (type: string) => defs.filter((d) => d.identifies === type).map((d) => d.name);
  return {
    patient: naming('Patient'),
    encounterIds: naming('Encounter'),
    documentIds: naming('DocumentReference'),
    dates: defs.filter((d) => d.narrowsWindow).map((d) => d.name),
  };
}

export interface TargetParams {
  /** Parameters holding Patient references (e.g. `patient`). */
  patient: readonly string[];
  /** Parameters holding Encounter ids (`_id` of Encounter, `encounter`). */
  encounterIds: readonly string[];
  /** Parameters holding DocumentReference ids (`_id` of DocumentReference). */
  documentIds: readonly string[];
  /** Date parameters whose values all concern the encounter's start instant. */
  dates: readonly string[];
}

/** At most this many upstream listings for one search (one per patient or id). */
export const MAX_TARGETS = 5;
const DAY_MS = 86_400_000;
/** Our encounter instants are exact to the millisecond; a second is a safe upper bound. */
const POINT_WIDTH = 1000;

export const patientRequired = (names: readonly string[]) =>
  new FhirError(
    400,
    outcome('error', 'required', `The patient parameter is required (or ${names.filter((n) => n !== 'patient').join(' or ')})`, ['patient']),
  );

type Window = { start?: number; end?: number; empty?: boolean };

/** The window every date parameter allows: OR within an occurrence, AND across them. */
export function dateWindow(params: readonly ParsedParam[], now: number): Window {
  let w: Window = {};
  for (const p of params) {
    if (p.modifier !== undefined) continue;
    const values = p.values.flatMap((v) => (v.kind === 'date' ? [v.date] : []));
    w = intersect(w, hull(values.map((v: DateSearchValue) => candidateWindow([v], now, { maxTargetWidth: POINT_WIDTH }))));
  }
  return w;
}

function hull(ws: Window[]): Window {
  const live = ws.filter((w) => !w.empty);
  if (live.length === 0) return { empty: true };
  const starts = live.map((w) => w.start);
  const ends = live.map((w) => w.end);
  return {
    ...(starts.includes(undefined) ? {} : { start: Math.min(...(starts as number[])) }),
    ...(ends.includes(undefined) ? {} : { end: Math.max(...(ends as number[])) }),
  };
}

function intersect(a: Window, b: Window): Window {
  if (a.empty || b.empty) return { empty: true };
  const start = a.start === undefined ? b.start : b.start === undefined ? a.start : Math.max(a.start, b.start);
  const end = a.end === undefined ? b.end : b.end === undefined ? a.end : Math.min(a.end, b.end);
  if (start !== undefined && end !== undefined && start >= end) return { empty: true };
  return { ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }) };
}

/** Patients named by a parameter occurrence, by id (values that do not open name nobody). */
function patientsOf(p: ParsedParam, ids: PracticeIds): Map<string, PatientLocator> {
  const out = new Map<string, PatientLocator>();
  for (const v of p.values) {
    if (v.kind !== 'reference' || (v.ref.resourceType ?? 'Patient') !== 'Patient') continue;
    const loc = ids.patient.open(v.ref.id);
    if (loc) out.set(v.ref.id, loc);
  }
  return out;
}

/** The one listing an encounter id needs: its patient's encounters on its UTC day. */
export function dayTarget(loc: EncounterLocator): EncounterTarget {
  const start = Date.parse(`${loc.date}T00:00:00Z`);
  return { patientResourceId: loc.patientResourceId, patient: loc.patient, start, end: start + DAY_MS };
}

/** Targets from ids (`_id`, `encounter`), opened as `open` reads them. */
function idTargets(p: ParsedParam, open: (id: string) => EncounterLocator | undefined): EncounterTarget[] {
  return p.values.flatMap((v) => {
    const id = v.kind === 'token' ? v.token.code : v.kind === 'reference' ? v.ref.id : undefined;
    const loc = id === undefined ? undefined : open(id);
    return loc ? [dayTarget(loc)] : [];
  });
}

export function planTargets(req: SearchRequest, names: TargetParams, now: number, ids: PracticeIds): TargetPlan {
  const byName = (list: readonly string[]) => req.params.filter((p) => list.includes(p.def.name) && p.modifier !== 'missing');
  const patientParams = byName(names.patient);
  const idLists = [
    ...byName(names.encounterIds).map((p) => idTargets(p, ids.encounter.open)),
    ...byName(names.documentIds).map((p) => idTargets(p, ids.document.open)),
  ];
  if (patientParams.length === 0 && idLists.length === 0) {
    throw patientRequired([...names.patient, ...names.documentIds, ...names.encounterIds]);
  }
  const window = dateWindow(byName(names.dates), now);
  if (window.empty) return { kind: 'empty' };
  // Patients every `patient` occurrence allows (AND), if any was given.
  let allowed: Map<string, PatientLocator> | undefined;
  for (const p of patientParams) {
    const these = patientsOf(p, ids);
    allowed = allowed ? new Map([...allowed].filter(([id]) => these.has(id))) : these;
  }
  let targets: EncounterTarget[];
  if (idLists.length > 0) {
    targets = idLists
      .reduce((acc, list) => acc.filter((t) => list.some((u) => sameTarget(t, u))))
      .flatMap((t) => {
        const w = clip(t, window);
        if (w.empty || (allowed && !allowed.has(t.patientResourceId))) return [];
        return [{ patientResourceId: t.patientResourceId, patient: t.patient, ...w }];
      });
  } else {
    targets = [...(allowed ?? [])].map(([id, patient]) => ({
      patientResourceId: id,
      patient,
      ...(window.start === undefined ? {} : { start: window.start }),
      ...(window.end === undefined ? {} : { end: window.end }),
    }));
  }
  targets = dedupe(targets.filter((t) => t.start === undefined || t.end === undefined || t.start < t.end));
  if (targets.length === 0) return { kind: 'empty' };
  if (targets.length > MAX_TARGETS) throw tooCostly(`At most ${MAX_TARGETS} patients or ids can be searched at once`);
  return { kind: 'targets', targets };
}

const sameTarget = (a: EncounterTarget, b: EncounterTarget) => a.patientResourceId === b.patientResourceId && a.start === b.start;

function clip(t: EncounterTarget, w: Window): Window {
  return intersect({ ...(t.start === undefined ? {} : { start: t.start }), ...(t.end === undefined ? {} : { end: t.end }) }, w);
}

function dedupe(targets: EncounterTarget[]): EncounterTarget[] {
  const seen = new Map<string, EncounterTarget>();
  for (const t of targets) seen.set(`${t.patientResourceId}|${t.start ?? ''}|${t.end ?? ''}`, t);
  return [...seen.values()];
}
