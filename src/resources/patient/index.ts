/**
 * The Patient resource: read by id and search, both answered from Nextech's patient search.
 */
import type { Patient } from 'fhir/r4';
import { notFound } from '../../fhir/outcome.ts';
import { matchesAll } from '../../fhir/search/match.ts';
import type { SearchRequest } from '../../fhir/search/types.ts';
import type { EhrPatient } from '../../source/nextech/schemas.ts';
import { mappingContext, once, practiceIds, practiceSystem, type RequestContext } from '../context.ts';
import type { ResourceModule, SearchResult } from '../registry-types.ts';
import { patientSearchParams } from './params.ts';
import { planPatientSearch } from './plan.ts';

function toFhir(ctx: RequestContext, rows: EhrPatient[]): Patient[] {
  const mctx = mappingContext(ctx);
  return rows.map((row) => ctx.services.mappings.patient(row, mctx));
}

/**
 * Reads a Patient by id: one upstream search by the term the id carries, once per request
 * (other resources use it to check a `patient` reference and for `_include`). An id that
 * does not open (src/ids) is a 404 without any upstream call.
 */
export function readPatient(ctx: RequestContext, id: string): Promise<Patient> {
  return once(ctx, `Patient/${id}`, () => read(ctx, id));
}

async function read(ctx: RequestContext, id: string): Promise<Patient> {
  const loc = practiceIds(ctx).patient.open(id);
  if (!loc) throw notFound('Patient');
  const rows = await searchTerm(ctx, loc.term);
  const row = rows.find((r) => r.patientId === loc.patientId);
  const [patient] = row ? toFhir(ctx, [row]) : [];
  // Only the id we issued for this record reads it back: another key for the same patientId is not an alias.
  if (!patient || patient.id !== id) throw notFound('Patient');
  return patient;
}

async function search(ctx: RequestContext, req: SearchRequest): Promise<SearchResult> {
  const chartSystem = practiceSystem(ctx.services.config.identifierSystems.chartNumber, ctx.call.practiceId);
  const plan = planPatientSearch(req, chartSystem, practiceIds(ctx));
  if (plan.kind === 'empty') return { matches: [] };
  const batches = await Promise.all(plan.terms.map((term) => searchTerm(ctx, term)));
  const unique = new Map<number, EhrPatient>();
  for (const row of batches.flat()) unique.set(row.patientId, row);
  const now = ctx.services.now();
  const matches = toFhir(ctx, [...unique.values()]).filter((p) => matchesAll(p, req.params, now));
  return { matches: matches.sort(byName) };
}

const searchTerm = (ctx: RequestContext, term: string) =>
  once(ctx, `patient-search\u0000${term}`, () => ctx.services.source.findPatients(ctx.call, term));

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
  read: (ctx, id) => readPatient(ctx, id),
  search,
};
