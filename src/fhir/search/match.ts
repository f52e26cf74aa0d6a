/**
 * In-memory search matching on FHIR resources: each parameter's FHIRPath expression selects
 * the values (compiled once per expression; a plain `Type.a.b` path as direct property
 * access), and the type's rules decide a match. This is how the facade filters exactly
 * whatever the upstream API could only narrow down.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import type { FhirResource } from 'fhir/r4';
import { compilePlainPath, plainPath } from '../plain-path.ts';
import { dateValueRange, matchesDate, type DateRange } from './date.ts';
import { matchesString, type StringModifier } from './string.ts';
import type { ParsedParam, ParsedValue, SearchParamDef, TokenValue } from './types.ts';

type Selector = (resource: FhirResource) => unknown[];

/**
 * Selectors by expression. The expressions are the registry's (fixed at start-up, never a
 * request's), so this stays small; the bound only guards against misuse.
 */
const compiled = new Map<string, Selector>();
const MAX_SELECTORS = 512;

/** The compiled selector of a definition (compiled on first use, then cached by expression). */
export function selectorFor(def: SearchParamDef): Selector {
  let fn = compiled.get(def.expression);
  if (!fn) {
    fn = compileSelector(def.expression);
    if (compiled.size < MAX_SELECTORS) compiled.set(def.expression, fn);
  }
  return fn;
}

/**
 * `Type.a.b` over elements that are not choices compiles to direct property access;
 * anything else (functions, `where`, choice elements such as `Observation.value`) to FHIRPath.
 */
export function compileSelector(expression: string): Selector {
  const segments = plainPath(expression);
  if (segments && segments.length > 1 && !readsChoice(segments)) {
    const [type, ...rest] = segments as [string, ...string[]];
    const get = compilePlainPath(rest);
    return (resource) => (resource.resourceType === type ? get(resource) : []);
  }
  const path = fhirpath.compile(expression, r4);
  return (resource) => path(resource) as unknown[];
}

/** Whether a path steps through a choice element (`value[x]`), which FHIRPath resolves by type. */
function readsChoice(segments: readonly string[]): boolean {
  const model = r4 as { choiceTypePaths: Record<string, unknown>; path2Type: Record<string, string>; pathsDefinedElsewhere: Record<string, string> };
  let at = segments[0] as string;
  for (const name of segments.slice(1)) {
    const path = `${at}.${name}`;
    if (Object.hasOwn(model.choiceTypePaths, path)) return true;
    const elsewhere = model.pathsDefinedElsewhere[path];
    const type = model.path2Type[path];
    at = elsewhere ?? (type === undefined || type === 'BackboneElement' || type === 'Element' ? path : type);
  }
  return false;
}

/** Whether a resource satisfies every parameter (AND) — each by any of its values (OR). */
export function matchesAll(resource: FhirResource, params: readonly ParsedParam[], now: number): boolean {
  return params.every((p) => p.def.upstreamOnly === true || matchesParam(resource, p, now));
}

/**
 * Values compared with a record so far, in this process: the work in-memory matching has
 * done (records × values), read by the metrics (`facade_search_match_evaluations_total`).
 */
let evaluations = 0;
export const matchEvaluations = (): number => evaluations;

export function matchesParam(resource: FhirResource, p: ParsedParam, now: number): boolean {
  const nodes = selectorFor(p.def)(resource);
  if (p.modifier === 'not') return !p.values.some((v) => matchesValue(nodes, p.def, v, undefined, now));
  return p.values.some((v) => matchesValue(nodes, p.def, v, p.modifier, now));
}

function matchesValue(nodes: unknown[], def: SearchParamDef, v: ParsedValue, modifier: string | undefined, now: number): boolean {
  evaluations += 1;
  switch (v.kind) {
    case 'missing':
      return (nodes.length === 0) === v.missing;
    case 'string':
      return nodes.flatMap(stringsOf).some((s) => matchesString(s, v.text, modifier as StringModifier));
    case 'token':
      // `:text` searches the human-readable text of a code (https://hl7.org/fhir/R4/search.html#token).
      if (modifier === 'text') return nodes.flatMap(textsOf).some((s) => matchesString(s, v.token.code ?? '', undefined));
      return nodes.flatMap((n) => tokensOf(n, def.implicitSystem)).some((t) => matchesToken(t, v.token));
    case 'date':
      return nodes.flatMap(rangesOf).some((r) => matchesDate(r, v.date, now));
    case 'reference':
      return nodes.some((n) => matchesReference(n, v.ref.resourceType, v.ref.id));
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null;
}

function asStrings(x: unknown): string[] {
  if (typeof x === 'string') return [x];
  return Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : [];
}

/** The searchable strings of an element: a HumanName's parts, a plain string itself. */
function stringsOf(node: unknown): string[] {
  if (typeof node === 'string') return [node];
  if (!isRecord(node)) return [];
  return ['text', 'family', 'given', 'prefix', 'suffix', 'line', 'city', 'district', 'state', 'postalCode', 'country'].flatMap(
    (k) => asStrings(node[k]),
  );
}

interface TokenNode {
  system?: string;
  code: string;
  phone?: boolean;
}

/** Token-like pieces of an element: Identifier, ContactPoint, Coding, CodeableConcept, code. */
function tokensOf(node: unknown, implicitSystem?: string): TokenNode[] {
  if (typeof node === 'string') return [implicitSystem ? { code: node, system: implicitSystem } : { code: node }];
  if (!isRecord(node)) return [];
  if (Array.isArray(node.coding)) return node.coding.flatMap((c) => tokensOf(c));
  const code = node.value ?? node.code;
  if (typeof code !== 'string') return [];
  const system = typeof node.system === 'string' ? node.system : undefined;
  const phone = system === 'phone' || system === 'fax' || system === 'sms';
  return [{ code, ...(system === undefined ? {} : { system }), ...(phone ? { phone } : {}) }];
}

/** The text of a CodeableConcept and the displays of its codings (or of a Coding). */
function textsOf(node: unknown): string[] {
  if (!isRecord(node)) return [];
  const own = [node.text, node.display].filter((t): t is string => typeof t === 'string');
  return Array.isArray(node.coding) ? [...own, ...node.coding.flatMap(textsOf)] : own;
}

/** Phone numbers are compared by their digits, so `5550123` finds `(555) 0123`. */
const digits = (s: string) => s.replace(/\D/g, '');

function matchesToken(node: TokenNode, search: TokenValue): boolean {
  if (search.system !== undefined) {
    if (search.system === '' ? node.system !== undefined : node.system !== search.system) return false;
  }
  if (search.code === undefined) return true;
  if (node.phone && digits(search.code) !== '') return digits(node.code) === digits(search.code);
  return node.code === search.code;
}

function rangesOf(node: unknown): DateRange[] {
  if (typeof node === 'string') {
    const r = dateValueRange(node);
    return r ? [r] : [];
  }
  if (!isRecord(node)) return [];
  // A Period: an open end extends to infinity (https://hl7.org/fhir/R4/search.html#date).
  const start = typeof node.start === 'string' ? dateValueRange(node.start)?.start : undefined;
  const end = typeof node.end === 'string' ? dateValueRange(node.end)?.end : undefined;
  if (start === undefined && end === undefined) return [];
  return [{ start: start ?? Number.NEGATIVE_INFINITY, end: end ?? Number.POSITIVE_INFINITY }];
}

function matchesReference(node: unknown, type: string | undefined, id: string): boolean {
  if (!isRecord(node) || typeof node.reference !== 'string') return false;
  const [t, i] = node.reference.split('/').slice(-2);
  return i === id && (type === undefined || t === type);
}
