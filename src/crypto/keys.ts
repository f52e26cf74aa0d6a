/**
 * Keys derived from the deployment's secrets, and the keyed names made with them. Every key the
 * service uses is HKDF-SHA-256 (RFC 5869) of one secret with a public label naming what the key
 * is for — the label is the `info` (§3.2) and the salt is empty — so two uses never share a key,
 * and one leaked derived key reveals neither the secret nor another use's key.
 *
 * A few keys were derived before this was the one convention, with the purpose in the salt
 * (`legacySalt`); they key data whose identity must not change (resource ids, tokens in the hands
 * of apps), so their exact derivation is kept here, named as such.
 */
import { createHmac, hkdfSync } from 'node:crypto';

export interface DeriveOptions {
  /** The salt of a key derived before the one convention (purpose in the salt): keeps that exact key. */
  legacySalt?: string;
  /** Bytes of key (default 32: AES-256, HMAC-SHA-256). */
  bytes?: number;
}

/** The key for `label` derived from `secret` (HKDF-SHA-256, label as `info`). */
export function deriveKey(secret: string, label: string, opts: DeriveOptions = {}): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.from(opts.legacySalt ?? '', 'utf8'), label, opts.bytes ?? 32));
}

/** Names for values (tokens, callers, search keys) that neither reveal them nor can be matched against a guess. */
export type KeyedNames = (text: string) => string;

/**
 * Keyed names under a key derived from `secret` for `label`: HMAC-SHA-256 of the text, base64url
 * (43 characters). Without the secret a name can be neither reversed nor computed for a token,
 * chart number or caller someone has guessed or holds.
 */
export function keyedNames(secret: string, label: string): KeyedNames {
  const key = deriveKey(secret, label);
  return (text) => createHmac('sha256', key).update(text).digest('base64url');
}

/**
 * The secret that keys the names of what the service keeps about a token or a caller in shared
 * state (Redis, or memory): SHARED_STATE_KEY when there is one, else RESOURCE_ID_KEY — the same
 * on every replica, so every replica names a token alike.
 */
export function stateNamesSecret(config: { redis?: { key: string }; resourceIdKey: string }): string {
  return config.redis?.key ?? config.resourceIdKey;
}
