/**
 * PKCE for the facade's authorization server (RFC 7636). Only the S256 method is accepted:
 * SMART App Launch 2.x requires it and forbids `plain`.
 * https://www.rfc-editor.org/rfc/rfc7636#section-4.1 (verifier), #section-4.2 (S256).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

// code-verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
// base64url of a 32-byte SHA-256 digest, unpadded: 43 characters, the last of which holds
// only 4 significant bits, so it can only be one of these 16 characters.
const CHALLENGE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** Whether `challenge` could be an S256 code_challenge: 43 characters of canonical base64url. */
export function isValidChallenge(challenge: string): boolean {
  return CHALLENGE.test(challenge);
}

/**
 * Whether `verifier` is a well-formed code_verifier whose S256 transform
 * (base64url(SHA-256(ASCII(verifier))), unpadded) equals `challenge`, compared in
 * constant time.
 */
export function verifyPkceS256(verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier) || !isValidChallenge(challenge)) return false;
  const expected = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'), 'ascii');
  // Both are 43 ASCII bytes here, which timingSafeEqual requires.
  return timingSafeEqual(expected, Buffer.from(challenge, 'ascii'));
}
