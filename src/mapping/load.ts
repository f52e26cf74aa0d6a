/**
 * Loads mappings/ at start-up: parses every code table and mapping file, checks them
 * against their grammar and the Nextech record shapes, and compiles them. Any problem stops
 * the process with a message naming the file and the path inside it.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DocumentReference, Encounter, Patient } from 'fhir/r4';
import { parse } from 'yaml';
import { EhrEncounterSchema, EhrPatientSchema } from '../source/nextech/schemas.ts';
import { compileMapping, MappingError, type CompiledMapping } from './compile.ts';
import { CodeTableSchema, MappingFileSchema, type CodeTable } from './spec.ts';

/** The default location: `mappings/` at the project root. */
export const MAPPINGS_DIR = fileURLToPath(new URL('../../mappings/', import.meta.url));

/** Context values every mapping may read with `{ context: name }`. */
export const CONTEXT_KEYS = new Set([
  'practiceId',
  'chartNumberSystem',
  'patientIdSystem',
  'encounterIdSystem',
  'doctorIdSystem',
  'exposeSsn',
  // Per search, for encounter-based resources:
  'patientResourceId',
  'patientReference',
  'section',
  'includeData',
  'baseUrl',
  'now',
]);

export interface Mappings {
  patient: CompiledMapping<Patient>;
  encounter: CompiledMapping<Encounter>;
  documentReference: CompiledMapping<DocumentReference>;
}

/** Record shapes mappings can read, by the name used in a mapping's `source:`. */
const SOURCES: Record<string, ReadonlySet<string>> = {
  patient: new Set(Object.keys(EhrPatientSchema.shape)),
  encounter: new Set(Object.keys(EhrEncounterSchema.shape)),
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

function loadOne<T>(dir: string, name: string, tables: ReadonlyMap<string, CodeTable>): CompiledMapping<T> {
  const file = join(dir, name);
  const parsed = MappingFileSchema.safeParse(readYaml(file));
  if (!parsed.success) throw new MappingError(file, parsed.error.issues[0]?.path.join('.') ?? '', parsed.error.issues[0]?.message ?? 'invalid');
  const sourceFields = SOURCES[parsed.data.source];
  if (!sourceFields) throw new MappingError(file, 'source', `unknown source "${parsed.data.source}"`);
  return compileMapping<T>(file, parsed.data, { sourceFields, tables, contextKeys: CONTEXT_KEYS });
}

/** Loads and compiles every mapping the service uses. */
export function loadMappings(dir: string = MAPPINGS_DIR): Mappings {
  const tables = loadCodeTables(dir);
  return {
    patient: loadOne<Patient>(dir, 'patient.map.yaml', tables),
    encounter: loadOne<Encounter>(dir, 'encounter.map.yaml', tables),
    documentReference: loadOne<DocumentReference>(dir, 'document-reference.map.yaml', tables),
  };
}
