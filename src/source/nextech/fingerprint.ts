/**
 * A non-reversible, fixed-length key for a bearer token: caches, coalescing and the rate
 * budget key by who is calling without ever holding or logging the token itself.
 */
import { createHash } from 'node:crypto';

export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 22);
}
