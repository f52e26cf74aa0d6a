/**
 * US Core `$docref` (http://hl7.org/fhir/us/core/OperationDefinition/docref): the CCD
 * DocumentReferences of a patient's encounters between `start` and `end`; with neither,
 * the patient's most current CCD. `type` other than the CCD's LOINC 34133-9 finds nothing;
 * documents are always made on demand, so `on-demand` changes nothing. Paged like a search.
 */
import type { Bundle, DocumentReference } from 'fhir/r4';
import { assertPageable, pageOf, searchset, type PageLinks } from '../../fhir/bundle.ts';
import { invalidParam } from '../../fhir/outcome.ts';
import { dateValueRange } from '../../fhir/search/date.ts';
import { parseSearch } from '../../fhir/search/parse.ts';
import type { PatientLocator, PracticeIds } from '../../ids/resource-ids.ts';
import { practiceIds, type RequestContext } from '../context.ts';
import { loadTargets } from '../encounter-listing.ts';
import { patientRequired } from '../listing-plan.ts';
import type { OperationDef } from '../registry-types.ts';
import { byDate } from '../sort.ts';
import { DOCUMENT_VIEW, wantsData } from './view.ts';
import { lightDocuments, wholePage } from './whole-page.ts';
import { buildsDocuments } from '../request-memory.ts';

const PARAMETERS = ['patient', 'start', 'end', 'type', 'on-demand', 'profile'] as const;
const OP_PARAMS: ReadonlySet<string> = new Set(PARAMETERS);
const CCD_TYPE = { system: 'http://loinc.org', code: '34133-9' };

interface DocrefArgs {
  patientResourceId: string;
  patient: PatientLocator;
  start?: number;
  end?: number;
  typeMatches: boolean;
}

function single(pairs: ReadonlyArray<readonly [string, string]>, name: string): string | undefined {
  const values = pairs.filter(([k]) => k === name).map(([, v]) => v);
  if (values.length > 1) throw invalidParam(name, 'may be given only once');
  return values[0] === '' ? undefined : values[0];
}

function parseArgs(pairs: ReadonlyArray<readonly [string, string]>, baseUrl: string, ids: PracticeIds): DocrefArgs {
  const patient = single(pairs, 'patient');
  if (patient === undefined) throw patientRequired(['patient']);
  const id = patient.replace(`${baseUrl}/`, '').replace(/^Patient\//, '');
  const loc = ids.patient.open(id);
  if (!loc) throw invalidParam('patient', 'must be the id of a Patient on this server');
  const bound = (name: 'start' | 'end') => {
    const v = single(pairs, name);
    if (v === undefined) return undefined;
    const r = /^\d{4}(-\d{2}(-\d{2})?)?$/.test(v) ? dateValueRange(v) : undefined;
    if (!r) throw invalidParam(name, 'must be a date (YYYY, YYYY-MM or YYYY-MM-DD)');
    return name === 'start' ? r.start : r.end;
  };
  const onDemand = single(pairs, 'on-demand');
  if (onDemand !== undefined && onDemand !== 'true' && onDemand !== 'false') throw invalidParam('on-demand', 'must be true or false');
  const type = single(pairs, 'type');
  const start = bound('start');
  const end = bound('end');
  return {
    patientResourceId: id,
    patient: loc,
    ...(start === undefined ? {} : { start }),
    ...(end === undefined ? {} : { end }),
    typeMatches: type === undefined || typeIsCcd(type),
  };
}

function typeIsCcd(raw: string): boolean {
  const [system, code] = raw.includes('|') ? raw.split('|', 2) : [undefined, raw];
  return code === CCD_TYPE.code && (system === undefined || system === '' || system === CCD_TYPE.system);
}

async function run(ctx: RequestContext, pairs: ReadonlyArray<readonly [string, string]>, links: PageLinks): Promise<Bundle> {
  const args = parseArgs(pairs, ctx.baseUrl, practiceIds(ctx));
  // Paging and views work as for a search; the operation's own parameters are kept aside.
  const rest = pairs.filter(([k]) => !OP_PARAMS.has(k));
  const { request } = parseSearch('DocumentReference', new Map(), rest, { strict: false, baseUrl: ctx.baseUrl });
  const operation = {
    query: pairs
      .filter(([k]) => OP_PARAMS.has(k))
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
      .join('&'),
  };
  // Before any upstream call: an operation whose links could not be followed here costs nothing.
  assertPageable(links, request, operation);
  let docs: DocumentReference[] = [];
  let whole: DocumentReference[] | undefined;
  if (args.typeMatches && (args.start === undefined || args.end === undefined || args.start < args.end)) {
    const target = { patientResourceId: args.patientResourceId, patient: args.patient, ...pick(args) };
    if (wantsData(request.view)) buildsDocuments(ctx);
    const loaded = await loadTargets(ctx, [target]);
    // Page-first, as for a search: sort without the data, encode only the page's CCDs.
    const light = lightDocuments(ctx, loaded, {});
    docs = light.docs.sort(byDate<DocumentReference>((d) => d.date, request));
    const now = ctx.services.now();
    // No range: "the patient's most current CCD" — the latest that is not in the future.
    if (args.start === undefined && args.end === undefined) docs = docs.filter((d) => Date.parse(d.date ?? '') <= now).slice(0, 1);
    if (wantsData(request.view)) whole = wholePage(ctx, pageOf(docs, request), light.recordOf, {});
  }
  const bundle = searchset({
    matches: docs,
    request,
    baseUrl: ctx.baseUrl,
    links,
    operation,
    view: DOCUMENT_VIEW,
    ...(whole ? { page: whole } : {}),
  });
  return bundle;
}

const pick = (a: DocrefArgs) => ({
  ...(a.start === undefined ? {} : { start: a.start }),
  ...(a.end === undefined ? {} : { end: a.end }),
});

export const docrefOperation: OperationDef = {
  name: 'docref',
  definition: 'http://hl7.org/fhir/us/core/OperationDefinition/docref',
  documentation: 'US Core Fetch DocumentReference: patient (required), start, end, type, on-demand. GET and POST.',
  parameters: PARAMETERS,
  identifies: { patient: 'Patient' },
  run,
};
