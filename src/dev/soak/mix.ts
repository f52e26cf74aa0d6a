/**
 * What the soak asks for: a weighted mix of request kinds over a pool of the sandbox's
 * patients, each request with its own date window so the service cannot answer it all from
 * one cached listing. Healthy kinds must answer 200; `fault` asks for patients whose
 * encounter searches the sandbox breaks on purpose, which may fail (5xx) but must not make
 * anyone else's requests fail.
 */
import type { Fault, SandboxData, SandboxPatient } from '../../sandbox/index.ts';

export const KINDS = ['patient-search', 'patient-read', 'encounter-search', 'docref-search', 'large-ccd', 'fault'] as const;
export type Kind = (typeof KINDS)[number];

/** Share of each kind in the mix (sums to 100): about 5% for the fault patients. */
export const WEIGHTS: Readonly<Record<Kind, number>> = {
  'patient-search': 20,
  'patient-read': 20,
  'encounter-search': 25,
  'docref-search': 20,
  'large-ccd': 10,
  fault: 5,
};

/** What each fault patient's encounter search meets, one patient per way of failing. */
export const PATIENT_FAULTS: readonly Fault[] = [
  { kind: 'status', status: 500 },
  { kind: 'status', status: 503 },
  { kind: 'malformed-json' },
  { kind: 'schema-break' },
  { kind: 'truncate' },
  { kind: 'reset' },
];

/** A patient the soak uses: its practice, Nextech id, FHIR id (once resolved) and what to search it by. */
export interface PoolPatient {
  practiceId: string;
  patientId: number;
  chartNumber: string;
  family: string;
  /** Its first encounter (the >1 MB CCD of the large-ccd patient), epoch ms. */
  firstEncounter: number;
  fhirId?: string;
}

export interface Pool {
  healthy: PoolPatient[];
  faulty: PoolPatient[];
  large: PoolPatient;
}

/** A small seeded random source (mulberry32), so a run's requests repeat from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const poolPatient = (practiceId: string, p: SandboxPatient): PoolPatient => ({
  practiceId,
  patientId: p.patientId,
  chartNumber: p.json.chartNumber,
  family: p.json.lastName,
  firstEncounter: p.encounters[0]?.instant ?? 0,
});

/**
 * Patients with encounters from both practices (plain generated ones, not edge cases),
 * the first few of practice 1001 set aside as fault patients, and the large-ccd patient.
 */
export function choosePool(data: SandboxData, largeCcdPatientId: number, perPractice = 24): Pool {
  const healthy: PoolPatient[] = [];
  const faulty: PoolPatient[] = [];
  let large: PoolPatient | undefined;
  for (const practice of data.practices) {
    const plain = practice.patients.filter((p) => p.encounters.length >= 2 && /^[A-Za-z]+$/.test(p.json.lastName) && p.json.chartNumber !== '');
    const wanted = practice.practiceId === '1001' ? PATIENT_FAULTS.length : 0;
    // Spread over the practice rather than its first rows.
    const step = Math.max(1, Math.floor(plain.length / (perPractice + wanted)));
    const chosen = plain.filter((_, i) => i % step === 0).slice(0, perPractice + wanted);
    faulty.push(...chosen.slice(0, wanted).map((p) => poolPatient(practice.practiceId, p)));
    healthy.push(...chosen.slice(wanted).map((p) => poolPatient(practice.practiceId, p)));
    const big = practice.patients.find((p) => p.patientId === largeCcdPatientId);
    if (big) large = poolPatient(practice.practiceId, big);
  }
  if (!large) throw new Error('the large-ccd patient is not in the sandbox data');
  return { healthy, faulty, large };
}

export interface PlannedRequest {
  kind: Kind;
  practiceId: string;
  /** Path and query under the practice's FHIR base, e.g. `Encounter?patient=…`. */
  path: string;
}

const DAY = 86_400_000;
const FIRST = Date.UTC(2016, 0, 1);
const LAST = Date.UTC(2026, 11, 31);
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** Draws the next request of the mix. */
export function planner(pool: Pool, random: () => number): () => PlannedRequest {
  const total = KINDS.reduce((n, k) => n + WEIGHTS[k], 0);
  const pick = <T>(items: readonly T[]): T => {
    const item = items[Math.floor(random() * items.length)];
    if (item === undefined) throw new Error('empty pool');
    return item;
  };
  const between = (from: number, to: number): number => from + Math.floor((random() * (to - from)) / DAY) * DAY;
  /** A window of one to four years somewhere in 2016–2026. */
  const window = (): string => {
    const start = between(FIRST, LAST - 365 * DAY);
    const end = Math.min(LAST, start + 365 * DAY * (1 + Math.floor(random() * 4)) - DAY);
    return `date=ge${day(start)}&date=le${day(end)}`;
  };
  const id = (p: PoolPatient): string => encodeURIComponent(p.fhirId ?? '');
  return () => {
    let roll = random() * total;
    const kind = KINDS.find((k) => (roll -= WEIGHTS[k]) < 0) ?? 'patient-read';
    const p = pick(pool.healthy);
    switch (kind) {
      case 'patient-search':
        return { kind, practiceId: p.practiceId, path: `Patient?family=${encodeURIComponent(p.family.slice(0, 3))}` };
      case 'patient-read':
        return { kind, practiceId: p.practiceId, path: `Patient/${id(p)}` };
      case 'encounter-search': {
        const revinclude = random() < 0.2 ? '&_revinclude=DocumentReference:encounter' : '';
        return { kind, practiceId: p.practiceId, path: `Encounter?patient=${id(p)}&${window()}${revinclude}` };
      }
      case 'docref-search': {
        const summary = random() < 0.3 ? '&_summary=true' : '';
        return { kind, practiceId: p.practiceId, path: `DocumentReference?patient=${id(p)}&${window()}${summary}` };
      }
      case 'large-ccd': {
        // Always around the first encounter (the multi-MB CCD), each time over another range.
        const big = pool.large;
        const start = between(FIRST, big.firstEncounter - DAY);
        const end = between(big.firstEncounter + DAY, LAST);
        return { kind, practiceId: big.practiceId, path: `DocumentReference?patient=${id(big)}&date=ge${day(start)}&date=le${day(end)}` };
      }
      case 'fault': {
        const f = pick(pool.faulty);
        return { kind, practiceId: f.practiceId, path: `Encounter?patient=${id(f)}&${window()}` };
      }
    }
  };
}
