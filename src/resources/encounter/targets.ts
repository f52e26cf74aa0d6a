/**
 * Plans the upstream side of an encounter-based search (Encounter, DocumentReference,
 * $docref): which patients to ask Nextech about, for which window of time. Nextech lists a
 * patient's encounters by date range, so a search needs a patient (the `patient`
 * parameter, or ids that carry one) and is narrowed by its date parameters as tightly as
 * they allow; everything is then filtered exactly in memory.
 */
import { FhirError, outcome, tooCostly } from '../../fhir/outcome.ts';
import { candidateWindow, type DateSearchValue } from '../../fhir/search/date.ts';
import type { ParsedParam, SearchRequest } from '../../fhir/search/types.ts';
import { parseEncounterId, type EncounterLocator } from '../../mapping/encounter-ids.ts';
import { parsePatientId } from '../../mapping/ids.ts';

/** One upstream listing: a patient's encounters within [start, end) (either side open). */
export interface EncounterTarget {
  patientResourceId: string;
  patientId: number;
  start?: number;
  end?: number;
}

export type TargetPlan = { kind: 'targets'; targets: EncounterTarget[] } | { kind: 'empty' };

export interface TargetParams {
  /** Parameters holding Patient references (e.g. `patient`). */
  patient: readonly string[];
  /** Parameters holding ids of our encounter-based resources (`_id`, `encounter`). */
  encounterIds: readonly string[];
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

/** Patient ids named by a parameter occurrence (values that cannot be ours name nobody). */
function patientsOf(p: ParsedParam): Set<string> {
  return new Set(
    p.values.flatMap((v) =>
      v.kind === 'reference' && (v.ref.resourceType ?? 'Patient') === 'Patient' && parsePatientId(v.ref.id) ? [v.ref.id] : [],
    ),
  );
}

/** The one listing an encounter id needs: its patient's encounters on its UTC day. */
export function dayTarget(loc: EncounterLocator): EncounterTarget {
  const start = Date.parse(`${loc.date}T00:00:00Z`);
  return { patientResourceId: loc.patientResourceId, patientId: loc.patient.patientId, start, end: start + DAY_MS };
}

/** Targets from ids (`_id`, `encounter`). */
function idTargets(p: ParsedParam): EncounterTarget[] {
  return p.values.flatMap((v) => {
    const id = v.kind === 'token' ? v.token.code : v.kind === 'reference' ? v.ref.id : undefined;
    const loc = id === undefined ? undefined : parseEncounterId(id);
    return loc ? [dayTarget(loc)] : [];
  });
}

export function planTargets(req: SearchRequest, names: TargetParams, now: number): TargetPlan {
  const byName = (list: readonly string[]) => req.params.filter((p) => list.includes(p.def.name) && p.modifier !== 'missing');
  const patientParams = byName(names.patient);
  const idParams = byName(names.encounterIds);
  if (patientParams.length === 0 && idParams.length === 0) throw patientRequired([...names.patient, ...names.encounterIds]);
  const window = dateWindow(byName(names.dates), now);
  if (window.empty) return { kind: 'empty' };
  // Patients every `patient` occurrence allows (AND), if any was given.
  let allowed: Set<string> | undefined;
  for (const p of patientParams) {
    const these = patientsOf(p);
    allowed = allowed ? new Set([...allowed].filter((id) => these.has(id))) : these;
  }
  let targets: EncounterTarget[];
  if (idParams.length > 0) {
    targets = idParams
      .map(idTargets)
      .reduce((acc, list) => acc.filter((t) => list.some((u) => sameTarget(t, u))))
      .flatMap((t) => {
        const w = clip(t, window);
        if (w.empty || (allowed && !allowed.has(t.patientResourceId))) return [];
        return [{ patientResourceId: t.patientResourceId, patientId: t.patientId, ...w }];
      });
  } else {
    targets = [...(allowed ?? [])].map((id) => ({
      patientResourceId: id,
      patientId: parsePatientId(id)?.patientId ?? 0,
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
