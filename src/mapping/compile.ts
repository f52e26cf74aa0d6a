/**
 * Compiles a mapping file into a function (record, context) → resource, once, at start-up.
 * Compilation fails fast, naming the path in the file, on an unknown source field, function,
 * code table or context value; at request time nothing is parsed again.
 */
import fhirpath from 'fhirpath';
import { mappingFunctions, type MappingContext } from './functions.ts';
import { EXPR_KEYS, ExprNodeSchema, type CodeTable, type MappingFile } from './spec.ts';
import { compilePlainPath, hasField, plainPath, rootChains, unknownSegment } from './source-path.ts';
import type { z } from 'zod';
import type { R4Elements } from './r4-elements.ts';

export type CompiledMapping<T> = (record: unknown, ctx: MappingContext) => T;
type Eval = (record: unknown, ctx: MappingContext) => unknown;

export interface CompileEnv {
  /** The zod schema of the source record: every `from` path is checked against it. */
  source: z.ZodType;
  tables: ReadonlyMap<string, CodeTable>;
  contextKeys: ReadonlySet<string>;
  /** R4 element definitions: when given, every output element is checked against them. */
  r4?: R4Elements;
}

export class MappingError extends Error {
  constructor(file: string, path: string, why: string) {
    super(`${file}: ${path || '(root)'}: ${why}`);
    this.name = 'MappingError';
  }
}

/** Compiles a parsed mapping file; `file` is used in error messages only. */
export function compileMapping<T>(file: string, mapping: MappingFile, env: CompileEnv): CompiledMapping<T> {
  const resourceType = mapping.resourceType;
  if (env.r4 && !env.r4.isComplex(resourceType)) throw new MappingError(file, 'resourceType', `"${resourceType}" is not an R4 resource type this service knows`);
  const body = compileNode(mapping.resource, 'resource', { file, env }, env.r4 ? resourceType : undefined);
  return (record, ctx) => ({ resourceType, ...(body(record, ctx) as object) }) as T;
}

/** The records of other source shapes one record yields (a mapping's `emits`), in file order. */
export type CompiledEmits = (record: unknown, ctx: MappingContext) => Array<{ source: string; record: unknown }>;

/**
 * Compiles a mapping's `emits`: each entry builds a record of another source shape from this
 * one. Its keys must be fields of that shape (`targets`); at run time a built record that does
 * not satisfy the shape's schema (e.g. a required field the source lacked) is not emitted.
 */
export function compileEmits(file: string, mapping: MappingFile, env: CompileEnv, targets: Readonly<Record<string, z.ZodType>>): CompiledEmits {
  const scope: Scope = { file, env };
  const emitters = Object.entries(mapping.emits ?? {}).map(([source, tree]) => {
    const path = `emits.${source}`;
    const target = Object.hasOwn(targets, source) ? targets[source] : undefined;
    if (!target) throw new MappingError(file, path, `"${source}" is not a record shape a mapping can emit (${Object.keys(targets).join(', ')})`);
    const build = compileFields(tree, path, scope, (k) => {
      if (!hasField(target, k)) throw new MappingError(file, `${path}.${k}`, `a ${source} record has no field "${k}"`);
      return undefined;
    });
    return (record: unknown, ctx: MappingContext) => {
      const out = build(record, ctx);
      if (out === undefined) return undefined;
      const checked = target.safeParse(out);
      return checked.success ? { source, record: checked.data } : undefined;
    };
  });
  return (record, ctx) => emitters.flatMap((e) => e(record, ctx) ?? []);
}

interface Scope {
  file: string;
  env: CompileEnv;
}

/**
 * The FHIR type of the node being built (a type or backbone path such as
 * `Encounter.participant`), or undefined when output elements are not checked.
 */
type At = string | undefined;

function compileNode(node: unknown, path: string, scope: Scope, at: At): Eval {
  if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean') return () => node;
  if (Array.isArray(node)) return compileArray(node, path, scope, at);
  if (typeof node === 'object' && node !== null) {
    const keys = Object.keys(node);
    if (keys.some((k) => (EXPR_KEYS as readonly string[]).includes(k))) return compileExpr(node, path, scope);
    return compileObject(node as Record<string, unknown>, path, scope, at);
  }
  throw new MappingError(scope.file, path, 'null is not a valid mapping node');
}

function compileArray(nodes: unknown[], path: string, scope: Scope, at: At): Eval {
  const items = nodes.map((n, i) => compileNode(n, `${path}[${i}]`, scope, at));
  return (record, ctx) => {
    const out: unknown[] = items.map((f) => f(record, ctx)).flatMap((v): unknown[] => (Array.isArray(v) ? v : [v])).filter(present);
    return out.length > 0 ? out : undefined;
  };
}

/** Compiles a `$when` (one condition or a list) into a test that all of them hold. */
function compileWhen(raw: unknown, path: string, scope: Scope): (record: unknown, ctx: MappingContext) => boolean {
  const conditions = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const tests = conditions.map((c, i) => compileExpr(c, `${path}.$when[${i}]`, scope));
  return (record, ctx) =>
    tests.every((t) => {
      const w = t(record, ctx);
      return present(w) && w !== false;
    });
}

