// The keys derived from the deployment's secrets (src/crypto/keys.ts), checked against HKDF and
// HMAC computed here from the parameters each use had before it went through the one helper —
// and against strings sealed by that code — so that what is at rest keeps opening: export
// files and sealed groups, tokens apps hold, resource ids, names of proven tokens and shared
// answers in Redis.
import { createHmac, hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSealer } from '../../src/auth/smart/sealer.ts';
import { exportFileKey } from '../../src/bulk/export-files.ts';
import { deriveKey, keyedNames } from '../../src/crypto/keys.ts';
import { createIdSealer, type IdKind } from '../../src/ids/sealer.ts';

const SECRET = 'a fixed secret of at least thirty-two characters';
const hkdf = (salt: string, info: string, bytes = 32) => Buffer.from(hkdfSync('sha256', Buffer.from(SECRET, 'utf8'), Buffer.from(salt, 'utf8'), info, bytes));

describe('derived keys', () => {
  it('derives with the label as HKDF info and an empty salt, a key per label', () => {
    expect(deriveKey(SECRET, 'some use v1')).toEqual(hkdf('', 'some use v1'));
    expect(deriveKey(SECRET, 'some use v1')).not.toEqual(deriveKey(SECRET, 'another use v1'));
    expect(deriveKey(SECRET, 'some use v1')).toHaveLength(32);
  });

  it('keeps the export files\' key (files at rest keep opening)', () => {
    expect(exportFileKey(SECRET)).toEqual(hkdf('', 'nextech-fhir-facade bulk export files v1'));
  });

  it('keeps the names of proven tokens and shared answers in Redis', () => {
    for (const label of ['nextech-fhir-facade proven tokens v1', 'nextech-fhir-facade shared answer names v1']) {
      const expected = createHmac('sha256', hkdf('', label)).update('some token').digest('base64url');
      expect(keyedNames(SECRET, label)('some token')).toBe(expected);
    }
  });

  it('keeps the legacy derivations: tokens sealed before still open, resource ids stay the same', () => {
    // Sealed by the sealer as it was before the helper (purpose in the salt).
    const sealer = createSealer(SECRET, () => Date.UTC(2030, 0, 1));
    expect(sealer.open('refresh', 'v1.cNvmkFTXJifkApabt1we3BRY2dEfbL7J1GqD6dZjj8zNFs3Masc5NWtPhzBcsXjS8u2_IokQEwA4')).toMatchObject({ cid: 'app', rjti: 'r1' });
    // The id the id sealer gave this plaintext before.
    expect(createIdSealer(SECRET).seal('patient' as IdKind, '1001', new TextEncoder().encode('hello'))).toBe('2143tfndH6LOKeBEgX1UIBiU5HC-');
    expect(deriveKey(SECRET, 'AEAD_AES_SIV_CMAC_512 key v1', { legacySalt: 'nextech-fhir-facade resource ids', bytes: 64 })).toEqual(
      hkdf('nextech-fhir-facade resource ids', 'AEAD_AES_SIV_CMAC_512 key v1', 64),
    );
  });
});
