/**
 * Search parsing as a pure function: query pairs → typed SearchRequest, and back again
 * (formatSearch), so the `self`, `next` and `previous` links are written by the same code
 * that reads them and always round-trip.
 *
 * https://hl7.org/fhir/R4/search.html — comma = OR within one parameter, repetition = AND;
 * unknown parameters are ignored unless the client sends `Prefer: handling=strict`;
 * unknown modifiers are always an error.
 */
import { badRequest, invalidParam } from '../outcome.ts';
import { parseDateSearchValue } from './date.ts';
import { splitUnescaped, unescapeValue } from './escape.ts';
import {
  DEFAULT_COUNT,
  MAX_COUNT,
  MAX_OFFSET,
  MAX_VALUE_LENGTH,
  type ParsedParam,
  type ParsedValue,
  type ResourceView,
  type SearchCapabilities,
  type SearchParamDef,
  type SearchRequest,
  type SummaryMode,
} from './types.ts';

/** Parameters defined for every interaction, handled outside search (https://hl7.org/fhir/R4/http.html#parameters). */
const PROTOCOL_PARAMS = new Set(['_format', '_pretty']);

export interface ParseOptions {
  /** `Prefer: handling=strict`: unknown or empty parameters are errors. */
  strict: boolean;
  /** This server's FHIR base, to recognise absolute references to our own resources. */
  baseUrl: string;
  capabilities?: SearchCapabilities;
}

const NO_CAPABILITIES: SearchCapabilities = { includes: [], revincludes: [], sorts: [] };
const SUMMARY_MODES = new Set<string>(['true', 'false', 'data', 'count']);
const ELEMENT = /^[a-z][A-Za-z0-9]*$/;

/** The result parameters (https://hl7.org/fhir/R4/search.html#return) being collected. */
interface ResultParams {
  count?: number;
  offset?: number;
  include: string[];
  revinclude: string[];
  sort?: { param: string; descending: boolean };
  view: ResourceView;
}

export interface ParseResult {
  request: SearchRequest;
  /**
   * Parameters that were ignored (lenient handling), for the client's information: names
   * this server defines as they are, and one entry of UNDEFINED_PARAMETER per parameter it
   * does not define (whose name is client input and is never repeated back).
   */
  ignored: string[];
}

/** Stands for an ignored parameter whose name this server does not define. */
export const UNDEFINED_PARAMETER = '';

/** Parses query pairs (from the URL and/or a form body) into a SearchRequest. */
export function parseSearch(
  resourceType: string,
  defs: ReadonlyMap<string, SearchParamDef>,
  pairs: ReadonlyArray<readonly [string, string]>,
  opts: ParseOptions,
): ParseResult {
  const params: ParsedParam[] = [];
  const ignored: string[] = [];
  const result: ResultParams = { include: [], revinclude: [], view: {} };
  const caps = opts.capabilities ?? NO_CAPABILITIES;
  // Errors name a parameter only by a name this server defines: anything else a client
  // sends (unknown names, modifiers, values) may be patient data and is never echoed.
  for (const [key, value] of pairs) {
    const [name = '', modifier] = splitKey(key);
    const def = defs.get(name);
    if (value.length > MAX_VALUE_LENGTH) {
      const why = `a value is longer than ${MAX_VALUE_LENGTH} characters`;
      throw def || isResultParam(key) ? invalidParam(def?.name ?? key, why) : badRequest(why);
    }
    if (PROTOCOL_PARAMS.has(key)) continue;
    if (key.startsWith('_') && parseResultParam(key, value, result, caps, opts.strict)) continue;
    if (!def) {
      const known = isResultParam(key);
      if (opts.strict) throw known ? invalidParam(key, 'this value is not supported here') : badRequest(`A parameter this server does not define for ${resourceType} was given (Prefer: handling=strict)`);
      ignored.push(known ? key : UNDEFINED_PARAMETER);
      continue;
    }
    if (value === '') {
      if (opts.strict) throw invalidParam(def.name, 'has no value');
      ignored.push(def.name);
      continue;
    }
    params.push(parseParam(def, modifier, value, opts));
  }
  const { count, offset, include, revinclude, sort, view } = result;
  const request: SearchRequest = {
    resourceType,
    params,
    count: count ?? DEFAULT_COUNT,
    offset: offset ?? 0,
    include,
    revinclude,
    view,
    ...(sort ? { sort } : {}),
  };
  return { request, ignored };
}

