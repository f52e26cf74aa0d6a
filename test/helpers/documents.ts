/**
 * Expectations for the CCD documents (DocumentReference, $docref, Binary), computed
 * straight from the sandbox's data and its CCD generator rather than through the facade:
 * the exact bytes of each CCD, the ids of each encounter's resources (opaque, so found by
 * searching and matching the Nextech encounter id, never built), and small helpers to read
 * searchsets and count upstream encounter searches.
 *
 * `docFetch` is `fhirFetch` with the validator's verdict relaxed in exactly one place where
 * Medplum's validator is stricter than FHIR R4: it caps every JSON string at 1 MB, but that
 * limit is the `string` type's (https://hl7.org/fhir/R4/datatypes.html#string);
 * `base64Binary` (Attachment.data, Binary.data) has none, and a >1 MB CCD must travel whole.
 * Every other validation error still fails the test (subsetted resources keep their
 * mandatory elements, so they validate too).
 */
import { createHash } from 'node:crypto';
import type { Bundle, DocumentReference, Encounter, Patient } from 'fhir/r4';
import { expect } from 'vitest';
import {
  ccdFor,
  edgeCases,
  type RecordedCall,
  type Sandbox,
  type SandboxEdgeCaseName,
  type SandboxEncounter,
  type SandboxPatient,
  type SandboxPractice,
} from '../../src/sandbox/index.ts';
import type { FhirResponse } from './service.ts';
import { fhirErrors } from './validator.ts';

/** A sandbox patient with its practice and the FHIR Patient id the service gives it. */
export interface DocPatient {
  practice: SandboxPractice;
  patient: SandboxPatient;
  /** The FHIR Patient id, as `GET Patient?identifier=` answers it. */
  id: string;
  /** Its encounters' resource ids, once found (withIds). */
  ids?: FoundIds;
}

/** A patient's Encounter and whole-CCD DocumentReference ids, by Nextech encounter id. */
export interface FoundIds {
  encounter: ReadonlyMap<number, string>;
  document: ReadonlyMap<number, string>;
}

/**
 * The patient with its resource ids, found through `base`: each Encounter by its Nextech
 * `identifier`, each document by the Encounter its `context.encounter` names. Searching
 * warms the service's encounter store for the open-ended range of this patient only.
 */
export async function withIds(base: string, p: DocPatient, init: RequestInit = {}): Promise<DocPatient> {
  const found = await docFetch<Bundle>(`${base}/Encounter?patient=${encodeURIComponent(p.id)}&_count=50`, init);
  const encounter = new Map<number, string>();
  for (const r of matchesOf<Encounter>(found.body)) {
    const nextechId = r.identifier?.find((i) => i.system?.endsWith(':encounter-id'))?.value;
    if (nextechId !== undefined && r.id !== undefined) encounter.set(Number(nextechId), r.id);
  }
  const byFhirId = new Map([...encounter].map(([n, id]) => [`Encounter/${id}`, n]));
  const docs = await docFetch<Bundle>(`${base}/DocumentReference?patient=${encodeURIComponent(p.id)}&_count=50&_summary=true`, init);
  const document = new Map<number, string>();
  for (const d of matchesOf(docs.body)) {
    const n = byFhirId.get(d.context?.encounter?.[0]?.reference ?? '');
    if (n !== undefined && d.id !== undefined) document.set(n, d.id);
  }
  const count = p.patient.encounters.length;
  if (encounter.size !== count || document.size !== count) throw new Error(`ids of patient ${p.patient.patientId}: not all found`);
  return { ...p, ids: { encounter, document } };
}

function foundId(p: DocPatient, kind: keyof FoundIds, e: SandboxEncounter): string {
  const id = p.ids?.[kind].get(e.summary.encounterId);
  if (id === undefined) throw new Error(`no ${kind} id for encounter ${e.summary.encounterId} (use withIds)`);
  return id;
}

/** The patient showing an edge case in a practice, with its FHIR id looked up through `base`. */
export async function edgePatient(
  sandbox: Sandbox,
  base: string,
  name: SandboxEdgeCaseName,
  practiceId = '1001',
  init: RequestInit = {},
): Promise<DocPatient> {
  const [fixture] = edgeCases(name, practiceId);
  if (!fixture) throw new Error(`no ${name} patient in ${practiceId}`);
  const practice = sandbox.data.practices.find((p) => p.practiceId === practiceId);
  const patient = practice?.patients.find((p) => p.patientId === fixture.patientId);
  if (!practice || !patient) throw new Error(`no sandbox patient ${fixture.patientId}`);
  const { body } = await docFetch<Bundle>(`${base}/Patient?identifier=${encodeURIComponent(patient.json.chartNumber)}`, init);
  const found = body.entry?.map((e) => e.resource as Patient).filter((p) => p.identifier?.some((i) => i.value === String(patient.patientId)));
  const id = found?.[0]?.id;
  if (found?.length !== 1 || id === undefined) throw new Error(`patient ${patient.patientId} not found by chart number`);
  return { practice, patient, id };
}

