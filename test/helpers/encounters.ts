/**
 * Shared pieces of the Encounter HTTP tests: expectations computed straight from the
 * sandbox's encounter summaries (never through the facade's mapping or id code), the
 * upstream calls a request made, and a service whose clock (and its sandbox's) is set to a
 * chosen instant, so the status rule can be seen for recent and future encounters.
 */
import type { Bundle, Encounter, Patient } from 'fhir/r4';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logging.ts';
import { startService } from '../../src/server.ts';
import {
  SANDBOX_CLIENT_ID,
  SANDBOX_CLIENT_SECRET,
  SANDBOX_RESOURCE,
  startSandbox,
  type NextechEncounterSummary,
  type RecordedCall,
  type Sandbox,
  type SandboxEncounter,
  type SandboxPatient,
} from '../../src/sandbox/index.ts';
import { patientsOf } from './expected.ts';
import { fhirFetch, TEST_RESOURCE_ID_KEY } from './service.ts';

const DAY_MS = 86_400_000;

/** Visit types with a SNOMED CT code (issue 3), with SNOMED's preferred terms; any other type is text only. */
export const SNOMED_TYPES: Readonly<Record<string, { code: string; display: string }>> = {
  Consultation: { code: '11429006', display: 'Consultation' },
  'Follow-Up': { code: '390906007', display: 'Follow-up encounter' },
  Telehealth: { code: '448337001', display: 'Telemedicine consultation with patient' },
};

/** One sandbox patient of a practice. */
export function sandboxPatient(sandbox: Sandbox, practiceId: string, patientId: number): SandboxPatient {
  const found = patientsOf(sandbox, practiceId).find((p) => p.patientId === patientId);
  if (!found) throw new Error(`no patient ${patientId} in practice ${practiceId}`);
  return found;
}

/** The Patient's FHIR id, as this server's Patient search by chart number reports it. */
export async function patientFhirId(fhirBase: string, patient: SandboxPatient): Promise<string> {
  const { body } = await fhirFetch<Bundle>(`${fhirBase}/Patient?identifier=${encodeURIComponent(patient.json.chartNumber)}`);
  const found = (body.entry ?? []).map((e) => e.resource as Patient).find((p) => p.identifier?.some((i) => i.value === String(patient.patientId)));
  if (!found?.id) throw new Error(`patient ${patient.patientId} not found by chart number`);
  return found.id;
}

/** `encounterLocked` as Nextech means it: a boolean or the strings "true"/"True"/"false". */
export const isLocked = (v: boolean | string): boolean => v === true || (typeof v === 'string' && v.toLowerCase() === 'true');

/** The status rule of issue 3 (mappings/encounter.map.yaml), written out independently. */
export function expectedStatus(s: NextechEncounterSummary, now: number): 'planned' | 'in-progress' | 'finished' {
  const start = Date.parse(s.encounterDate);
  if (isLocked(s.encounterLocked)) return 'finished';
  if (start > now) return 'planned';
  return now - start < DAY_MS ? 'in-progress' : 'finished';
}

/**
 * The FHIR ids of a patient's encounters (at most 50), by Nextech encounter id, as this
 * server's Encounter search reports them: ids are opaque, so tests find them by the
 * encounter's `identifier` and never build them.
 */
export async function encounterFhirIds(fhirBase: string, patientId: string): Promise<Map<number, string>> {
  const { body } = await fhirFetch<Bundle>(`${fhirBase}/Encounter?patient=${encodeURIComponent(patientId)}&_count=50`);
  const out = new Map<number, string>();
  for (const e of body.entry ?? []) {
    const r = e.resource as Encounter;
    const nextechId = r.identifier?.find((i) => i.system?.endsWith(':encounter-id'))?.value;
    if (nextechId !== undefined && r.id !== undefined) out.set(Number(nextechId), r.id);
  }
  return out;
}

/** The FHIR id of one encounter of a patient, found as encounterFhirIds finds it. */
export async function encounterFhirId(fhirBase: string, patientId: string, encounterId: number): Promise<string> {
  const id = (await encounterFhirIds(fhirBase, patientId)).get(encounterId);
  if (id === undefined) throw new Error(`encounter ${encounterId} not found by searching its patient`);
  return id;
}

/**
 * The whole Encounter issue 3 asks for, built by hand from the Nextech summary; the id is
 * opaque, so it is the one the caller found (encounterFhirIds).
 */