/** Handles `_count`, `_offset`, `_include`, `_revinclude`, `_sort`, `_summary`, `_elements`; false for any other key. */
function parseResultParam(key: string, value: string, r: ResultParams, caps: SearchCapabilities, strict: boolean): boolean {
  const once = <T>(current: T | undefined, parse: () => T): T => {
    if (current !== undefined) throw invalidParam(key, 'may be given only once');
    return parse();
  };
  switch (key) {
    case '_count':
      r.count = once(r.count, () => Math.min(parseNonNegative(key, value, Number.MAX_SAFE_INTEGER), MAX_COUNT));
      return true;
    case '_offset':
      r.offset = once(r.offset, () => parseNonNegative(key, value, MAX_OFFSET));
      return true;
    case '_include':
    case '_revinclude': {
      const allowed = key === '_include' ? caps.includes : caps.revincludes;
      const list = key === '_include' ? r.include : r.revinclude;
      if (!allowed.includes(value)) {
        if (strict) throw invalidParam(key, `supported values: ${allowed.join(', ') || 'none'}`);
        return false;
      }
      if (!list.includes(value)) list.push(value);
      return true;
    }
    case '_sort': {
      const descending = value.startsWith('-');
      const param = descending ? value.slice(1) : value;
      if (caps.sorts.includes(param)) {
        r.sort = once(r.sort, () => ({ param, descending }));
        return true;
      }
      if (strict) throw invalidParam(key, `supported values: ${caps.sorts.flatMap((p) => [p, `-${p}`]).join(', ') || 'none'}`);
      return false;
    }
    case '_summary':
      r.view.summary = once(r.view.summary, () => {
        if (!SUMMARY_MODES.has(value)) throw invalidParam(key, 'supported values: true, false, data, count');
        return value as SummaryMode;
      });
      return true;
    case '_elements':
      r.view.elements = once(r.view.elements, () => {
        const names = value.split(',').map((e) => e.trim());
        if (names.some((e) => !ELEMENT.test(e))) throw invalidParam(key, 'must list top-level element names');
        return names;
      });
      return true;
    default:
      return false;
  }
}


/** The result parameters this server defines (their names are safe to repeat in errors). */
const RESULT_PARAMS: ReadonlySet<string> = new Set(['_count', '_offset', '_include', '_revinclude', '_sort', '_summary', '_elements']);
const isResultParam = (key: string) => RESULT_PARAMS.has(key);

function splitKey(key: string): [string, string | undefined] {
  const i = key.indexOf(':');
  return i < 0 ? [key, undefined] : [key.slice(0, i), key.slice(i + 1)];
}

function parseNonNegative(name: string, value: string, max: number): number {
  if (!/^\d{1,15}$/.test(value)) throw invalidParam(name, 'must be a non-negative whole number');
  const n = Number(value);
  if (n > max) throw invalidParam(name, `must be at most ${max}`);
  return n;
}

function parseParam(def: SearchParamDef, modifier: string | undefined, value: string, opts: ParseOptions): ParsedParam {
  // The modifier is client input: errors name the parameter, and what is supported.
  const label = def.name;
  if (modifier !== undefined && modifier !== 'missing' && !(def.modifiers ?? []).includes(modifier)) {
    throw invalidParam(label, `this modifier is not supported; supported: ${['missing', ...(def.modifiers ?? [])].map((m) => `:${m}`).join(', ')}`);
  }
  const parts = splitUnescaped(value, ',');
  const values = parts.map((part): ParsedValue => {
    if (part === '') throw invalidParam(label, 'has an empty value in its comma-separated list');
    if (modifier === 'missing') {
      if (part !== 'true' && part !== 'false') throw invalidParam(label, 'must be true or false');
      return { kind: 'missing', raw: part, missing: part === 'true' };
    }
    return parseValue(def, label, part, opts);
  });
  return modifier === undefined ? { def, values } : { def, modifier, values };
}

