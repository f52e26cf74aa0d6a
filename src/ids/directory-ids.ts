/**
 * What Practitioner, Location and Organization ids hold. Nextech has no endpoint for
 * doctors, locations or departments: all it says of them is on each encounter's summary
 * (doctorId and name, location, department). So their ids carry that data, sealed like
 * every id (sealer.ts): a read needs no upstream call, the same doctor, location or
 * department gets the same id from every encounter, replica and restart, and nothing is
 * readable in the id. Ids hold at most 32 bytes of data (64 characters, less the tag):
 * when the data does not fit (a long location name), the id instead names the encounter
 * that mentioned it — an anchor — and a read finds the data again with one upstream
 * listing; such an id is stable per encounter rather than per record.
 *
 * Plaintexts start with a form byte: 0 = the data — Practitioner varint(doctorId) + first
 * \0 last \0 designation (UTF-8); Location the name; Organization a kind byte (0: the
 * practice, 1: a department) + name — or 1 = the anchor, an encounter id's plaintext
 * (encounter-ids.ts).
 */
import { encounterPlaintext, readEncounterPlaintext, type EncounterContent, type EncounterKey } from './encounter-ids.ts';
import { ByteReader, isVarintValue, writeVarint } from './varint.ts';

export interface PractitionerKey {
  doctorId: number;
  firstName?: string | undefined;
  lastName?: string | undefined;
  designation?: string | undefined;
}

export interface LocationKey {
  name: string;
}

export type OrganizationKey = { kind: 'practice' } | { kind: 'department'; name: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function text(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

export function practitionerPlaintext(k: PractitionerKey): number[] | undefined {
  if (!isVarintValue(k.doctorId)) return undefined;
  const parts = [k.firstName ?? '', k.lastName ?? '', k.designation ?? ''];
  if (parts.some((p) => p.includes('\0'))) return undefined;
  const out: number[] = [];
  writeVarint(k.doctorId, out);
  out.push(...encoder.encode(parts.join('\0')));
  return out;
}

export function readPractitionerPlaintext(bytes: Uint8Array): PractitionerKey | undefined {
  const r = new ByteReader(bytes);
  const doctorId = r.varint();
  const rest = text(r.rest());
  const parts = rest?.split('\0');
  if (doctorId === undefined || parts?.length !== 3) return undefined;
  const [firstName, lastName, designation] = parts.map((p) => (p === '' ? undefined : p));
  return { doctorId, firstName, lastName, designation };
}

export function locationPlaintext(k: LocationKey): number[] | undefined {
  return k.name === '' ? undefined : [...encoder.encode(k.name)];
}

export function readLocationPlaintext(bytes: Uint8Array): LocationKey | undefined {
  const name = text(bytes);
  return name ? { name } : undefined;
}

export function organizationPlaintext(k: OrganizationKey): number[] | undefined {
  if (k.kind === 'practice') return [0];
  return k.name === '' ? undefined : [1, ...encoder.encode(k.name)];
}

export function readOrganizationPlaintext(bytes: Uint8Array): OrganizationKey | undefined {
  if (bytes.length === 1 && bytes[0] === 0) return { kind: 'practice' };
  const name = bytes[0] === 1 ? text(bytes.subarray(1)) : undefined;
  return name ? { kind: 'department', name } : undefined;
}

const DATA = 0;
const ANCHOR = 1;

/** What a directory id holds: the record's data, or the encounter that named it. */
export type DirectoryContent<K> = { data: K } | { anchor: EncounterContent };

/** The data form, or undefined when the data cannot be written. */
export function dataPlaintext<K>(write: (k: K) => number[] | undefined, key: K): number[] | undefined {
  const body = write(key);
  return body && [DATA, ...body];
}

/** The anchor form: the encounter that named the record. */
export function anchorPlaintext(anchor: EncounterKey): number[] | undefined {
  const body = encounterPlaintext({ ...anchor, section: undefined });
  return body && [ANCHOR, ...body];
}

export function readDirectoryPlaintext<K>(read: (b: Uint8Array) => K | undefined, bytes: Uint8Array): DirectoryContent<K> | undefined {
  const body = bytes.subarray(1);
  if (bytes[0] === DATA) {
    const data = read(body);
    return data === undefined ? undefined : { data };
  }
  if (bytes[0] !== ANCHOR) return undefined;
  const anchor = readEncounterPlaintext(body);
  return anchor && anchor.sectionKey === undefined ? { anchor } : undefined;
}
