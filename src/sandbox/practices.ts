/**
 * The two sandbox practices as static data: ids, names, clinicians, departments and
 * sites. Everything here is fictional; ids are fixed so tests and `npm start` can name
 * them without looking anything up.
 */
import type { SandboxDoctor, SandboxSpecialty } from './types.ts';

/** What the data generator needs to know about one practice. */
export interface PracticeSpec {
  practiceId: string;
  name: string;
  specialty: SandboxSpecialty;
  patientCount: number;
  /** patientIds are patientIdBase + 1 ... patientIdBase + patientCount. */
  patientIdBase: number;
  /** encounterIds are encounterIdBase + 1, + 2, ... in patient then date order. */
  encounterIdBase: number;
  /** Letters that may prefix a chart number (`A10023`); otherwise it is all digits. */
  chartPrefixes: readonly string[];
  departments: readonly string[];
  locations: readonly string[];
  doctors: readonly SandboxDoctor[];
}

const doctor = (
  doctorId: number,
  firstName: string,
  lastName: string,
  professionalDesignation: string | null,
): SandboxDoctor => ({ doctorId, firstName, lastName, professionalDesignation });

/** Both practices, in practice-id order. */
export const PRACTICE_SPECS: readonly PracticeSpec[] = [
  {
    practiceId: '1001',
    name: 'Lakeside Eye Associates',
    specialty: 'ophthalmology',
    patientCount: 240,
    patientIdBase: 10000,
    encounterIdBase: 1_000_000,
    chartPrefixes: ['A', 'E'],
    departments: ['Comprehensive Ophthalmology', 'Retina', 'Glaucoma', 'Cornea', 'Optometry'],
    locations: ['Lakeside Eye Associates – Main Street', 'Lakeside Eye Associates – Northgate'],
    doctors: [
      doctor(501, 'Amelia', 'Hartwell', 'MD'),
      doctor(502, 'Rahul', 'Desai', 'MD'),
      doctor(503, 'Karen', 'Whitfield', 'OD'),
      doctor(504, 'Tomás', 'Ibarra', 'DO'),
      doctor(505, 'Jordan', 'Blakely', 'PA-C'),
      doctor(506, 'Lena', 'Okonkwo', null),
    ],
  },
  {
    practiceId: '1002',
    name: 'Bayview Dermatology & Plastic Surgery',
    specialty: 'dermatology',
    patientCount: 210,
    patientIdBase: 20000,
    encounterIdBase: 2_000_000,
    chartPrefixes: ['D', 'P'],
    departments: ['Medical Dermatology', 'Mohs Surgery', 'Cosmetic Dermatology', 'Plastic Surgery'],
    locations: ['Bayview Skin Center', 'Bayview Surgery Center'],
    doctors: [
      doctor(601, 'Priya', 'Raman', 'MD'),
      doctor(602, 'Marcus', 'Feldmann', 'MD'),
      doctor(603, 'Hélène', 'Girard', 'DO'),
      doctor(604, 'Casey', 'Moreland', 'PA-C'),
      doctor(605, 'Samuel', 'Whitacre', null),
    ],
  },
];

/** The practice ids the sandbox serves (values of `x-nextech-practice-id`). */
export const SANDBOX_PRACTICE_IDS: readonly string[] = PRACTICE_SPECS.map((p) => p.practiceId);
