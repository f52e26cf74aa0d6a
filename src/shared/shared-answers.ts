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
 */
import { createHmac, hkdfSync } from 'node:crypto';
import type { z } from 'zod';
import type { Sealer } from '../auth/smart/sealer.ts';
import type { SharedStore } from './store.ts';

/** Answers larger than this (sealed JSON) stay local: Redis holds many small ones, not a few huge. */
export const MAX_SHARED_ANSWER_BYTES = 8 * 1024 * 1024;

export interface SharedAnswers {
  get<T>(kind: string, key: string, schema: z.ZodType<T>): Promise<T | undefined>;
  /** Shares an answer for `ttlMs` (fire and forget). */
  put(kind: string, key: string, value: unknown, ttlMs: number): void;
}

export function sharedAnswers(store: SharedStore, sealer: Sealer, keyring: string): SharedAnswers {
  // Keyed hashes: without the key, a hash of a guessed chart number cannot be matched either.
  // The HMAC key is derived from the secret (not the secret itself, which also keys the sealer).
  const hmacKey = Buffer.from(hkdfSync('sha256', keyring, Buffer.alloc(0), 'nextech-fhir-facade shared answer names v1', 32));
  const name = (kind: string, key: string) => `answer:${kind}:${createHmac('sha256', hmacKey).update(key).digest('base64url')}`;
  return {
    async get(kind, key, schema) {
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
    put(kind, key, value, ttlMs) {
      const seconds = Math.ceil(ttlMs / 1000);
      if (seconds <= 0) return;
      let sealed: string;
      try {
        sealed = sealer.seal('shared', { k: name(kind, key), v: value }, seconds);
      } catch {
        return;
      }
      if (sealed.length > MAX_SHARED_ANSWER_BYTES) return;
      store.set(name(kind, key), sealed, ttlMs).catch(() => undefined);
    },
  };
}
