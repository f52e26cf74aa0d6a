/**
 * The parameters of a Bulk Data kick-off (https://hl7.org/fhir/uv/bulkdata/export.html#query-parameters),
 * from the query or a Parameters body, checked before any job exists: `_type`, `_since`,
 * `_typeFilter` (parsed by the API's own search parser, strictly: an invalid filter is a 400
 * now, not a failed job), `_outputFormat`. Parameters that do not narrow the export are
 * ignored and named; those that would narrow it are refused (ignoring them would export more
 * than asked). `includeAssociatedData` asks for Provenance this server does not keep: Bulk
 * Data 2.0 says a server unable to honour its values SHOULD refuse the kick-off so the client
 * can send it again without them, unless the client sent `Prefer: handling=lenient` — then it
 * is ignored and named (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#query-parameters).
 */
import type { OperationOutcomeIssue } from 'fhir/r4';
import { badRequest, notSupported } from '../fhir/outcome.ts';
import { parseSearch } from '../fhir/search/parse.ts';
import { resourceModules, searchParamIndex } from '../resources/registry.ts';
import { EXPORT_TYPES, type ExportType, type Job } from './export-jobs.ts';

// A `+` sent unencoded in a query arrives as a space.
const OUTPUT_FORMATS = new Set(['application/fhir+ndjson', 'application/fhir ndjson', 'application/ndjson', 'ndjson']);
const IGNORED = new Set(['organizeOutputBy', 'allowPartialManifests']);
/** Ignored only when the client allows it (Prefer: handling=lenient), refused otherwise. */
const UNHONOURED = new Set(['includeAssociatedData']);
const UNSUPPORTED = new Set(['patient', '_elements']);
/** The types whose resources a `_typeFilter` can select (the others have no search). */
const FILTERABLE = new Set(['Patient', 'Encounter', 'DocumentReference']);
/** `_typeFilter`s per type: each is one more search per patient. */
export const MAX_FILTERS_PER_TYPE = 10;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export interface KickOff {
  types: ExportType[];
  since?: string;
  typeFilters: Job['typeFilters'];
  /** What was ignored, for the 202's OperationOutcome. */
  notes: OperationOutcomeIssue[];
}

export interface KickOffOptions {
  /** `Prefer: handling=lenient`: what cannot be honoured is ignored (and named), not refused. */
  lenient?: boolean;
}

export function parseKickOff(pairs: readonly [string, string][], baseUrl: string, opts: KickOffOptions = {}): KickOff {
  const notes: OperationOutcomeIssue[] = [];
  let types: ExportType[] | undefined;
  let since: string | undefined;
  const filterValues: string[] = [];
  for (const [key, value] of pairs) {
    switch (key) {
      case '_outputFormat':
        if (!OUTPUT_FORMATS.has(value)) throw badRequest('_outputFormat must be application/fhir+ndjson (or application/ndjson, ndjson)');
        break;
      case '_type': {
        const asked = value.split(',').map((t) => t.trim()).filter(Boolean);
        if (asked.length === 0 || asked.some((t) => !(EXPORT_TYPES as readonly string[]).includes(t))) throw badRequest(`_type may list ${EXPORT_TYPES.join(', ')}`);
        // Repeated (a POST sends one per type): together they name the types.
        types = [...new Set([...(types ?? []), ...(asked as ExportType[])])];
        break;
      }
      case '_since':
        if (!INSTANT.test(value) || Number.isNaN(Date.parse(value))) throw badRequest('_since must be a FHIR instant with a time zone, e.g. 2024-01-01T00:00:00Z');
        since = new Date(value).toISOString();
        break;
      case '_typeFilter':
        // Repeated, or several in one value separated by commas before the next `Type?` (Bulk Data 2.0).
        filterValues.push(...value.split(/,(?=[A-Z][A-Za-z]+\?)/));
        break;
      default:
        if (UNHONOURED.has(key) && !opts.lenient && value.trim() !== '') {
          throw notSupported(400, `${key}: this server keeps no Provenance and cannot honour its values; leave it out, or send Prefer: handling=lenient to have it ignored`);
        }
        if (UNSUPPORTED.has(key)) throw badRequest(`${key} is not supported on this server's export: leave it out`);
        if (!IGNORED.has(key) && !UNHONOURED.has(key)) throw badRequest('Unknown kick-off parameter; supported: _outputFormat, _type, _since, _typeFilter');
        notes.push({ severity: 'information', code: 'not-supported', diagnostics: `${key} is not supported and was ignored` });
    }
  }
  const exported = types ?? [...EXPORT_TYPES];
  return { types: exported, ...(since ? { since } : {}), typeFilters: typeFilters(filterValues, exported, baseUrl), notes };
}

/** Per type, the search parameters of each `_typeFilter` (ORed between filters of a type). */
function typeFilters(values: readonly string[], exported: readonly ExportType[], baseUrl: string): Job['typeFilters'] {
  const out: Job['typeFilters'] = {};
  for (const value of values) {
    const [type, query] = [value.slice(0, value.indexOf('?')), value.slice(value.indexOf('?') + 1)];
    if (!value.includes('?') || !(exported as string[]).includes(type)) throw badRequest('_typeFilter must be Type?query for a type being exported');
    // Doctors, locations and departments are exported as the encounters name them: they have no searches to filter by.
    if (!FILTERABLE.has(type)) throw badRequest('_typeFilter applies to Patient, Encounter and DocumentReference only');
    const pairs = [...new URLSearchParams(query)].map(([k, v]): [string, string] => [k, v]);
    const m = resourceModules.find((x) => (x.type as string) === type);
    parseSearch(type, searchParamIndex.get(type as ExportType) ?? new Map(), pairs, { strict: true, baseUrl, ...(m ? { capabilities: m.capabilities } : {}) });
    const list = (out[type] ??= []);
    if (list.length >= MAX_FILTERS_PER_TYPE) throw badRequest(`At most ${MAX_FILTERS_PER_TYPE} _typeFilters per type`);
    list.push(pairs);
  }
  return out;
}