/** The CCD's exact UTF-8 bytes, as the API sends them (optionally one section). */
export const ccdBytes = (p: DocPatient, e: SandboxEncounter, section?: string): Buffer =>
  Buffer.from(ccdFor(p.practice, p.patient, e, section), 'utf8');

export const sha1Base64 = (bytes: Buffer): string => createHash('sha1').update(bytes).digest('base64');

/** The encounter's instant as a FHIR instant. */
export const instantOf = (e: SandboxEncounter): string => new Date(e.instant).toISOString();

/** The id of an encounter's whole-CCD DocumentReference (and Binary), as found by withIds. */
export const documentIdOf = (p: DocPatient, e: SandboxEncounter): string => foundId(p, 'document', e);

/** The id of an Encounter, as found by withIds. */
export const encounterIdOf = (p: DocPatient, e: SandboxEncounter): string => foundId(p, 'encounter', e);

/** Whether Nextech's lock flag (a boolean or, as a documented quirk, a string) says locked. */
export const isLocked = (e: SandboxEncounter): boolean => String(e.summary.encounterLocked).toLowerCase() === 'true';

/** "First Last, MD" (no comma part without a designation). */
export const doctorDisplayOf = (e: SandboxEncounter): string => {
  const s = e.summary;
  const name = `${s.doctorFirstName} ${s.doctorLastName}`;
  return s.doctorProfessionalDesignation ? `${name}, ${s.doctorProfessionalDesignation}` : name;
};

/** The patient's encounters newest first (the service's default order). */
export const newestFirst = (p: DocPatient): SandboxEncounter[] => [...p.patient.encounters].sort((a, b) => b.instant - a.instant);

/** The matched resources of a searchset, in order. */
export function matchesOf<T = DocumentReference>(bundle: Bundle): T[] {
  return (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as T);
}

/** Ids of the matched resources, in order. */
export const idsOf = (bundle: Bundle): string[] => matchesOf<{ id?: string }>(bundle).map((r) => r.id ?? '');

/** The URL of a link relation, or undefined. */
export const linkOf = (bundle: Bundle, relation: string): string | undefined => bundle.link?.find((l) => l.relation === relation)?.url;

/** Every match of a search, following `next` links. */
export async function allPages(url: string): Promise<DocumentReference[]> {
  const out: DocumentReference[] = [];
  let next: string | undefined = url;
  while (next) {
    const { status, body }: { status: number; body: Bundle } = await docFetch<Bundle>(next);
    expect(status).toBe(200);
    out.push(...matchesOf(body));
    next = linkOf(body, 'next');
  }
  return out;
}

/** The first attachment of a document. */
export function attachmentOf(doc: DocumentReference) {
  const attachment = doc.content[0]?.attachment;
  if (!attachment) throw new Error(`document ${doc.id ?? ''} has no attachment`);
  return attachment;
}

/** The bytes a document's attachment carries (its base64 `data`, decoded). */
export function decodedData(doc: DocumentReference): Buffer {
  const data = attachmentOf(doc).data;
  if (data === undefined) throw new Error(`document ${doc.id ?? ''} has no attachment data`);
  return Buffer.from(data, 'base64');
}

/**
 * Asserts that a document carries exactly these bytes: canonical base64 of them, their
 * byte length and their SHA-1. (Compares without printing megabytes on failure.)
 */
export function expectCarries(doc: DocumentReference, bytes: Buffer): void {
  const attachment = attachmentOf(doc);
  const decoded = decodedData(doc);
  expect(decoded.equals(bytes), `bytes of ${doc.id ?? ''}`).toBe(true);
  expect(attachment.data === bytes.toString('base64'), `base64 of ${doc.id ?? ''}`).toBe(true);
  expect(attachment.size).toBe(bytes.length);
  expect(attachment.hash).toBe(sha1Base64(bytes));
}

/** The upstream encounter searches among recorded calls. */
export const encounterSearches = (calls: readonly RecordedCall[]): RecordedCall[] =>
  calls.filter((c) => c.path.endsWith('/encounters/search'));

/** Whether a validator error is the documented exemption (see the module header). */
function exempt(error: string): boolean {
  const at = error.indexOf(': ');
  const path = error.slice(0, at);
  const message = error.slice(at + 2);
  return message === 'String cannot be larger than 1 MB' && /(^Binary|\.attachment)\.data$/.test(path);
}

/** Fetches, checks the FHIR media type, and validates the body (with the exemptions above). */
export async function docFetch<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<FhirResponse<T>> {
  // As a FHIR client asks (without it a Binary read answers the document itself, R4 binary.html).
  const headers = new Headers(init.headers);
  if (!headers.has('accept')) headers.set('accept', 'application/fhir+json');
  const res = await fetch(url, { ...init, headers });
  const text = await res.text();
  expect(res.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
  const body = JSON.parse(text) as T;
  const errors = fhirErrors(body).filter((e) => !exempt(e));
  if (errors.length > 0) throw new Error(`Invalid FHIR:\n${errors.join('\n')}\n${text.slice(0, 2000)}`);
  return { status: res.status, headers: res.headers, body };
}
