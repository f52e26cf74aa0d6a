/**
 * `from` paths over a Nextech record: checking them against the record's zod schema at
 * start-up, and compiling plain dotted paths (`summary.encounterId`) to direct property
 * access (src/fhir/plain-path.ts, the semantics FHIRPath gives them), so a request
 * evaluates no FHIRPath for them. Real expressions stay FHIRPath (compile.ts).
 */
import type { z } from 'zod';

export { compilePlainPath, plainPath } from '../fhir/plain-path.ts';

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  shape?: Record<string, z.ZodType>;
  getter?: () => z.ZodType;
}

const def = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schemas a value of `schema` may be, with wrappers, pipes and arrays unwrapped. */
function unwrap(schema: z.ZodType, depth = 0): z.ZodType[] {
  if (depth > 32) return [schema];
  const d = def(schema);
  const next = (s: z.ZodType | undefined): z.ZodType[] => (s ? unwrap(s, depth + 1) : []);
  switch (d.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      return next(d.innerType);
    case 'pipe':
      // A transform's output has no schema: read what goes in. A pipe into a schema: what comes out.
      return d.out && def(d.out).type !== 'transform' ? next(d.out) : next(d.in);
    case 'array':
      return next(d.element);
    case 'union':
      return (d.options ?? []).flatMap((o) => unwrap(o, depth + 1));
    case 'lazy':
      return d.getter ? next(d.getter()) : [schema];
    default:
      return [schema];
  }
}

/** The field schemas named `name` in any object `schema` may be. */
function field(schema: z.ZodType, name: string): z.ZodType[] {
  return unwrap(schema).flatMap((s) => {
    const shape = def(s).type === 'object' ? def(s).shape : undefined;
    const f = shape && Object.hasOwn(shape, name) ? shape[name] : undefined;
    return f ? [f] : [];
  });
}

/**
 * Walks `segments` through `schema`; returns the first segment path (e.g. `summary.encounterIdd`)
 * that names no field, or undefined when every segment exists.
 */
export function unknownSegment(schema: z.ZodType, segments: readonly string[]): string | undefined {
  let at: z.ZodType[] = [schema];
  for (let i = 0; i < segments.length; i++) {
    const name = segments[i] as string;
    at = at.flatMap((s) => field(s, name));
    if (at.length === 0) return segments.slice(0, i + 1).join('.');
  }
  return undefined;
}

/** Whether the record schema has a top-level field `name`. */
export function hasField(schema: z.ZodType, name: string): boolean {
  return field(schema, name).length > 0;
}

const KEYWORDS = new Set(['and', 'or', 'xor', 'implies', 'is', 'as', 'div', 'mod', 'in', 'contains', 'true', 'false']);

/**
 * The identifier chains of a FHIRPath expression that are evaluated against the record
 * itself: those at parenthesis depth 0 that do not follow a `.` (function arguments are
 * evaluated against their own focus, so they are not checked). A call's name is dropped
 * (`first.upper()` gives `first`); keywords and the type after `is`/`as` are skipped.
 */
export function rootChains(expr: string): string[][] {
  const text = expr.replace(/'(?:[^'\\]|\\.)*'/g, "''").replace(/`(?:[^`\\]|\\.)*`/g, '``');
  const chains: string[][] = [];
  let depth = 0;
  let afterTypeOp = false;
  for (let i = 0; i < text.length; ) {
    const c = text[i] as string;
    if (c === '(' || c === '[') depth++;
    if (c === ')' || c === ']') depth--;
    const m = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(text.slice(i));
    const prev = text.slice(0, i).trimEnd().at(-1);
    const boundary = i === 0 || !/[A-Za-z0-9_$%@.`]/.test(text[i - 1] as string);
    if (!m || !boundary) {
      i++;
      continue;
    }
    const segs = m[0].split('.');
    if (text[i + m[0].length] === '(') segs.pop();
    if (depth === 0 && prev !== '.' && segs.length > 0 && !KEYWORDS.has(segs[0] as string) && !afterTypeOp) chains.push(segs);
    afterTypeOp = segs.length === 1 && (segs[0] === 'is' || segs[0] === 'as');
    i += m[0].length;
  }
  return chains;
}
