/**
 * Resource ids: opaque, integrity-protected, stable across restarts and replicas. Each id
 * seals (sealer.ts) what one upstream call needs to find its record again — for a patient
 * its Nextech patientId and a search term (patient-ids.ts), for an encounter or its CCD the
 * encounter id, its day and the patient's (encounter-ids.ts) — so the service keeps no
 * state and a read is one upstream call, while no id shows a chart number or a name.
 * Opening an id that is malformed, altered, of another kind or practice, or sealed under
 * another key gives undefined (never a throw): the caller answers 404 without calling
 * upstream. Built once per process from RESOURCE_ID_KEY.
 */
import { encounterPlaintext, readEncounterPlaintext, type DocumentKey, type EncounterContent, type EncounterKey } from './encounter-ids.ts';
import { locatePatient, patientPlaintext, readPatientPlaintext, type PatientLocator, type PatientRecord } from './patient-ids.ts';
import {
  anchorPlaintext,
  dataPlaintext,
  readDirectoryPlaintext,
  locationPlaintext,
  organizationPlaintext,
  practitionerPlaintext,
  readLocationPlaintext,
  readOrganizationPlaintext,
  readPractitionerPlaintext,
  type LocationKey,
  type OrganizationKey,
  type PractitionerKey,
} from './directory-ids.ts';
import { createIdSealer, type IdKind } from './sealer.ts';
import { ByteReader } from './varint.ts';

export type { DocumentKey, EncounterKey } from './encounter-ids.ts';
export type { PatientLocator, PatientRecord } from './patient-ids.ts';
export type { LocationKey, OrganizationKey, PractitionerKey } from './directory-ids.ts';
export { sectionKey } from './encounter-ids.ts';

/** An opened Encounter or DocumentReference id, with its Patient's id. */
export interface EncounterLocator extends EncounterContent {
  /** The Patient's FHIR id (the encounter's `subject`). */
  patientResourceId: string;
}

/** The ids of one practice: an id issued here opens only here. */
export interface PracticeIds {
  readonly practiceId: string;
  patient: {
    /** The id of a Nextech patient record (undefined without a usable patientId). */
    issue: (record: PatientRecord) => string | undefined;
    /** The id of a patient known by its locator. */
    idOf: (patient: PatientLocator) => string | undefined;
    open: (id: string) => PatientLocator | undefined;
  };
  encounter: {
    issue: (key: EncounterKey) => string | undefined;
    open: (id: string) => EncounterLocator | undefined;
  };
  /** DocumentReference ids, which are also the Binary ids of the same CCDs. */
  document: {
    issue: (key: DocumentKey) => string | undefined;
    open: (id: string) => EncounterLocator | undefined;
  };
  /** Directory ids (directory-ids.ts): the data itself, sealed, or the encounter that named it. */
  practitioner: DirectoryCodec<PractitionerKey>;
  location: DirectoryCodec<LocationKey>;
  organization: DirectoryCodec<OrganizationKey>;
}

/** What an opened directory id holds: the record's data, or the encounter (with its Patient's id) that named it. */
export type DirectoryLocator<K> = { data: K } | { anchor: EncounterLocator };

/** Issues and opens the ids of one kind of directory record. */
export interface DirectoryCodec<K> {
  /** The id holding the data; failing that (too long), the id naming `anchor`, when given. */
  issue: (key: K, anchor?: EncounterKey) => string | undefined;
  open: (id: string) => DirectoryLocator<K> | undefined;
}

/** The same codecs, taking the practice first (forPractice binds it). */
export interface ResourceIds {
  patient: {
    issue: (practiceId: string, record: PatientRecord) => string | undefined;
    idOf: (practiceId: string, patient: PatientLocator) => string | undefined;
    open: (practiceId: string, id: string) => PatientLocator | undefined;
  };
  encounter: {
    issue: (practiceId: string, key: EncounterKey) => string | undefined;
    open: (practiceId: string, id: string) => EncounterLocator | undefined;
  };
  document: {
    issue: (practiceId: string, key: DocumentKey) => string | undefined;
    open: (practiceId: string, id: string) => EncounterLocator | undefined;
  };
  forPractice: (practiceId: string) => PracticeIds;
}

