/**
 * The grammar of a mapping file (mappings/*.map.yaml), as zod schemas. A mapping is a tree
 * of nodes that mirrors the FHIR resource it builds:
 * - a scalar (string, number, boolean) is a literal;
 * - a list builds an array (items that come out empty are dropped);
 * - `{ from: <FHIRPath over the Nextech record>, fn?, table? }` selects a value, then
 *   transforms it with a whitelisted function and/or translates it with a code table; every
 *   field a `from` reads must exist in the source's zod schema, and a plain dotted path
 *   (`summary.encounterId`) is read by direct property access rather than FHIRPath;
 * - `{ $context: <name> }` takes a per-request value (e.g. the practice's identifier system);
 * - `{ fn: <name> }` alone applies a function to the whole record;
 * - `$when` on an expression node makes its value conditional too.
 * - any other object builds an object (its keys must be R4 elements of the type built there,
 *   src/mapping/r4-elements.json); `$when: <expression node>` keeps it only when the
 *   expression has a value (`true` for flags) — or, given a list, when all of them do — so
 *   e.g. an identifier without a value vanishes.
 *
 * One record can become several resources: `emits` names, for another source shape (e.g.
 * `practitioner`), the record this one yields of it, as a tree of the same nodes whose keys
 * must be fields of that shape; the emitted record is then mapped by that shape's own
 * mapping file. A Nextech encounter so emits its doctor, its location and its department.
 */
import { z } from 'zod';

export type Literal = string | number | boolean;

export interface ExprNode {
  $when?: ExprNode | ExprNode[];
  from?: string;
  $context?: string;
  fn?: string;
  table?: string;
}

export type MapNode = Literal | MapNode[] | ExprNode | ObjectNode;
export interface ObjectNode {
  $when?: ExprNode | ExprNode[];
  [key: string]: MapNode | ExprNode | undefined;
}

export const ExprNodeSchema = z
  .object({
    from: z.string().min(1).optional(),
    $context: z.string().min(1).optional(),
    fn: z.string().min(1).optional(),
    table: z.string().min(1).optional(),
    /** Conditions, as on objects: the value is produced only when they hold. */
    $when: z.unknown().optional(),
  })
  .strict()
  .refine((n) => !(n.from !== undefined && n.$context !== undefined), 'use either from or $context, not both')
  .refine((n) => n.from !== undefined || n.$context !== undefined || n.fn !== undefined, 'needs from, $context or fn');

export const MappingFileSchema = z
  .object({
    resourceType: z.string().regex(/^[A-Z][A-Za-z]+$/),
    /** Which Nextech record shape the mapping reads (e.g. `patient`). */
    source: z.string().min(1),
    description: z.string().optional(),
    resource: z.record(z.string(), z.unknown()),
    /** Records of other source shapes this record yields, by shape name (see above). */
    emits: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
  })
  .strict();
export type MappingFile = z.infer<typeof MappingFileSchema>;

export const CodeTableSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]*$/),
    description: z.string().optional(),
    /** Source values are matched case-insensitively after trimming. */
    entries: z.record(z.string(), z.record(z.string(), z.unknown())),
    /** Returned when no entry matches; omit to map unknown values to nothing. */
    default: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type CodeTable = z.infer<typeof CodeTableSchema>;

/**
 * Keys that make an object an expression node rather than an object to build. `$context`
 * carries a `$` because FHIR itself has elements named `context` (DocumentReference).
 */
export const EXPR_KEYS = ['from', '$context', 'fn', 'table'] as const;
