/**
 * Compiles a mapping file into a function (record, context) → resource, once, at start-up.
 * Compilation fails fast, naming the path in the file, on an unknown source field, function,
 * code table or context value; at request time nothing is parsed again.
 */
import fhirpath from 'fhirpath';
import { mappingFunctions, type MappingContext } from './functions.ts';
import { EXPR_KEYS, ExprNodeSchema, type CodeTable, type MappingFile } from './spec.ts';

export type CompiledMapping<T> = (record: unknown, ctx: MappingContext) => T;
type Eval = (record: unknown, ctx: MappingContext) => unknown;

export interface CompileEnv {
  /** Top-level field names of the source record (from its zod schema). */
  sourceFields: ReadonlySet<string>;
  tables: ReadonlyMap<string, CodeTable>;
  contextKeys: ReadonlySet<string>;
}

export class MappingError extends Error {
  constructor(file: string, path: string, why: string) {
    super(`${file}: ${path || '(root)'}: ${why}`);
    this.name = 'MappingError';
  }
}

/** Compiles a parsed mapping file; `file` is used in error messages only. */
export function compileMapping<T>(file: string, mapping: MappingFile, env: CompileEnv): CompiledMapping<T> {
  const body = compileNode(mapping.resource, 'resource', { file, env });
  const resourceType = mapping.resourceType;
  return (record, ctx) => ({ resourceType, ...(body(record, ctx) as object) }) as T;
}

interface Scope {
  file: string;
  env: CompileEnv;
}

function compileNode(node: unknown, path: string, scope: Scope): Eval {
  if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean') return () => node;
  if (Array.isArray(node)) return compileArray(node, path, scope);
  if (typeof node === 'object' && node !== null) {
    const keys = Object.keys(node);
    if (keys.some((k) => (EXPR_KEYS as readonly string[]).includes(k))) return compileExpr(node, path, scope);
    return compileObject(node as Record<string, unknown>, path, scope);
  }
  throw new MappingError(scope.file, path, 'null is not a valid mapping node');
}

function compileArray(nodes: unknown[], path: string, scope: Scope): Eval {
  const items = nodes.map((n, i) => compileNode(n, `${path}[${i}]`, scope));
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

function compileObject(node: Record<string, unknown>, path: string, scope: Scope): Eval {
  const when = compileWhen(node.$when, path, scope);
  const fields = Object.entries(node)
    .filter(([k]) => k !== '$when')
    .map(([k, v]) => {
      if (k.startsWith('$')) throw new MappingError(scope.file, `${path}.${k}`, 'unknown directive');
      return [k, compileNode(v, `${path}.${k}`, scope)] as const;
    });
  return (record, ctx) => {
    if (!when(record, ctx)) return undefined;
    const out: Record<string, unknown> = {};
    for (const [k, f] of fields) {
      const v = f(record, ctx);
      if (present(v)) out[k] = v;
    }
    return Object.keys(out).length > 0 ? out : undefined;
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
  const table = n.table === undefined ? undefined : scope.env.tables.get(n.table);
  if (n.table !== undefined && !table) throw new MappingError(scope.file, path, `unknown code table "${n.table}"`);
  const when = compileWhen(n.$when, path, scope);
  return (record, ctx) => {
    if (!when(record, ctx)) return undefined;
    let v: unknown = select ? select(record) : context !== undefined ? ctx.values[context] : record;
    if (fn) v = fn(v, ctx);
    if (table) v = lookup(table, v);
    return v;
  };
}

function compileFrom(expr: string, path: string, scope: Scope): (record: unknown) => unknown {
  const head = /^[A-Za-z_][A-Za-z0-9_]*/.exec(expr)?.[0];
  if (head === undefined || !scope.env.sourceFields.has(head)) {
    throw new MappingError(scope.file, path, `"${expr}" does not start with a field of the source record`);
  }
  let compiled: (r: unknown) => unknown[];
  try {
    const f = fhirpath.compile(expr, undefined);
    compiled = (r) => f(r) as unknown[];
  } catch {
    throw new MappingError(scope.file, path, `"${expr}" is not a valid FHIRPath expression`);
  }
  return (record) => {
    const out = compiled(record).filter(present);
    return out.length === 0 ? undefined : out.length === 1 ? out[0] : out;
  };
}

function lookup(table: CodeTable, value: unknown): unknown {
  if (typeof value !== 'string') return undefined;
  const key = value.trim().toLowerCase();
  const hit = Object.entries(table.entries).find(([k]) => k.trim().toLowerCase() === key);
  return hit ? hit[1] : table.default;
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);
}
