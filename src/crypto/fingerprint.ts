/**
 * A non-reversible, fixed-length key for a bearer token: caller keys (caches, coalescing, audit
 * lines) name who is calling without ever holding or logging the token itself. Not for names
 * kept in shared state (Redis): those are keyed hashes (crypto/keys.ts), which nobody holding
 * or guessing a token can match.
 */
import { createHash } from 'node:crypto';

export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 22);
}
