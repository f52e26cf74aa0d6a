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

/**
 * Compiles a parsed mapping file; `file` is used in error messages only.
 *
 * The mapping becomes one function of straight-line JavaScript, generated once from the file
 * (a `new Function` over code this module writes; values from the file enter it only as JSON
 * literals or as entries of the `K` array, never as code). A closure per node cost tens of µs
 * per Patient; the generated function does the same work in a few.
 */
export function compileMapping<T>(file: string, mapping: MappingFile, env: CompileEnv): CompiledMapping<T> {
  const resourceType = mapping.resourceType;
  if (env.r4 && !env.r4.isComplex(resourceType)) throw new MappingError(file, 'resourceType', `"${resourceType}" is not an R4 resource type this service knows`);
  const code = new Code();
  const body = genNode(mapping.resource, 'resource', { file, env }, env.r4 ? resourceType : undefined)(code);
  code.line(`const out = { resourceType: ${JSON.stringify(resourceType)} };`);
  code.line(`if (${body} !== undefined) Object.assign(out, ${body});`);
  code.line('return out;');
  return code.build() as CompiledMapping<T>;
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
    const code = new Code();
    const built = genFields(tree, path, scope, (k) => {
      if (!hasField(target, k)) throw new MappingError(file, `${path}.${k}`, `a ${source} record has no field "${k}"`);
      return undefined;
    }, false)(code);
    code.line(`return ${built};`);
    const build = code.build();
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

/**
 * The body of a generated mapping function under construction. Its parameters: `record`, `ctx`,
 * `K` (values the code refers to by index: functions, code tables, compiled paths) and `P`
 * (present), `U` (a path's values as one value); `R` is the record when it is an object.
 */
class Code {
  readonly #lines: string[] = [];
  readonly #constants: unknown[] = [];
  #vars = 0;

  line(text: string): void {
    this.#lines.push(text);
  }

  /** A new variable, declared (undefined). */
  fresh(): string {
    const name = `v${this.#vars++}`;
    this.#lines.push(`let ${name};`);
    return name;
  }

  /** An expression for `value`, kept out of the code text. */
  constant(value: unknown): string {
    this.#constants.push(value);
    return `K[${this.#constants.length - 1}]`;
  }

  build(): (record: unknown, ctx: MappingContext) => unknown {
    const source = [
      'return function mapped(record, ctx) {',
      "const R = typeof record === 'object' && record !== null && !Array.isArray(record) ? record : undefined;",
      ...this.#lines,
      '};',
    ].join('\n');
    // The code is this module's own text; see compileMapping.
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const make = new Function('K', 'P', 'U', source) as (k: unknown[], p: typeof present, u: typeof oneValue) => (record: unknown, ctx: MappingContext) => unknown;
    return make(this.#constants, present, oneValue);
  }
}

/**
 * A node's generator: writes the statements computing it and gives the expression holding its
 * value. A constant node also says its value (`constant`), so its parent can place it directly.
 */
type Gen = ((code: Code) => string) & { constant?: string | number | boolean };

function genNode(node: unknown, path: string, scope: Scope, at: At): Gen {
  if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean') {
    const literal = JSON.stringify(node);
    return Object.assign(() => literal, { constant: node });
  }
  if (Array.isArray(node)) return genArray(node, path, scope, at);
  if (typeof node === 'object' && node !== null) {
    const keys = Object.keys(node);
    if (keys.some((k) => (EXPR_KEYS as readonly string[]).includes(k))) return genExpr(node, path, scope);
    return genObject(node as Record<string, unknown>, path, scope, at);
  }
  throw new MappingError(scope.file, path, 'null is not a valid mapping node');
}

function genArray(nodes: unknown[], path: string, scope: Scope, at: At): Gen {
  const items = nodes.map((n, i) => genNode(n, `${path}[${i}]`, scope, at));
  return (code) => {
    const list = code.fresh();
    code.line(`${list} = [];`);
    for (const item of items) {
      if (item.constant !== undefined) {
        if (present(item.constant)) code.line(`${list}.push(${item(code)});`);
        continue;
      }
      const v = item(code);
      // A list in a list is flattened; absent values are left out.
      code.line(`if (Array.isArray(${v})) { for (const x of ${v}) if (P(x)) ${list}.push(x); } else if (P(${v})) ${list}.push(${v});`);
    }
    code.line(`if (${list}.length === 0) ${list} = undefined;`);
    return list;
  };
}

/** Writes `body` under a `$when` (one condition or a list): it runs when all of them hold. */
function genWhen(raw: unknown, path: string, scope: Scope): (code: Code, body: () => void) => void {
  const conditions = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const tests = conditions.map((c, i) => genExpr(c, `${path}.$when[${i}]`, scope));
  return (code, body) => {
    for (const t of tests) {
      const w = t(code);
      code.line(`if (P(${w}) && ${w} !== false) {`);
    }
    body();
    for (let i = 0; i < tests.length; i++) code.line('}');
  };
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

function genObject(node: Record<string, unknown>, path: string, scope: Scope, at: At): Gen {
  return genFields(
    node,
    path,
    scope,
    (k, keyPath) => {
      if (k.startsWith('$')) throw new MappingError(scope.file, keyPath, 'unknown directive');
      return elementAt(at, k, keyPath, scope);
    },
    true,
  );
}

/**
 * The object a node's keys build (its `$when` holding), with the values that came out
 * present; undefined when the condition fails, or (`dropEmpty`) when nothing came out.
 * `check` vets each key at compile time and gives the FHIR type built under it (undefined:
 * unchecked).
 */
function genFields(node: Record<string, unknown>, path: string, scope: Scope, check: (key: string, keyPath: string) => At, dropEmpty: boolean): Gen {
  const when = genWhen(node.$when, path, scope);
  const fields = Object.entries(node)
    .filter(([k]) => k !== '$when')
    .map(([k, v]) => [k, genNode(v, `${path}.${k}`, scope, check(k, `${path}.${k}`))] as const);
  return (code) => {
    const obj = code.fresh();
    when(code, () => {
      code.line(`${obj} = {};`);
      // Whether the object has a field for sure (a constant one); else fields are counted.
      let surely = false;
      const count = dropEmpty ? code.fresh() : undefined;
      if (count) code.line(`${count} = 0;`);
      for (const [k, gen] of fields) {
        const key = JSON.stringify(k);
        if (gen.constant !== undefined) {
          if (!present(gen.constant)) continue;
          code.line(`${obj}[${key}] = ${gen(code)};`);
          surely = true;
          continue;
        }
        const v = gen(code);
        code.line(`if (P(${v})) { ${obj}[${key}] = ${v};${count ? ` ${count}++;` : ''} }`);
      }
      if (count && !surely) code.line(`if (${count} === 0) ${obj} = undefined;`);
    });
    return obj;
  };
}

function genExpr(raw: unknown, path: string, scope: Scope): Gen {
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
  const when = genWhen(n.$when, path, scope);
  return (code) => {
    const v = code.fresh();
    when(code, () => {
      if (select) code.line(`${v} = ${select(code)};`);
      else if (context !== undefined) code.line(`${v} = ctx.values[${JSON.stringify(context)}];`);
      else code.line(`${v} = record;`);
      if (fn) code.line(`${v} = ${code.constant(fn)}(${v}, ctx);`);
      if (table) code.line(`${v} = ${code.constant(table)}(${v});`);
    });
    return v;
  };
}

/**
 * A `from` path: a plain field name compiles to a property read in the generated code, a
 * dotted path to direct property access, anything else to FHIRPath. Either way every field it
 * reads from the record must exist in the source schema. Its value: undefined when nothing is
 * there, the one value, or the list of values.
 */
function compileFrom(expr: string, path: string, scope: Scope): (code: Code) => string {
  const head = /^[A-Za-z_][A-Za-z0-9_]*/.exec(expr)?.[0];
  if (head === undefined || !hasField(scope.env.source, head)) {
    throw new MappingError(scope.file, path, `"${expr}" does not start with a field of the source record`);
  }
  const plain = plainPath(expr);
  for (const chain of plain ? [plain] : rootChains(expr)) {
    const unknown = unknownSegment(scope.env.source, chain);
    if (unknown !== undefined) throw new MappingError(scope.file, path, `"${expr}": the source record has no field "${unknown}"`);
  }
  if (plain?.length === 1) {
    const key = JSON.stringify(plain[0]);
    return () => `U(R !== undefined && Object.hasOwn(R, ${key}) ? R[${key}] : undefined)`;
  }
  const union = plain ? undefined : plainUnion(expr);
  const compiled = plain ? compilePlainPath(plain) : union ? compileUnion(union) : compileFhirPath(expr, path, scope);
  return (code) => `U(${code.constant(compiled)}(record))`;
}

/** The paths of a union of plain paths (`lastName | firstName`), or undefined for any other expression. */
function plainUnion(expr: string): string[][] | undefined {
  const parts = expr.split('|').map((p) => plainPath(p.trim()));
  return parts.length > 1 && parts.every((p) => p !== undefined) ? parts : undefined;
}

/**
 * A union of plain paths, as FHIRPath's `|` evaluates it without its engine (which costs
 * ~15 µs a record): the values of each path in order, a value equal to one already there left
 * out (primitives by value, objects by their JSON).
 */
function compileUnion(paths: readonly string[][]): (record: unknown) => unknown[] {
  const reads = paths.map((p) => compilePlainPath(p));
  return (record) => {
    const out: unknown[] = [];
    const seen = new Set<unknown>();
    for (const read of reads) {
      for (const v of read(record)) {
        const key = typeof v === 'object' ? `\u0000${JSON.stringify(v)}` : v;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(v);
      }
    }
    return out;
  };
}

/** The values a path gave (one value, or several as a list) as a mapping sees them: absent ones left out, one unwrapped. */
function oneValue(v: unknown): unknown {
  if (!Array.isArray(v)) return present(v) ? v : undefined;
  const out = v.filter(present);
  return out.length === 0 ? undefined : out.length === 1 ? out[0] : out;
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
