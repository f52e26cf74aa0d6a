/**
 * Plain dotted paths (`a.b.c`) evaluated by direct property access with the semantics
 * FHIRPath gives them over JSON: each step reads the property of every current item,
 * flattening arrays and dropping null and undefined. Mappings (src/mapping/source-path.ts)
 * and search filters (search/match.ts) use it where an expression is only a path.
 */

const PLAIN = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** The segments of a plain dotted path, or undefined for anything else (a real expression). */
export function plainPath(expr: string): string[] | undefined {
  return PLAIN.test(expr) ? expr.split('.') : undefined;
}

/** Direct property access along `segments`, from `root`; the values as FHIRPath would give them. */
export function compilePlainPath(segments: readonly string[]): (root: unknown) => unknown[] {
  return (root) => {
    let items: unknown[] = root === undefined || root === null ? [] : [root];
    for (const name of segments) {
      const next: unknown[] = [];
      for (const item of items) {
        if (typeof item !== 'object' || item === null || Array.isArray(item)) continue;
        const v = Object.hasOwn(item, name) ? (item as Record<string, unknown>)[name] : undefined;
        if (Array.isArray(v)) {
          for (const x of v) if (x !== undefined && x !== null) next.push(x);
        } else if (v !== undefined && v !== null) next.push(v);
      }
      items = next;
    }
    return items;
  };
}
