/**
 * The Patient resource: read by id and search, both answered from Nextech's patient search.
 */
import type { Patient } from 'fhir/r4';
import { matchesAll } from '../../fhir/search/match.ts';
import type { SearchRequest } from '../../fhir/search/types.ts';
import type { SourcePatient } from '../../source/ehr-source.ts';
import { practiceIds, practiceSystem, type RequestContext } from '../context.ts';
import { patientsOf, readPatient, searchTerm } from '../patient-lookup.ts';
import type { ResourceModule, SearchResult } from '../registry-types.ts';
import { patientSearchParams } from './params.ts';
import { planPatientSearch } from './plan.ts';

async function search(ctx: RequestContext, req: SearchRequest): Promise<SearchResult> {
  const chartSystem = practiceSystem(ctx.services.config.identifierSystems.chartNumber, ctx.call.practiceId);
  const plan = planPatientSearch(req, chartSystem, practiceIds(ctx));
  if (plan.kind === 'empty') return { matches: [] };
  const batches = await Promise.all(plan.terms.map((term) => searchTerm(ctx, term)));
  const unique = new Map<number, SourcePatient>();
  for (const row of batches.flat()) unique.set(row.patientId, row);
  const now = ctx.services.now();
  const matches = patientsOf(ctx, [...unique.values()]).filter((p) => matchesAll(p, req.params, now));
  return { matches: matches.sort(byName) };
}

/** Default order: family, given names, birth date, then id, so pages are stable. */
function byName(a: Patient, b: Patient): number {
  return (
    compareText(a.name?.[0]?.family, b.name?.[0]?.family) ||
    compareText(a.name?.[0]?.given?.join(' '), b.name?.[0]?.given?.join(' ')) ||
    compareText(a.birthDate, b.birthDate) ||
    compareText(a.id, b.id)
  );
}

const collator = new Intl.Collator('en', { sensitivity: 'base' });
const compareText = (a = '', b = '') => collator.compare(a, b);

export const patientModule: ResourceModule = {
  type: 'Patient',
  profile: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient',
  documentation: 'Patients of the practice, from Nextech patient search. Read needs no state: see README for the id scheme.',
  interactions: ['read', 'search-type'],
  searchParams: patientSearchParams,
  capabilities: { includes: [], revincludes: [], sorts: [] },
  // Σ elements of R4 Patient (none is mandatory).
  view: {
    mandatory: new Set(),
    summary: new Set([
    'identifier', 'active', 'name', 'telecom', 'gender', 'birthDate', 'deceasedBoolean', 'deceasedDateTime',
    'address', 'managingOrganization', 'link',
    ]),
  },
  compartment: {
    ofResource: (r, ids) => ids.patient.open(r.id ?? '')?.patientId,
    ofId: (id, ids) => ids.patient.open(id)?.patientId,
  },
  read: (ctx, id) => readPatient(ctx, id),
  search,
};
