/**
 * The Nextech adapter: the EhrSource the resources use, over the Nextech client (the wire),
 * the encounter listing store (one upstream call per patient, window and section, shared
 * and briefly reused) and the section list cache.
 */
import type { CallContext } from '../call.ts';
import type { EhrSource, EncounterListing, EncounterWindow, PatientKey, SourcePatient } from '../ehr-source.ts';
import type { MemoryBudget } from '../memory-budget.ts';
import { CategoryCache } from './category-cache.ts';
import { NextechClient, type NextechClientOptions } from './client.ts';
import { EncounterStore } from './encounter-store.ts';
import { PatientCache } from './patient-cache.ts';
import type { SharedAnswers } from '../../shared/shared-answers.ts';

export interface NextechSourceOptions {
  client: NextechClientOptions;
  caches: {
    /** How long an encounter listing may be reused (0: never across requests). */
    encounterTtlMs: number;
    /** CCD bytes the listing store may hold (within the document memory budget). */
    encounterMaxBytes: number;
    /** How long a practice's section list is reused. */
    categoryTtlMs: number;
    /** How long a caller's patient search is reused. */
    patientTtlMs: number;
  };
  /** The document memory budget the listings count against. */
  memory?: MemoryBudget;
  /** Each reuse of a listing, for metrics. */
  onReuse?: () => void;
  /** Each reuse of a patient search, for metrics. */
  onPatientReuse?: () => void;
  now: () => number;
  /** Listings and patient searches shared with the other replicas (REDIS_URL). */
  shared?: SharedAnswers;
}

export class NextechSource implements EhrSource {
  readonly client: NextechClient;
  readonly listings: EncounterStore;
  readonly #categories: CategoryCache;
  readonly patients: PatientCache;

  constructor(opts: NextechSourceOptions) {
    this.client = new NextechClient({ ...opts.client, ...(opts.memory ? { memory: opts.memory } : {}) });
    this.listings = new EncounterStore(this.client, {
      ttlMs: opts.caches.encounterTtlMs,
      maxBytes: opts.caches.encounterMaxBytes,
      now: opts.now,
      ...(opts.memory ? { memory: opts.memory } : {}),
      ...(opts.onReuse ? { onReuse: opts.onReuse } : {}),
      ...(opts.shared ? { shared: opts.shared } : {}),
    });
    this.#categories = new CategoryCache(this.client, opts.caches.categoryTtlMs, opts.now);
    this.patients = new PatientCache(this.client, opts.caches.patientTtlMs, opts.now, opts.onPatientReuse, opts.shared);
  }

  findPatients(call: CallContext, term: string): Promise<SourcePatient[]> {
    return this.patients.get(call, term);
  }

  async patientByKey(call: CallContext, key: PatientKey): Promise<SourcePatient | undefined> {
    return (await this.findPatients(call, key.term)).find((r) => r.patientId === key.patientId);
  }

  encounters(call: CallContext, patientId: number, window: EncounterWindow, section?: string): Promise<EncounterListing> {
    return this.listings.get(call, call.callerKey, patientId, { ...window, ...(section === undefined ? {} : { section }) });
  }

  sections(call: CallContext): Promise<string[]> {
    return this.#categories.get(call, call.callerKey);
  }

  unavailable(): string | undefined {
    return this.client.breakers.allOpen() ? 'nextech-unavailable: every circuit to the Nextech API is open' : undefined;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