/** Practices whose bound codecs are kept at once. */
const MAX_PRACTICES = 1_000;

/** The id codecs keyed by `secret` (RESOURCE_ID_KEY): same key, same ids. */
export function createResourceIds(secret: string): ResourceIds {
  const sealer = createIdSealer(secret);
  const seal = (kind: IdKind, practiceId: string, plaintext: number[] | undefined) =>
    plaintext === undefined ? undefined : sealer.seal(kind, practiceId, Uint8Array.from(plaintext));

  const patientIdOf = (practiceId: string, patient: PatientLocator) => seal('Patient', practiceId, patientPlaintext(patient));
  const patient: ResourceIds['patient'] = {
    issue: (practiceId, record) => {
      const loc = locatePatient(record);
      return loc && patientIdOf(practiceId, loc);
    },
    idOf: patientIdOf,
    open: (practiceId, id) => {
      const bytes = sealer.open('Patient', practiceId, id);
      return bytes && readPatientPlaintext(new ByteReader(bytes));
    },
  };

  const openEncounter = (kind: IdKind, practiceId: string, id: string): EncounterLocator | undefined => {
    const bytes = sealer.open(kind, practiceId, id);
    const content = bytes && readEncounterPlaintext(bytes);
    const patientResourceId = content && patientIdOf(practiceId, content.patient);
    return content && patientResourceId !== undefined ? { ...content, patientResourceId } : undefined;
  };
  const encounter: ResourceIds['encounter'] = {
    issue: (practiceId, key) => seal('Encounter', practiceId, encounterPlaintext({ ...key, section: undefined })),
    // An Encounter has no sections: only documents carry a section key.
    open: (practiceId, id) => {
      const loc = openEncounter('Encounter', practiceId, id);
      return loc?.sectionKey === undefined ? loc : undefined;
    },
  };
  const document: ResourceIds['document'] = {
    issue: (practiceId, key) => seal('DocumentReference', practiceId, encounterPlaintext(key)),
    open: (practiceId, id) => openEncounter('DocumentReference', practiceId, id),
  };

  const directory =
    <K>(kind: IdKind, write: (k: K) => number[] | undefined, read: (b: Uint8Array) => K | undefined) =>
    (practiceId: string): DirectoryCodec<K> => ({
      issue: (key, anchor) =>
        seal(kind, practiceId, dataPlaintext(write, key)) ?? (anchor && seal(kind, practiceId, anchorPlaintext(anchor))),
      open: (id): DirectoryLocator<K> | undefined => {
        const bytes = sealer.open(kind, practiceId, id);
        const content = bytes && readDirectoryPlaintext(read, bytes);
        if (!content || 'data' in content) return content;
        const patientResourceId = patientIdOf(practiceId, content.anchor.patient);
        return patientResourceId === undefined ? undefined : { anchor: { ...content.anchor, patientResourceId } };
      },
    });
  const practitioner = directory('Practitioner', practitionerPlaintext, readPractitionerPlaintext);
  const location = directory('Location', locationPlaintext, readLocationPlaintext);
  const organization = directory('Organization', organizationPlaintext, readOrganizationPlaintext);

  const byPractice = new Map<string, PracticeIds>();
  return {
    patient,
    encounter,
    document,
    forPractice: (practiceId) => {
      // One set of codecs per practice, reused by every request (bounded: practices are few).
      let bound = byPractice.get(practiceId);
      if (!bound) {
        if (byPractice.size >= MAX_PRACTICES) byPractice.delete(byPractice.keys().next().value ?? '');
        bound = {
          practiceId,
          patient: {
            issue: (record) => patient.issue(practiceId, record),
            idOf: (loc) => patient.idOf(practiceId, loc),
            open: (id) => patient.open(practiceId, id),
          },
          encounter: { issue: (key) => encounter.issue(practiceId, key), open: (id) => encounter.open(practiceId, id) },
          document: { issue: (key) => document.issue(practiceId, key), open: (id) => document.open(practiceId, id) },
          practitioner: practitioner(practiceId),
          location: location(practiceId),
          organization: organization(practiceId),
        };
        byPractice.set(practiceId, bound);
      }
      return bound;
    },
  };
}