function parseValue(def: SearchParamDef, label: string, raw: string, opts: ParseOptions): ParsedValue {
  switch (def.type) {
    case 'string':
      return { kind: 'string', raw, text: unescapeValue(raw) };
    case 'token': {
      const bar = splitUnescaped(raw, '|');
      if (bar.length > 2) throw invalidParam(label, 'a token has at most one unescaped "|"');
      if (bar.length === 1) return { kind: 'token', raw, token: { code: unescapeValue(raw) } };
      const [system = '', code = ''] = bar;
      const token = { system: unescapeValue(system), ...(code === '' ? {} : { code: unescapeValue(code) }) };
      if (token.system === '' && code === '') throw invalidParam(label, 'a token needs a system or a code');
      return { kind: 'token', raw, token };
    }
    case 'date':
      return { kind: 'date', raw, date: parseDateSearchValue(label, raw) };
    case 'reference':
      return { kind: 'reference', raw, ref: parseReference(def, label, unescapeValue(raw), opts.baseUrl) };
  }
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** `123`, `Patient/123` or `{our base}/Patient/123`; anything else cannot be one of ours. */
function parseReference(def: SearchParamDef, label: string, value: string, baseUrl: string) {
  const local = value.startsWith(`${baseUrl}/`) ? value.slice(baseUrl.length + 1) : value;
  if (/^[a-z]+:\/\//i.test(local)) throw invalidParam(label, 'absolute references must point to this server');
  const segments = local.split('/');
  const [first = '', second] = segments;
  if (segments.length === 1 && ID.test(first)) return { id: first };
  if (segments.length === 2 && second !== undefined && ID.test(second) && (def.targets ?? []).includes(first)) {
    return { resourceType: first, id: second };
  }
  throw invalidParam(label, `must be an id, ${(def.targets ?? []).join('/')}/[id], or an absolute URL of this server`);
}

/**
 * The `_summary`/`_elements` of a read (https://hl7.org/fhir/R4/search.html#summary also
 * applies to read); anything else in the query is not a read's business and is ignored.
 */
export function parseView(pairs: ReadonlyArray<readonly [string, string]>): ResourceView {
  const result: ResultParams = { include: [], revinclude: [], view: {} };
  for (const [key, value] of pairs) {
    if (key === '_summary' || key === '_elements') parseResultParam(key, value, result, NO_CAPABILITIES, true);
  }
  return result.view;
}

/** Writes a request back as a query string: only the applied parameters, then paging. */
export function formatSearch(req: SearchRequest, page: { offset: number; count?: number } = req): string {
  const parts = req.params.map((p) => {
    const key = p.modifier === undefined ? p.def.name : `${p.def.name}:${p.modifier}`;
    return `${key}=${p.values.map((v) => encodeValue(v.raw)).join(',')}`;
  });
  for (const inc of req.include) parts.push(`_include=${encodeValue(inc)}`);
  for (const rev of req.revinclude) parts.push(`_revinclude=${encodeValue(rev)}`);
  if (req.sort) parts.push(`_sort=${req.sort.descending ? '-' : ''}${req.sort.param}`);
  if (req.view.summary) parts.push(`_summary=${req.view.summary}`);
  if (req.view.elements) parts.push(`_elements=${req.view.elements.join(',')}`);
  parts.push(`_count=${page.count ?? req.count}`);
  if (page.offset > 0) parts.push(`_offset=${page.offset}`);
  return parts.join('&');
}

/** Percent-encodes a value but keeps the characters that read well and are legal in a query. */
function encodeValue(raw: string): string {
  return encodeURIComponent(raw).replace(/%3A/gi, ':').replace(/%2F/gi, '/');
}