export function expectedEncounter(s: NextechEncounterSummary, practiceId: string, patientId: string, now: number, id: string): Encounter {
  const snomed = SNOMED_TYPES[s.type];
  const name = `${s.doctorFirstName} ${s.doctorLastName}`;
  return {
    resourceType: 'Encounter',
    id,
    meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter'] },
    identifier: [{ use: 'official', system: `urn:nextech:practice:${practiceId}:encounter-id`, value: String(s.encounterId) }],
    status: expectedStatus(s, now),
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    type: [{ ...(snomed ? { coding: [{ system: 'http://snomed.info/sct', ...snomed }] } : {}), text: s.type }],
    subject: { reference: `Patient/${patientId}` },
    participant: [
      {
        type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'ATND', display: 'attender' }] }],
        individual: {
          reference: expect.stringMatching(/^Practitioner\/[A-Za-z0-9._-]{1,64}$/) as string,
          type: 'Practitioner',
          identifier: { system: `urn:nextech:practice:${practiceId}:doctor-id`, value: String(s.doctorId) },
          display: s.doctorProfessionalDesignation ? `${name}, ${s.doctorProfessionalDesignation}` : name,
        },
      },
    ],
    period: { start: new Date(Date.parse(s.encounterDate)).toISOString() },
    location: [
      { location: { reference: expect.stringMatching(/^Location\/[A-Za-z0-9._-]{1,64}$/) as string, display: s.location } },
    ],
    ...(s.department
      ? {
          serviceProvider: {
            reference: expect.stringMatching(/^Organization\/[A-Za-z0-9._-]{1,64}$/) as string,
            display: s.department,
          },
        }
      : {}),
  };
}

/**
 * Whether a directory record's data fits an id, so a read makes no upstream call: ids hold
 * at most 32 bytes (64 characters, less the 16-byte tag): a form byte, then the UTF-8 name
 * after `prefix` more bytes (README: Practitioner, Location and Organization ids).
 */
export function directoryFits(name: string, prefix = 0): boolean {
  return 1 + prefix + Buffer.byteLength(name, 'utf8') <= 32;
}

/** The patient's encounters, newest first (the service's default order; the data has no ties). */
export const newestFirst = (p: SandboxPatient): SandboxEncounter[] => [...p.encounters].sort((a, b) => b.instant - a.instant);

/** Nextech encounter ids of the matches in a searchset, in bundle order. */
export function encounterIdsIn(bundle: Bundle): number[] {
  return (bundle.entry ?? [])
    .filter((e) => e.search?.mode === 'match')
    .map((e) => Number((e.resource as Encounter).identifier?.[0]?.value));
}

/** Upstream encounter searches (GET /{patientId}/encounters/search) recorded by the sandbox. */
export const encounterSearches = (sandbox: Sandbox): RecordedCall[] => sandbox.calls.filter((c) => /^\/ehr\/api\/\d+\/encounters\/search$/.test(c.path));

/** Upstream patient searches (GET /search?term=) recorded by the sandbox. */
export const patientSearches = (sandbox: Sandbox): RecordedCall[] => sandbox.calls.filter((c) => c.path === '/ehr/api/search');

export interface ClockedService {
  fhir: string;
  sandbox: Sandbox;
  close(): Promise<void>;
}

/**
 * The real service and a real sandbox that both believe it is `now`: the service's status
 * rule, and the sandbox's "an omitted `end` is the current date" (Nextech's documented
 * default), both read that clock. Managed credentials, as in production.
 */
export async function startServiceAt(now: number): Promise<ClockedService> {
  const upstream = await startSandbox({ port: 0, now: () => new Date(now) });
  const { refreshToken } = upstream.sandbox.issueTokens();
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    NEXTECH_BASE_URL: upstream.apiBaseUrl,
    NEXTECH_PRACTICE_ID: '1001',
    NEXTECH_TOKEN_URL: upstream.tokenUrl,
    NEXTECH_CLIENT_ID: SANDBOX_CLIENT_ID,
    NEXTECH_CLIENT_SECRET: SANDBOX_CLIENT_SECRET,
    NEXTECH_RESOURCE: SANDBOX_RESOURCE,
    NEXTECH_REFRESH_TOKEN: refreshToken,
    ANONYMOUS_ACCESS: 'true',
    RESOURCE_ID_KEY: TEST_RESOURCE_ID_KEY,
  });
  const running = await startService(config, { logger: createLogger('silent'), port: 0, now: () => now });
  return {
    fhir: `${running.origin}/fhir`,
    sandbox: upstream.sandbox,
    close: async () => {
      await running.close();
      await upstream.close();
    },
  };
}
