/**
 * Loads mappings/ at start-up: parses every code table and mapping file, checks them
 * against their grammar and the Nextech record shapes, and compiles them. Any problem stops
 * the process with a message naming the file and the path inside it.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DocumentReference, Encounter, Location, Organization, Patient, Practitioner } from 'fhir/r4';
import { parse } from 'yaml';
import type { z } from 'zod';
import { DirectoryLocationSchema, DirectoryOrganizationSchema, DirectoryPractitionerSchema } from '../source/directory.ts';
import { SourceEncounterSchema, SourcePatientSchema } from '../source/ehr-source.ts';
import { compileEmits, compileMapping, MappingError, type CompiledEmits, type CompiledMapping } from './compile.ts';
import { CONTEXT_KEYS } from './context.ts';
import { loadR4Elements, type R4Elements } from './r4-elements.ts';
import { CodeTableSchema, MappingFileSchema, type CodeTable } from './spec.ts';

/** The default location: `mappings/` at the project root. */
export const MAPPINGS_DIR = fileURLToPath(new URL('../../mappings/', import.meta.url));

/** Context values every mapping may read with `{ $context: name }` (declared in context.ts). */
export { CONTEXT_KEYS };

export interface Mappings {
  patient: CompiledMapping<Patient>;
  encounter: CompiledMapping<Encounter>;
  documentReference: CompiledMapping<DocumentReference>;
  practitioner: CompiledMapping<Practitioner>;
  location: CompiledMapping<Location>;
  organization: CompiledMapping<Organization>;
  /** The directory records one encounter yields (encounter.map.yaml `emits`), each mapped by its own file. */
  encounterEmits: CompiledEmits;
}

/** Record shapes mappings can read (zod schemas), by the name used in a mapping's `source:`. */
const SOURCES: Record<string, z.ZodType> = {
  patient: SourcePatientSchema,
  encounter: SourceEncounterSchema,
  practitioner: DirectoryPractitionerSchema,
  location: DirectoryLocationSchema,
  organization: DirectoryOrganizationSchema,
};

function readYaml(file: string): unknown {
  try {
    return parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MappingError(file, '', `cannot be read as YAML (${(err as Error).message})`);
  }
}

export function loadCodeTables(dir: string): Map<string, CodeTable> {
  const tables = new Map<string, CodeTable>();
  const codesDir = join(dir, 'codes');
  if (!existsSync(codesDir)) return tables;
  for (const name of readdirSync(codesDir).filter((f) => f.endsWith('.yaml')).sort()) {
    const file = join(codesDir, name);
    const parsed = CodeTableSchema.safeParse(readYaml(file));
    if (!parsed.success) throw new MappingError(file, parsed.error.issues[0]?.path.join('.') ?? '', parsed.error.issues[0]?.message ?? 'invalid');
    tables.set(parsed.data.name, parsed.data);
  }
  return tables;
}

/** The shapes a mapping may emit (`emits`): records that have a mapping file of their own. */
const EMITTABLE: Record<string, z.ZodType> = {
  practitioner: DirectoryPractitionerSchema,
  location: DirectoryLocationSchema,
  organization: DirectoryOrganizationSchema,
};

function loadOne<T>(dir: string, name: string, tables: ReadonlyMap<string, CodeTable>, r4: R4Elements): { map: CompiledMapping<T>; emits: CompiledEmits } {
  const file = join(dir, name);
  const parsed = MappingFileSchema.safeParse(readYaml(file));
  if (!parsed.success) throw new MappingError(file, parsed.error.issues[0]?.path.join('.') ?? '', parsed.error.issues[0]?.message ?? 'invalid');
  const source = SOURCES[parsed.data.source];
  if (!source) throw new MappingError(file, 'source', `unknown source "${parsed.data.source}"`);
  const env = { source, tables, contextKeys: CONTEXT_KEYS, r4 };
  return { map: compileMapping<T>(file, parsed.data, env), emits: compileEmits(file, parsed.data, env, EMITTABLE) };
}

/** Loads and compiles every mapping the service uses. */
export function loadMappings(dir: string = MAPPINGS_DIR): Mappings {
  const tables = loadCodeTables(dir);
  const r4 = loadR4Elements();
  const encounter = loadOne<Encounter>(dir, 'encounter.map.yaml', tables, r4);
  return {
    patient: loadOne<Patient>(dir, 'patient.map.yaml', tables, r4).map,
    encounter: encounter.map,
    encounterEmits: encounter.emits,
    documentReference: loadOne<DocumentReference>(dir, 'document-reference.map.yaml', tables, r4).map,
    practitioner: loadOne<Practitioner>(dir, 'practitioner.map.yaml', tables, r4).map,
    location: loadOne<Location>(dir, 'location.map.yaml', tables, r4).map,
    organization: loadOne<Organization>(dir, 'organization.map.yaml', tables, r4).map,
  };
}
