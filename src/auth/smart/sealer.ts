/**
 * Sealed strings: the facade's own access tokens, refresh tokens, authorization codes and
 * in-flight login state. Each carries its whole state (including the user's Nextech tokens)
 * encrypted and authenticated, so the SMART server needs no session store and the browser
 * never sees what is inside.
 *
 * Format: `v1.` + base64url(exp ‖ iv ‖ ciphertext ‖ tag), where exp is the expiry in epoch
 * seconds (4 bytes, big-endian), iv is 96 random bits and tag the 128-bit AES-256-GCM tag.
 * The kind is not written out: each kind has its own HKDF-derived key, and kind and exp are
 * both in the additional authenticated data, so changing either fails authentication.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deriveKey } from '../../crypto/keys.ts';

/** What a sealed string is for; a string sealed as one kind never opens as another. */
export type SealKind = 'access' | 'refresh' | 'code' | 'pending' | 'picker' | 'system' | 'shared';

/** Seals and opens the facade's self-contained tokens. */
export interface Sealer {
  /**
   * Encrypts and authenticates `payload` (JSON) as an opaque URL-safe string of kind
   * `kind`, valid for `ttlSeconds`. Throws only on a programming error (a ttl that is not
   * a positive integer, a payload that is not a JSON object).
   */
  seal(kind: SealKind, payload: Record<string, unknown>, ttlSeconds: number): string;
  /**
   * The payload, or undefined if the string is malformed, tampered with, of another kind,
   * or expired. Never throws. The payload comes back with `exp` (epoch seconds) set to the
   * authenticated expiry, replacing any `exp` the sealed payload held.
   */
  open<T = Record<string, unknown>>(kind: SealKind, sealed: string): T | undefined;
}

const PREFIX = 'v1.';
const EXP_BYTES = 4;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = EXP_BYTES + IV_BYTES;
const MIN_SECRET_LENGTH = 32;
const MAX_EXP = 0xffff_ffff;
const KINDS: readonly SealKind[] = ['access', 'refresh', 'code', 'pending', 'picker', 'system', 'shared'];
// A fixed, public salt: HKDF's salt only needs to be independent of the secret. Kept as it was
// (the purpose in the salt, crypto/keys.ts): changing it would void every token apps hold.
const HKDF_SALT = 'nextech-fhir-facade/smart-sealer';
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * A Sealer keyed by `secret` (at least 32 characters; throws otherwise). `now` returns
 * epoch milliseconds, like Date.now, and is the clock both for stamping and checking expiry.
 */
export function createSealer(secret: string, now: () => number = Date.now): Sealer {
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new Error(`sealer secret must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  const keys = new Map<SealKind, Buffer>(KINDS.map((kind) => [kind, deriveKey(secret, `${PREFIX}${kind}`, { legacySalt: HKDF_SALT })]));
  const keyOf = (kind: SealKind): Buffer => {
    const key = keys.get(kind);
    if (!key) throw new Error(`unknown seal kind: ${String(kind)}`);
    return key;
  };
  const nowSeconds = () => Math.floor(now() / 1000);

  return {
    seal(kind, payload, ttlSeconds) {
      if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
        throw new RangeError('ttlSeconds must be a positive integer');
      }
      if (!isPlainObject(payload)) throw new TypeError('payload must be a JSON object');
      const exp = nowSeconds() + ttlSeconds;
      if (exp > MAX_EXP) throw new RangeError('expiry does not fit the v1 format');
      const header = Buffer.alloc(HEADER_BYTES);
      header.writeUInt32BE(exp, 0);
      randomBytes(IV_BYTES).copy(header, EXP_BYTES);
      const cipher = createCipheriv('aes-256-gcm', keyOf(kind), header.subarray(EXP_BYTES), { authTagLength: TAG_BYTES });
      cipher.setAAD(aad(kind, exp));
      const body = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
      return PREFIX + Buffer.concat([header, body, cipher.getAuthTag()]).toString('base64url');
    },

    open<T = Record<string, unknown>>(kind: SealKind, sealed: string): T | undefined {
      try {
        const bytes = decode(sealed);
        if (!bytes) return undefined;
        const exp = bytes.readUInt32BE(0);
        // Expired strings are refused before any decryption work; a forged exp fails the
        // tag check below anyway, since exp is authenticated.
        if (nowSeconds() >= exp) return undefined;
        const iv = bytes.subarray(EXP_BYTES, HEADER_BYTES);
        const tag = bytes.subarray(bytes.length - TAG_BYTES);
        const decipher = createDecipheriv('aes-256-gcm', keyOf(kind), iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aad(kind, exp));
        decipher.setAuthTag(tag);
        const text = Buffer.concat([decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
        const payload: unknown = JSON.parse(text.toString('utf8'));
        if (!isPlainObject(payload)) return undefined;
        return { ...payload, exp } as T;
      } catch {
        return undefined;
      }
    },
  };
}

function aad(kind: SealKind, exp: number): Buffer {
  return Buffer.from(`${PREFIX}${kind}.${exp}`, 'utf8');
}

/** The raw bytes of a sealed string, or undefined unless it is exactly what seal writes. */
function decode(sealed: string): Buffer | undefined {
  if (typeof sealed !== 'string' || !sealed.startsWith(PREFIX)) return undefined;
  const text = sealed.slice(PREFIX.length);
  if (!BASE64URL.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  // Node's decoder tolerates stray trailing bits; insisting on the canonical spelling means
  // one token has exactly one string form.
  if (bytes.toString('base64url') !== text) return undefined;
  if (bytes.length < HEADER_BYTES + TAG_BYTES) return undefined;
  return bytes;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A sealer that seals with `current` and also opens what `accepted` sealed: how a key is
 * rolled without downtime (README, "Running in production"): first every replica accepts the
 * new key, then every replica seals with it and accepts the old one, then the old one goes.
 */
export function acceptingAlso(current: Sealer, accepted: readonly Sealer[]): Sealer {
  if (accepted.length === 0) return current;
  return {
    seal: (kind, payload, ttlSeconds) => current.seal(kind, payload, ttlSeconds),
    open<T = Record<string, unknown>>(kind: SealKind, sealed: string): T | undefined {
      const opened = current.open<T>(kind, sealed);
      if (opened !== undefined) return opened;
      for (const other of accepted) {
        const o = other.open<T>(kind, sealed);
        if (o !== undefined) return o;
      }
      return undefined;
    },
  };
}

/** `createSealer` for `secret`, also opening what each of `accepted` sealed. */
export function createRollingSealer(secret: string, accepted: readonly string[], now: () => number = Date.now): Sealer {
  return acceptingAlso(
    createSealer(secret, now),
    accepted.map((k) => createSealer(k, now)),
  );
}
