/**
 * The R4 element names of the resource types mappings build and of every type reachable
 * from them (src/mapping/r4-elements.json, written by `npm run gen:r4-elements` from the
 * official StructureDefinitions). The mapping compiler checks every output element
 * against it at start-up.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const R4ElementsSchema = z.object({
  resources: z.array(z.string()),
  /** Type (or backbone path, e.g. `Encounter.participant`) → element name → its type. */
  types: z.record(z.string(), z.record(z.string(), z.string())),
});

export interface R4Elements {
  /** Whether `type` has elements (a resource, complex datatype or backbone element). */
  isComplex(type: string): boolean;
  /** The type of element `name` of `type`, or undefined when `type` has no such element. */
  elementType(type: string, name: string): string | undefined;
}

/** Reads the generated file; at start-up only. */
export function loadR4Elements(file: URL = new URL('./r4-elements.json', import.meta.url)): R4Elements {
  const { types } = R4ElementsSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  return {
    isComplex: (type) => Object.hasOwn(types, type),
    elementType: (type, name) => {
      const elements = Object.hasOwn(types, type) ? types[type] : undefined;
      return elements && Object.hasOwn(elements, name) ? elements[name] : undefined;
    },
  };
}
