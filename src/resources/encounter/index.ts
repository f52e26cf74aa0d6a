/**
 * The Encounter resource: search by patient (and date, type, class, status, identifier),
 * read by id with one upstream call, `_include=Encounter:patient`, the directory resources
 * it references (`Encounter:participant`, `:practitioner`, `:location`, `:service-provider`)
 * and `_revinclude=DocumentReference:encounter` served from the same upstream listing.
 */
import type { Encounter, FhirResource } from 'fhir/r4';
import { notFound } from '../../fhir/outcome.ts';
import { matchesAll } from '../../fhir/search/match.ts';
import type { ParsedParam, SearchRequest } from '../../fhir/search/types.ts';
import { practiceIds, type RequestContext } from '../context.ts';
import { readPatient } from '../patient-lookup.ts';
import type { ResourceModule, SearchResult } from '../registry-types.ts';
import { encounterOrder, lightEncounter, loadByLocator, loadTargets, toDocumentReference, toEncounter, type LoadedEncounter } from '../encounter-listing.ts';
import { encounterSearchParams } from './params.ts';
import { patientOfReference } from '../compartment.ts';
import { buildsDocuments } from '../request-memory.ts';
import { planTargets, targetParams } from '../listing-plan.ts';
import { ENCOUNTER_DIRECTORY_INCLUDES, includedDirectory } from '../directory-read.ts';

async function read(ctx: RequestContext, id: string): Promise<Encounter> {
  // An id that does not open is a 404 without any upstream call.
  const loc = practiceIds(ctx).encounter.open(id);
  const found = loc ? await loadByLocator(ctx, loc) : undefined;
  const encounter = found ? toEncounter(ctx, found) : undefined;
  // Only the exact id we issue reads the record back (the patient's term must still find it).
  if (!encounter || encounter.id !== id) throw notFound('Encounter');
  return encounter;
}

/** The parameters that find encounters (patient, _id) and narrow their window (date). */
const TARGETS = targetParams(encounterSearchParams);

/** A parameter the listing plan answers whole: a plain Patient reference (the listing is that patient's). */
const answeredByPlan = (p: ParsedParam) => p.def.identifies === 'Patient' && p.def.type === 'reference' && p.modifier === undefined;

async function search(ctx: RequestContext, req: SearchRequest): Promise<SearchResult> {
  const now = ctx.services.now();
  const plan = planTargets(req, TARGETS, now, practiceIds(ctx));
  if (plan.kind === 'empty') return { matches: [] };
  // `_revinclude`d documents carry their data: what is read counts for them too.
  if (req.revinclude.includes('DocumentReference:encounter')) buildsDocuments(ctx);
  const loaded = await loadTargets(ctx, plan.targets);
  // Page-first: when the listing plan already answers every parameter, order light records
  // and map only the page; otherwise match on the mapped Encounters.
  const light = req.params.every(answeredByPlan);
  const candidates = loaded
    .map((e) => ({ e, r: light ? lightEncounter(e) : toEncounter(ctx, e) }))
    .filter((x) => light || matchesAll(x.r, req.params, now));
  const pairs = encounterOrder(candidates, (x) => x.e, req.sort?.descending ?? true);
  const recordOf = new Map(pairs.map((x) => [x.r, x.e]));
  // The whole Encounter of a match, mapped at most once (light matches are made whole for the page only).
  const wholes = new Map<Encounter, Encounter>();
  const whole = (r: Encounter, e: LoadedEncounter): Encounter => {
    if (!light) return r;
    let w = wholes.get(r);
    if (!w) wholes.set(r, (w = toEncounter(ctx, e)));
    return w;
  };
  return {
    matches: pairs.map((x) => x.r),
    ...(light
      ? {
          complete: (page) =>
            Promise.resolve(
              page.flatMap((r) => {
                const e = recordOf.get(r as Encounter);
                return e ? [whole(r as Encounter, e)] : [];
              }),
            ),
        }
      : {}),
    included: async (page) => {
      const out: FhirResource[] = [];
      if (req.include.includes('Encounter:patient')) {
        const ids = [...new Set(page.map((r) => (r as Encounter).subject?.reference?.replace(/^Patient\//, '') ?? ''))];
        out.push(...(await Promise.all(ids.filter(Boolean).map((id) => readPatient(ctx, id)))));
      }
      out.push(
        ...includedDirectory(
          ctx,
          page.flatMap((r) => {
            const e = recordOf.get(r as Encounter);
            return e ? [{ resource: whole(r as Encounter, e), record: e.record }] : [];
          }),
          req.include,
        ),
      );
      if (req.revinclude.includes('DocumentReference:encounter')) {
        for (const r of page) {
          const e = recordOf.get(r as Encounter);
          if (e) out.push(toDocumentReference(ctx, e, {}));
        }
      }
      return out;
    },
  };
}

export const encounterModule: ResourceModule = {
  type: 'Encounter',
  profile: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter',
  documentation:
    'Encounters of a patient from Nextech encounter search. Ids carry the patient and the date, so a read is one upstream call (see README).',
  interactions: ['read', 'search-type'],
  searchParams: encounterSearchParams,
  capabilities: { includes: ['Encounter:patient', ...Object.keys(ENCOUNTER_DIRECTORY_INCLUDES)], revincludes: ['DocumentReference:encounter'], sorts: ['date'] },
  // Σ elements of R4 Encounter; status and class are mandatory.
  view: {
    mandatory: new Set(['status', 'class']),
    summary: new Set([
    'identifier', 'status', 'class', 'type', 'serviceType', 'priority', 'subject', 'episodeOfCare', 'basedOn',
    'participant', 'appointment', 'period', 'length', 'reasonCode', 'reasonReference', 'diagnosis', 'account',
    'serviceProvider', 'partOf',
    ]),
  },
  compartment: {
    ofResource: (r, ids) => (r.resourceType === 'Encounter' ? patientOfReference(ids, r.subject?.reference) : undefined),
    ofId: (id, ids) => ids.encounter.open(id)?.patient.patientId,
  },
  read,
  search,
};
