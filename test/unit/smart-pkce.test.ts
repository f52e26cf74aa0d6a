// PKCE S256 checks (src/auth/smart/pkce.ts) against RFC 7636: the Appendix B example, the
// verifier's length and alphabet (section 4.1), and the shape of an S256 challenge.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isValidChallenge, verifyPkceS256 } from '../../src/auth/smart/pkce.ts';

const RFC_VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
// As printed in RFC 7636 Appendix B (https://www.rfc-editor.org/rfc/rfc7636#appendix-B).
const RFC_CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const s256 = (verifier: string) => createHash('sha256').update(verifier, 'ascii').digest('base64url');

describe('verifyPkceS256', () => {
  it('accepts the RFC 7636 Appendix B example', () => {
    expect(verifyPkceS256(RFC_VERIFIER, RFC_CHALLENGE)).toBe(true);
  });

  const verifiers: Array<{ name: string; verifier: string; ok: boolean }> = [
    { name: 'the shortest verifier (43 characters)', verifier: 'a'.repeat(43), ok: true },
    { name: 'the longest verifier (128 characters)', verifier: 'b'.repeat(128), ok: true },
    { name: 'every unreserved character', verifier: 'AZaz09-._~'.repeat(5), ok: true },
    { name: 'a verifier of 42 characters', verifier: 'a'.repeat(42), ok: false },
    { name: 'a verifier of 129 characters', verifier: 'b'.repeat(129), ok: false },
    { name: 'a verifier with a space', verifier: `${'a'.repeat(42)} `, ok: false },
    { name: 'a verifier with a plus sign', verifier: `${'a'.repeat(42)}+`, ok: false },
    { name: 'a verifier with a non-ASCII letter', verifier: `${'a'.repeat(42)}é`, ok: false },
  ];
  it.each(verifiers)('$name → $ok, even when the challenge is its own hash', ({ verifier, ok }) => {
    expect(verifyPkceS256(verifier, s256(verifier))).toBe(ok);
  });

  it('rejects a verifier that does not hash to the challenge', () => {
    expect(verifyPkceS256(`${RFC_VERIFIER.slice(0, -1)}Y`, RFC_CHALLENGE)).toBe(false);
  });

  it('rejects a challenge differing in one character', () => {
    expect(verifyPkceS256(RFC_VERIFIER, `F${RFC_CHALLENGE.slice(1)}`)).toBe(false);
  });

  it('rejects the plain method (challenge equal to the verifier)', () => {
    expect(verifyPkceS256(RFC_VERIFIER, RFC_VERIFIER)).toBe(false);
  });

  it('rejects a padded challenge and a standard-base64 one', () => {
    const std = createHash('sha256').update(RFC_VERIFIER).digest('base64');
    expect(std).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM=');
    expect(verifyPkceS256(RFC_VERIFIER, `${RFC_CHALLENGE}=`)).toBe(false);
    expect(verifyPkceS256(RFC_VERIFIER, std)).toBe(false);
  });
});

describe('isValidChallenge', () => {
  const challenges: Array<{ name: string; challenge: string; ok: boolean }> = [
    { name: 'the RFC 7636 example', challenge: RFC_CHALLENGE, ok: true },
    { name: 'a SHA-256 of another verifier', challenge: s256('z'.repeat(60)), ok: true },
    { name: 'the empty string', challenge: '', ok: false },
    { name: '42 characters', challenge: RFC_CHALLENGE.slice(1), ok: false },
    { name: '44 characters', challenge: `${RFC_CHALLENGE}A`, ok: false },
    { name: 'padding', challenge: `${RFC_CHALLENGE.slice(0, 42)}=`, ok: false },
    { name: 'standard base64 characters', challenge: `+${RFC_CHALLENGE.slice(1)}`, ok: false },
    // 43 characters carry 258 bits for a 256-bit digest: the last one's low 2 bits are 0.
    { name: 'a last character with stray low bits', challenge: `${RFC_CHALLENGE.slice(0, 42)}N`, ok: false },
  ];
  it.each(challenges)('$name → $ok', ({ challenge, ok }) => {
    expect(isValidChallenge(challenge)).toBe(ok);
  });
});
