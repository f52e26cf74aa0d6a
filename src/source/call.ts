/**
 * What every call to an EHR carries: the practice, the credential to present, the caller it
 * is made for, the caller's abort signal, and the request's room in the document memory
 * budget. The resources build one per request; the source passes it down to the wire.
 */
import type { UpstreamError } from './errors.ts';
import type { Reservation } from './memory-budget.ts';

/**
 * The credential an upstream call presents: the service's own managed token, or a bearer
 * token — issued to us by the EHR for a signed-in user (`vouched`), or passed through as the
 * caller sent it (not vouched until the EHR has accepted it once).
 */
export type UpstreamCredential = { kind: 'managed' } | { kind: 'bearer'; token: string; vouched: boolean };

/**
 * The service's own upstream token (managed mode), which `{ kind: 'managed' }` calls present:
 * auth/managed-token.ts keeps it, the adapter asks it.
 */
export interface ManagedCredentials {
  token(): Promise<string>;
  /**
   * Called after an upstream 401; resolves true if a retry with a new token makes sense,
   * false to pass the 401 on, or rejects with the error the caller should see instead.
   */
  rejected(token: string): Promise<boolean>;
  /** The error to answer when a retried call is refused again. */
  unauthorizedError(): UpstreamError;
}

/** A request's reservation in the document memory budget, and what it takes per body byte. */
export interface RequestRoom {
  reservation: Reservation;
  /**
   * Bytes held per body byte: the body and the values parsed from it (the JSON text, then
   * its strings at up to two bytes a character) and, for requests that build documents, the
   * response made from them. At least 1.
   */
  perByte: number;
}

/** Who is calling, for which practice, with which credential; every upstream call carries all three. */
export interface CallContext {
  practiceId: string;
  credential: UpstreamCredential;
  /** The caller's identity from the door it came through: coalescing and caches key by it (never a token). */
  callerKey: string;
  /**
   * Where the request comes from (its peer address, or the client a trusted proxy named): a
   * passed-through token Nextech has not accepted yet queues for the shared share of such
   * tokens by this, not by the token it made up. Absent for the service's own work.
   */
  source?: string;
  /** Aborts the upstream call when the client goes away. */
  signal?: AbortSignal;
  /**
   * The request's room in the document memory budget: an encounter listing read for it
   * counts there (per body byte, what the request will make of it) until its response has
   * been written, rather than only until parsed.
   */
  room?: () => RequestRoom | undefined;
  /**
   * Waits, before each upstream attempt, until this caller may spend one more call: a bulk
   * export job's pacer, which keeps it within its share of the Nextech budget.
   */
  pace?: (signal?: AbortSignal) => Promise<void>;
  /**
   * Answers read for this caller stay in this process: never looked up in nor written to the
   * answers the replicas share. A bulk export job's are asked for by no other caller, so
   * sharing them would only spend the shared store's quota (and Redis memory) on nothing.
   */
  unshared?: true;
}
