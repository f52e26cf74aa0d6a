/**
 * What the resources need from an EHR, as one interface: patients found by a search term,
 * a patient by the locator its id carries, a patient's encounters (each with its CCD) over
 * a window and optionally one section, and the list of sections. Resource modules use only
 * this; the Nextech adapter (nextech/source.ts) implements it with the client, the listing
 * store and the section cache.
 *
 * Records are the upstream's own shapes (for Nextech, its JSON parsed by nextech/schemas.ts):
 * mappings/ turn them into FHIR, and are validated against the same schemas at start-up.
 */
import type { CallContext } from './call.ts';
import type { EhrEncounter, EhrPatient } from './nextech/schemas.ts';

export type SourcePatient = EhrPatient;
export type SourceEncounter = EhrEncounter;
/** The schemas of those records, which the mappings are checked against at start-up (mapping/load.ts). */
export { EhrEncounterSchema as SourceEncounterSchema, EhrPatientSchema as SourcePatientSchema } from './nextech/schemas.ts';

/** What a patient id carries to find the patient again: the upstream number and the term that finds it. */
export interface PatientKey {
  patientId: number;
  term: string;
}

/** A window of encounter instants: ISO instants, both inclusive; absent = open on that side. */
export interface EncounterWindow {
  start?: string;
  end?: string;
}

/** A patient's encounters for a window, and whether this call read them (counted in its room) or reused them. */
export interface EncounterListing {
  rows: SourceEncounter[];
  read: boolean;
}

export interface EhrSource {
  /** Patients whose name or chart number match `term`. */
  findPatients(call: CallContext, term: string): Promise<SourcePatient[]>;
  /** The patient a key names, or undefined when its term no longer finds it. */
  patientByKey(call: CallContext, key: PatientKey): Promise<SourcePatient | undefined>;
  /** A patient's encounters, each with its CCD (or only `section` of it), over `window`. */
  encounters(call: CallContext, patientId: number, window: EncounterWindow, section?: string): Promise<EncounterListing>;
  /** The CCD section names a document may be narrowed to. */
  sections(call: CallContext): Promise<string[]>;
  /** Why the source cannot serve right now (readiness), if it cannot. */
  unavailable(): string | undefined;
  close(): Promise<void>;
}
