/**
 * Bytes as FHIR id text (https://hl7.org/fhir/R4/datatypes.html#id: `[A-Za-z0-9\-.]{1,64}`):
 * base64url with `_` written as `.`, no padding. Only the canonical spelling decodes (the
 * text is re-encoded and compared), so one byte string has exactly one id.
 */

/** FHIR's limit on an id; 64 characters carry 48 bytes. */
export const MAX_ID_LENGTH = 64;
const ID_TEXT = /^[A-Za-z0-9\-.]{1,64}$/;

export function bytesToId(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url').replaceAll('_', '.');
}

/** The bytes an id spells, or undefined when it is not the canonical spelling of any. */
export function idToBytes(id: string): Uint8Array | undefined {
  if (!ID_TEXT.test(id)) return undefined;
  const bytes = new Uint8Array(Buffer.from(id.replaceAll('.', '_'), 'base64url'));
  // Node's decoder skips stray characters and ignores leftover bits: insist on the one spelling.
  return bytesToId(bytes) === id ? bytes : undefined;
}
