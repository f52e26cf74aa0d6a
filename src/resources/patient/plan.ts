/**
 * Plans the upstream side of a Patient search. Nextech can only search patients by one
 * `term` matched against name or chart number, so one parameter is chosen to drive the
 * upstream calls — one call per OR-ed value — and everything (that parameter included) is
 * then filtered exactly in memory. Parameters that cannot produce a term (birthdate, gender,
 * phone…) only filter; a search made of them alone is refused as too costly.
 */
import { tooCostly } from '../../fhir/outcome.ts';
import type { ParsedParam, SearchRequest } from '../../fhir/search/types.ts';
import type { PracticeIds } from '../../ids/resource-ids.ts';

/** At most this many upstream searches for one FHIR search (one per OR-ed value). */
export const MAX_TERMS = 5;

export type PatientPlan = { kind: 'terms'; terms: string[] } | { kind: 'empty' };

const NAME_PARAMS = new Set(['name', 'family', 'given']);
export const DRIVING_PARAMS = ['_id', 'identifier', 'name', 'family', 'given'];

/**
 * The terms one parameter occurrence yields: a list (possibly empty, meaning none of its
 * values can match anything) or undefined when the parameter cannot drive the search.
 */
function termsOf(p: ParsedParam, chartSystem: string, ids: PracticeIds): string[] | undefined {
  const name = p.def.name;
  if (p.modifier === 'missing' || p.modifier === 'not') return undefined;
  if (NAME_PARAMS.has(name)) return p.values.flatMap((v) => (v.kind === 'string' ? [v.text.trim()] : []));
  if (name === '_id') {
    return p.values.flatMap((v) => {
      const loc = v.kind === 'token' && v.token.system === undefined && v.token.code ? ids.patient.open(v.token.code) : undefined;
      return loc ? [loc.term] : [];
    });
  }
  if (name === 'identifier') {
    const terms: string[] = [];
    for (const v of p.values) {
      if (v.kind !== 'token') return undefined;
      const { system, code } = v.token;
      if (system === '') continue; // `|value`: our identifiers all have a system, so no match
      if (code === undefined || (system !== undefined && system !== chartSystem)) return undefined;
      terms.push(code.trim());
    }
    return terms;
  }
  return undefined;
}

/** Chooses the parameter with the fewest (then longest) terms to drive the upstream calls. */
export function planPatientSearch(req: SearchRequest, chartSystem: string, ids: PracticeIds): PatientPlan {
  let best: string[] | undefined;
  for (const p of req.params) {
    const terms = termsOf(p, chartSystem, ids);
    if (terms === undefined) continue;
    const unique = [...new Set(terms.filter((t) => t !== ''))];
    if (unique.length === 0) return { kind: 'empty' };
    if (!best || unique.length < best.length || (unique.length === best.length && shortest(unique) > shortest(best))) {
      best = unique;
    }
  }
  if (!best) {
    throw tooCostly(
      `A Patient search needs at least one of ${DRIVING_PARAMS.join(', ')} (identifier as a chart number): Nextech can only search patients by name or chart number`,
      DRIVING_PARAMS,
    );
  }
  if (best.length > MAX_TERMS) {
    throw tooCostly(`At most ${MAX_TERMS} comma-separated values can drive a Patient search`);
  }
  return { kind: 'terms', terms: best };
}

const shortest = (terms: string[]) => Math.min(...terms.map((t) => t.length));
