/**
 * Mapping functions for encounter records (`{ summary, ccd }`): ids, status, the doctor's
 * display name, and the CCD attachment's bytes, size and hash. Registered by name in
 * functions.ts; each reads the per-request context for what the record lacks (the
 * patient and the id codec, the section asked for, the FHIR base, the clock).
 */
import { createHash } from 'node:crypto';
import { utf8Pieces } from '../fhir/deferred-base64.ts';
import type { DocumentKey } from '../ids/resource-ids.ts';
import type { MappingValues } from './context.ts';
import type { MappingContext } from './context.ts';

interface EncounterLike {
  summary: {
    encounterId: number;
    encounterDate: string;
    encounterLocked?: boolean | undefined;
    doctorFirstName?: string | undefined;
    doctorLastName?: string | undefined;
    doctorProfessionalDesignation?: string | undefined;
    type?: string | undefined;
  };
  ccd: string;
}

function isEncounter(x: unknown): x is EncounterLike {
  const s = (x as { summary?: { encounterId?: unknown; encounterDate?: unknown } } | null)?.summary;
  return typeof s?.encounterId === 'number' && typeof s.encounterDate === 'string';
}

const text = (ctx: MappingContext, key: keyof MappingValues): string | undefined => {
  const v = ctx.values[key];
  return typeof v === 'string' ? v : undefined;
};

const DAY_MS = 86_400_000;

/** See mappings/encounter.map.yaml for the rule. */
export function encounterStatus(record: unknown, ctx: MappingContext): string | undefined {
  if (!isEncounter(record)) return undefined;
  const start = Date.parse(record.summary.encounterDate);
  const now = Number(ctx.values.now);
  if (record.summary.encounterLocked === true) return 'finished';
  if (start > now) return 'planned';
  return now - start < DAY_MS ? 'in-progress' : 'finished';
}

/** "Jane Roe, MD" — or without the designation, or undefined without a name. */
export function doctorDisplay(record: unknown): string | undefined {
  if (!isEncounter(record)) return undefined;
  const s = record.summary;
  const name = [s.doctorFirstName, s.doctorLastName].filter(Boolean).join(' ');
  if (name === '') return undefined;
  return s.doctorProfessionalDesignation ? `${name}, ${s.doctorProfessionalDesignation}` : name;
}

/** What the ids of this record are made of (src/ids/encounter-ids.ts): the UTC day, the patient, the section. */
export function keyOf(record: unknown, ctx: MappingContext): DocumentKey | undefined {
  if (!isEncounter(record) || ctx.patient === undefined) return undefined;
  const ms = Date.parse(record.summary.encounterDate);
  if (Number.isNaN(ms)) return undefined;
  const date = new Date(ms).toISOString().slice(0, 10);
  return { encounterId: record.summary.encounterId, date, patient: ctx.patient, section: text(ctx, 'section') };
}

export function encounterResourceId(record: unknown, ctx: MappingContext): string | undefined {
  const key = keyOf(record, ctx);
  return key && ctx.ids.encounter.issue(key);
}

export function documentResourceId(record: unknown, ctx: MappingContext): string | undefined {
  const key = keyOf(record, ctx);
  return key && ctx.ids.document.issue(key);
}

export function encounterReference(record: unknown, ctx: MappingContext): string | undefined {
  const id = encounterResourceId(record, ctx);
  return id === undefined ? undefined : `Encounter/${id}`;
}

export function binaryUrl(record: unknown, ctx: MappingContext): string | undefined {
  const id = documentResourceId(record, ctx);
  const base = text(ctx, 'baseUrl');
  return id === undefined || base === undefined ? undefined : `${base}/Binary/${id}`;
}

/** "Continuity of Care Document — Office Visit, 2021-03-15" (plus the section, if one). */
export function documentTitle(record: unknown, ctx: MappingContext): string | undefined {
  if (!isEncounter(record)) return undefined;
  const day = record.summary.encounterDate.slice(0, 10);
  const visit = record.summary.type ? `${record.summary.type}, ${day}` : day;
  const section = text(ctx, 'section');
  return `Continuity of Care Document — ${visit}${section ? ` (section: ${section})` : ''}`;
}

export const lockedDocStatus = (locked: unknown) => (locked === true ? 'final' : 'preliminary');

/** The attachment functions work on the CCD's exact UTF-8 bytes (base64: encoded as the response is written, when it streams). */
export function base64(v: unknown, ctx: MappingContext): string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  return ctx.deferBase64 ? ctx.deferBase64(v) : Buffer.from(v, 'utf8').toString('base64');
}
export const utf8Size = (v: unknown) => (typeof v === 'string' && v !== '' ? Buffer.byteLength(v, 'utf8') : undefined);
/** Hashed a piece at a time: a CCD's UTF-8 bytes are never all in memory at once. */
export function sha1Base64(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const hash = createHash('sha1');
  for (const piece of utf8Pieces(v)) hash.update(piece);
  return hash.digest('base64');
}
