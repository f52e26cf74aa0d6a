/**
 * The overhead scenarios as data: which FHIR request, at how many connections, over how slow
 * an upstream, which figure the target judges and what the target is. The proxy's
 * side of each is not written here: the bench records the Nextech calls the facade makes for
 * the request and has the proxy make exactly those (overhead.ts).
 */
import type { Role } from './fixtures.ts';

/** FHIR ids of the bench patients, as the facade issued them. */
export type PatientIds = Readonly<Record<Role, string>>;

export interface ScenarioInput {
  ids: PatientIds;
  /** The surname six patients share. */
  sixFamily: string;
}

export type Figure = 'reqPerSec' | 'bytesPerSec' | 'addedP50';

export interface OverheadScenario {
  name: string;
  title: string;
  /** `throughput`: autocannon at `connections`; `latency`: one request at a time. */
  kind: 'throughput' | 'latency';
  connections: number;
  /** Added to every upstream answer, ms. */
  upstreamLatencyMs: number;
  /** The FHIR request, relative to the practice's FHIR base. */
  fhirPath(input: ScenarioInput): string;
  /** The same request with patient ids left as placeholders, for the report. */
  shownAs: string;
  figure: Figure;
  /**
   * The targets (issue 19): a least ratio of the figure to the proxy's, a most added
   * p50 (ms), a most ratio of the facade's CPU per request to the hand-written facade's.
   */
  target?: { minRatio?: number; maxAddedP50Ms?: number; maxCpuRatioToHandwritten?: number };
  /** Also measure a client that accepts gzip against one that accepts nothing: bytes saved, CPU spent (compression.ts). */
  compression?: boolean;
  /** Also read the facade's peak resident memory over its rounds, against this ceiling (MB) if given. */
  peakRss?: { maxMb?: number };
  /**
   * Rounds of a fixed number of requests instead of a fixed time: this many per connection
   * (scaled down in a quick run), every one answered. For answers that take seconds, which a
   * timed round would mostly cut off.
   */
  perConnection?: number;
}

export const OVERHEAD_SCENARIOS: readonly OverheadScenario[] = [
  {
    name: 'patient-search',
    title: 'Patient search, 6 hits',
    compression: true,
    kind: 'throughput',
    connections: 32,
    upstreamLatencyMs: 0,
    fhirPath: (i) => `Patient?family=${encodeURIComponent(i.sixFamily)}`,
    shownAs: 'Patient?family=Quillfeather',
    figure: 'reqPerSec',
    target: { minRatio: 0.7, maxCpuRatioToHandwritten: 2 },
  },
  {
    name: 'encounter-search',
    title: 'Encounter search, 45 upstream encounters → page of 10',
    kind: 'throughput',
    connections: 32,
    upstreamLatencyMs: 0,
    fhirPath: (i) => `Encounter?patient=${i.ids.fortyFive}&_count=10`,
    shownAs: 'Encounter?patient={45-encounter patient}&_count=10',
    figure: 'reqPerSec',
    target: { minRatio: 0.5 },
  },
  {
    name: 'docref-3x3mb',
    title: 'DocumentReference search, 3 × 3 MB CCDs at c=4',
    kind: 'throughput',
    connections: 4,
    upstreamLatencyMs: 0,
    fhirPath: (i) => `DocumentReference?patient=${i.ids.threeBy3Mb}`,
    shownAs: 'DocumentReference?patient={3 × 3 MB patient}',
    figure: 'bytesPerSec',
    target: { minRatio: 0.6 },
    peakRss: { maxMb: 300 },
    perConnection: 3,
  },
  {
    name: 'added-p50',
    title: 'Added p50 at c=1 over a 20 ms upstream (Patient search)',
    kind: 'latency',
    connections: 1,
    upstreamLatencyMs: 20,
    fhirPath: (i) => `Patient?family=${encodeURIComponent(i.sixFamily)}`,
    shownAs: 'Patient?family=Quillfeather',
    figure: 'addedP50',
    target: { maxAddedP50Ms: 1 },
  },
  {
    name: 'patient-read',
    title: 'Patient read',
    kind: 'throughput',
    connections: 32,
    upstreamLatencyMs: 0,
    fhirPath: (i) => `Patient/${i.ids.fortyFive}`,
    shownAs: 'Patient/{id}',
    figure: 'reqPerSec',
  },
  {
    name: 'docref-10x1mb',
    title: 'DocumentReference search, 10 × 1 MB CCDs at c=8',
    compression: true,
    kind: 'throughput',
    connections: 8,
    upstreamLatencyMs: 0,
    fhirPath: (i) => `DocumentReference?patient=${i.ids.tenBy1Mb}`,
    shownAs: 'DocumentReference?patient={10 × 1 MB patient}',
    figure: 'bytesPerSec',
    target: { minRatio: 0.7 },
    peakRss: { maxMb: 400 },
    perConnection: 2,
  },
];

/** The economy scenarios, run on a service with listing reuse on (economy.ts). */
export const ECONOMY_SCENARIOS = ['paging', 'duplicates', 'app-session'] as const;
export type EconomyScenario = (typeof ECONOMY_SCENARIOS)[number];

export const ALL_SCENARIO_NAMES: readonly string[] = [...OVERHEAD_SCENARIOS.map((s) => s.name), ...ECONOMY_SCENARIOS];
