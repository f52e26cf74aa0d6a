/**
 * Upstream answers the replicas share through Redis: encounter listings (with their CCDs)
 * and patient searches, so a `next` link, a `_revinclude` or a patient check that lands on
 * another replica is answered without asking Nextech again.
 *
 * This is patient data at rest, so: every value is sealed (AES-256-GCM under
 * SHARED_STATE_KEY) and expires with the local cache's TTL; keys are hashes (the key names
 * a practice, a caller and a search term — a chart number is a medical record number), so
 * nothing readable about a patient or a caller is in Redis; a value read back is checked
 * against the same schema as Nextech's own answer before use; values over a size cap are not
 * shared. Reads and writes never fail a request: an unavailable Redis is a miss.
 *
 * Quotas: what Redis holds of one caller's answers (the caller whose answers they are: a SMART
 * sign-in, a Backend Services client, a passthrough token, the anonymous door) is bounded
 * (SHARED_ANSWERS_MB_PER_CALLER), and so is what it holds of all answers (SHARED_ANSWERS_MB),
 * counted in Redis in one atomic step with the write, so the bounds hold across replicas. An
 * answer over a bound is simply not shared — the request that read it is answered as ever —
 * so one credential, or a few, cannot fill a `noeviction` Redis and refuse the small writes
 * (codes, sign-ins) every replica needs there.
 */
import type { z } from 'zod';
import type { Sealer } from '../auth/smart/sealer.ts';
import { keyedNames } from '../crypto/keys.ts';
import type { AnswerTier } from './store.ts';

/** Answers larger than this (sealed JSON) stay local: Redis holds many small ones, not a few huge. */
export const MAX_SHARED_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * What an answer weighs besides its sealed text: its key, and its entries in two ledgers (each a
 * sorted-set and a hash member naming it), so that many small answers count what they cost.
 */
export const ANSWER_OVERHEAD_BYTES = 1024;

/** The bytes of shared answers Redis may hold (SHARED_ANSWERS_MB_PER_CALLER, SHARED_ANSWERS_MB). */
export interface AnswerLimits {
  perCallerBytes: number;
  totalBytes: number;
}

export interface SharedAnswers {
  get<T>(kind: string, key: string, schema: z.ZodType<T>): Promise<T | undefined>;
  /** Shares `caller`'s answer for `ttlMs` if it fits the quotas (fire and forget). */
  put(kind: string, key: string, value: unknown, ttlMs: number, caller: string): void;
}

/**
 * `available` says whether Redis is answering now (the shared store is not degraded): while it
 * is not, answers are neither looked up nor written, so no request waits out the answers
 * connection's timeout on a paused or unreachable Redis before asking Nextech.
 */
export function sharedAnswers(store: AnswerTier, sealer: Sealer, keyring: string, limits: AnswerLimits, available: () => boolean = () => true): SharedAnswers {
  // Keyed hashes: without the key, a hash of a guessed chart number cannot be matched either.
  // The HMAC key is derived from the secret (not the secret itself, which also keys the sealer).
  const hash = keyedNames(keyring, 'nextech-fhir-facade shared answer names v1');
  const name = (kind: string, key: string) => `answer:${kind}:${hash(key)}`;
  // Its own domain, so a caller's ledger name is never an answer's.
  const ledgerOf = (caller: string) => hash(JSON.stringify(['ledger', caller]));
  return {
    async get(kind, key, schema) {
      if (!available()) return undefined;
      try {
        const sealed = await store.get(name(kind, key));
        const opened = sealed === undefined ? undefined : sealer.open<{ k?: unknown; v?: unknown }>('shared', sealed);
        // Sealed with its own name: an answer moved under another key (another patient's) does not open as that one.
        const parsed = opened === undefined || opened.k !== name(kind, key) ? undefined : schema.safeParse(opened.v);
        return parsed?.success ? parsed.data : undefined;
      } catch {
        return undefined;
      }
    },
    put(kind, key, value, ttlMs, caller) {
      const seconds = Math.ceil(ttlMs / 1000);
      if (seconds <= 0 || !available()) return;
      let sealed: string;
      try {
        sealed = sealer.seal('shared', { k: name(kind, key), v: value }, seconds);
      } catch {
        return;
      }
      if (sealed.length > MAX_SHARED_ANSWER_BYTES) return;
      const quota = { ledger: ledgerOf(caller), weight: sealed.length + ANSWER_OVERHEAD_BYTES, ledgerMax: limits.perCallerBytes, totalMax: limits.totalBytes };
      store.keepWithin(name(kind, key), sealed, ttlMs, quota).catch(() => undefined);
    },
  };
}