/** The type of element `key` of `at`; fails when R4 has no such element. */
function elementAt(at: At, key: string, path: string, scope: Scope): At {
  const r4 = scope.env.r4;
  if (!r4 || at === undefined) return undefined;
  if (!r4.isComplex(at)) throw new MappingError(scope.file, path, `${at} is a primitive type: it has no element "${key}"`);
  const type = r4.elementType(at, key);
  if (type === undefined) throw new MappingError(scope.file, path, `"${key}" is not an element of ${at} in FHIR R4`);
  return type;
}

function compileObject(node: Record<string, unknown>, path: string, scope: Scope, at: At): Eval {
  const build = compileFields(node, path, scope, (k, keyPath) => {
    if (k.startsWith('$')) throw new MappingError(scope.file, keyPath, 'unknown directive');
    return elementAt(at, k, keyPath, scope);
  });
  return (record, ctx) => {
    const out = build(record, ctx);
    return out && Object.keys(out).length > 0 ? out : undefined;
  };
}

/**
 * The object a node's keys build (its `$when` holding), with the values that came out
 * present; undefined when the condition fails. `check` vets each key at compile time and
 * gives the FHIR type built under it (undefined: unchecked).
 */
function compileFields(
  node: Record<string, unknown>,
  path: string,
  scope: Scope,
  check: (key: string, keyPath: string) => At,
): (record: unknown, ctx: MappingContext) => Record<string, unknown> | undefined {
  const when = compileWhen(node.$when, path, scope);
  const fields = Object.entries(node)
    .filter(([k]) => k !== '$when')
    .map(([k, v]) => [k, compileNode(v, `${path}.${k}`, scope, check(k, `${path}.${k}`))] as const);
  return (record, ctx) => {
    if (!when(record, ctx)) return undefined;
    const out: Record<string, unknown> = {};
    for (const [k, f] of fields) {
      const v = f(record, ctx);
      if (present(v)) out[k] = v;
    }
    return out;
  };
}

function compileExpr(raw: unknown, path: string, scope: Scope): Eval {
  const parsed = ExprNodeSchema.safeParse(raw);
  if (!parsed.success) throw new MappingError(scope.file, path, parsed.error.issues.map((i) => i.message).join('; '));
  const n = parsed.data;
  const select = n.from !== undefined ? compileFrom(n.from, path, scope) : undefined;
  const context = n.$context;
  if (context !== undefined && !scope.env.contextKeys.has(context)) {
    throw new MappingError(scope.file, path, `unknown context value "${context}"`);
  }
  const fn = n.fn === undefined ? undefined : mappingFunctions[n.fn];
  if (n.fn !== undefined && !fn) throw new MappingError(scope.file, path, `unknown function "${n.fn}"`);
  const found = n.table === undefined ? undefined : scope.env.tables.get(n.table);
  if (n.table !== undefined && !found) throw new MappingError(scope.file, path, `unknown code table "${n.table}"`);
  const table = found && compileTable(found);
  const when = compileWhen(n.$when, path, scope);
  return (record, ctx) => {
    if (!when(record, ctx)) return undefined;
    let v: unknown = select ? select(record) : context !== undefined ? (ctx.values as Readonly<Record<string, unknown>>)[context] : record;
    if (fn) v = fn(v, ctx);
    if (table) v = table(v);
    return v;
  };
}

/**
 * A `from` path: a plain dotted path compiles to direct property access, anything else to
 * FHIRPath. Either way every field it reads from the record must exist in the source schema.
 */
function compileFrom(expr: string, path: string, scope: Scope): (record: unknown) => unknown {
  const head = /^[A-Za-z_][A-Za-z0-9_]*/.exec(expr)?.[0];
  if (head === undefined || !hasField(scope.env.source, head)) {
    throw new MappingError(scope.file, path, `"${expr}" does not start with a field of the source record`);
  }
  const plain = plainPath(expr);
  for (const chain of plain ? [plain] : rootChains(expr)) {
    const unknown = unknownSegment(scope.env.source, chain);
    if (unknown !== undefined) throw new MappingError(scope.file, path, `"${expr}": the source record has no field "${unknown}"`);
  }
  const compiled = plain ? compilePlainPath(plain) : compileFhirPath(expr, path, scope);
  return (record) => {
    const out = compiled(record).filter(present);
    return out.length === 0 ? undefined : out.length === 1 ? out[0] : out;
  };
}

function compileFhirPath(expr: string, path: string, scope: Scope): (record: unknown) => unknown[] {
  try {
    const f = fhirpath.compile(expr, undefined);
    return (r) => f(r) as unknown[];
  } catch {
    throw new MappingError(scope.file, path, `"${expr}" is not a valid FHIRPath expression`);
  }
}

/** A code table as a lookup: source values matched case-insensitively after trimming (first entry wins), else the default. */
function compileTable(table: CodeTable): (value: unknown) => unknown {
  const entries = new Map<string, unknown>();
  for (const [k, v] of Object.entries(table.entries)) {
    const key = k.trim().toLowerCase();
    if (!entries.has(key)) entries.set(key, v);
  }
  return (value) => (typeof value === 'string' ? (entries.get(value.trim().toLowerCase()) ?? table.default) : undefined);
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);
}
