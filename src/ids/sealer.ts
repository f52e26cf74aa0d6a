/**
 * Seals id plaintexts into opaque ids with deterministic authenticated encryption: AES-SIV
 * (RFC 5297, https://www.rfc-editor.org/rfc/rfc5297) from @noble/ciphers, with a 512-bit key
 * derived from RESOURCE_ID_KEY by HKDF-SHA-256. Deterministic, so the same record gets the
 * same id on every replica and after every restart (no state); authenticated, so an id
 * nobody holding the key made — one character changed, cut short, extended — opens as
 * nothing. The associated data binds the resource kind and the practice: an id of one kind
 * or practice never opens as another.
 */
import { deriveKey } from '../crypto/keys.ts';
import { aessiv } from '@noble/ciphers/aes.js';
import { bytesToId, idToBytes, MAX_ID_LENGTH } from './id-text.ts';

export type IdKind = 'Patient' | 'Encounter' | 'DocumentReference' | 'Practitioner' | 'Location' | 'Organization';

/** The synthetic IV (the tag) AES-SIV puts before the ciphertext. */
const TAG_BYTES = 16;
/** Plaintexts fit 64 id characters: 48 bytes, less the tag. */
export const MAX_PLAINTEXT_BYTES = (MAX_ID_LENGTH / 4) * 3 - TAG_BYTES;

/** Sealed ids remembered at most (each well under 200 bytes). */
const MAX_REMEMBERED = 20_000;

// Public, fixed labels naming what the derived key is for (RFC 5869 §3.1, §3.2); changing
// either changes every id, so the purpose stays in the salt as it was (crypto/keys.ts).
const HKDF_SALT = 'nextech-fhir-facade resource ids';
const HKDF_INFO = 'AEAD_AES_SIV_CMAC_512 key v1';

export interface IdSealer {
  /** The id of a plaintext; undefined when it is longer than MAX_PLAINTEXT_BYTES. */
  seal(kind: IdKind, practiceId: string, plaintext: Uint8Array): string | undefined;
  /** The plaintext of an id sealed for this kind and practice with this key; else undefined. */
  open(kind: IdKind, practiceId: string, id: string): Uint8Array | undefined;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

export function createIdSealer(secret: string): IdSealer {
  const key = new Uint8Array(deriveKey(secret, HKDF_INFO, { legacySalt: HKDF_SALT, bytes: 64 }));
  // Kind and practice are two separate S2V components, so no pair can pass for another.
  const cipher = (kind: IdKind, practiceId: string) => aessiv(key, utf8(kind), utf8(practiceId));
  // Deterministic, so an id once sealed is remembered: a response names the same patients,
  // doctors and locations over and over, and AES-SIV is most of the cost of writing one.
  const sealed = new Map<string, string>();
  return {
    seal(kind, practiceId, plaintext) {
      if (plaintext.length === 0 || plaintext.length > MAX_PLAINTEXT_BYTES) return undefined;
      const memo = `${kind}\u0000${practiceId}\u0000${Buffer.from(plaintext).toString('latin1')}`;
      const known = sealed.get(memo);
      if (known !== undefined) return known;
      const id = bytesToId(cipher(kind, practiceId).encrypt(plaintext));
      // Bounded: the oldest remembered id goes first.
      if (sealed.size >= MAX_REMEMBERED) sealed.delete(sealed.keys().next().value ?? '');
      sealed.set(memo, id);
      return id;
    },
    open(kind, practiceId, id) {
      const bytes = idToBytes(id);
      if (!bytes || bytes.length <= TAG_BYTES || bytes.length > TAG_BYTES + MAX_PLAINTEXT_BYTES) return undefined;
      try {
        return cipher(kind, practiceId).decrypt(bytes);
      } catch {
        // The tag does not match: altered, or sealed with another key, kind or practice.
        return undefined;
      }
    },
  };
}
