/**
 * Paging cursors: the search a paging link stands for (formatSearch's query string, with an
 * operation's own parameters before it), sealed so that a link carries no search value — a
 * chart number, a name or a birth date in a `next` link would end up in URLs, browser
 * histories and proxy logs, which is what POST `_search` exists to avoid.
 *
 * Format: base64url(version ‖ exp ‖ iv ‖ ciphertext ‖ tag). AES-256-GCM under a purpose key
 * derived by HKDF-SHA-256 from RESOURCE_ID_KEY (every replica already holds the same one, so a
 * link made by one replica opens at another; no new secret). The additional data binds the
 * version, the expiry, the practice, the caller (the door's caller key, never a token) and
 * the path (a resource type, or an operation): a cursor made for anyone or anything else, or
 * altered in one bit, does not open. The plaintext is one flag byte (0: as is, 1: deflate-raw,
 * whichever is shorter; short queries are not tried) and the query. Compressing before
 * encrypting leaks length, which only matters when attacker-chosen text sits next to a
 * secret; here the whole plaintext is what the one caller who can open it sent itself.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { MAX_FORM_BYTES } from '../auth/form-body.ts';
import { deriveKey } from '../crypto/keys.ts';
import { MAX_URL_LENGTH } from './limits.ts';

/** What a cursor is bound to: presented anywhere else, it does not open. */
export interface CursorBinding {
  practiceId: string;
  /** The door's caller key (auth/doors.ts): `smart:{client}:{sign-in}`, `backend:{client}`, … */
  callerKey: string;
  /** Where the link points after the base: `Patient`, `DocumentReference/$docref`. */
  path: string;
}

export type OpenedCursor = { kind: 'query'; query: string } | { kind: 'invalid' } | { kind: 'expired' };

export interface PageCursors {
  /** The cursor of `query` for `binding`, valid for the cursors' lifetime from now. */
  seal(query: string, binding: CursorBinding): string;
  /** The length of the cursor `seal` writes for `query`, whatever the binding: measured without sealing. */
  sealedLength(query: string): number;
  /** Never throws: a cursor that does not open for `binding` is `invalid`, one past its expiry `expired`. */
  open(cursor: string, binding: CursorBinding): OpenedCursor;
}

/** How long a paging link works: long enough to page through any result, short enough that a leaked link dies. */
export const CURSOR_SECONDS = 3600;

const VERSION = 1;
const EXP_BYTES = 4;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + EXP_BYTES + IV_BYTES;
/**
 * More than any query a cursor of this service stands for: one written from what a request
 * carries (its URL and a body of at most MAX_FORM_BYTES), each byte percent-encoded into at
 * most three. Inflating stops there.
 */
const MAX_QUERY_BYTES = 3 * (MAX_URL_LENGTH + MAX_FORM_BYTES);
/** No cursor is longer than the longest URL the service accepts; longer text is not even decoded. */
const MAX_CURSOR_CHARS = MAX_URL_LENGTH;
const CURSOR_TEXT = /^[A-Za-z0-9_-]+$/;
const RAW = 0;
const DEFLATED = 1;

// The public label naming what the derived key is for (crypto/keys.ts). Cursors live an hour at
// most: one sealed under the derivation before this label (the purpose in the salt) no longer
// opens, and its caller is told to run the search again, as for any cursor that does not open.
const KEY_LABEL = 'nextech-fhir-facade search cursors v2';

/** Cursors keyed by `secret` (RESOURCE_ID_KEY); `now` is epoch milliseconds, the clock of expiry. */
export function createPageCursors(secret: string, now: () => number, ttlSeconds = CURSOR_SECONDS): PageCursors {
  const key = deriveKey(secret, KEY_LABEL);
  const nowSeconds = () => Math.floor(now() / 1000);
  return {
    seal(query, binding) {
      const exp = nowSeconds() + ttlSeconds;
      const header = Buffer.alloc(HEADER_BYTES);
      header.writeUInt8(VERSION, 0);
      header.writeUInt32BE(exp, 1);
      randomBytes(IV_BYTES).copy(header, 1 + EXP_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, header.subarray(1 + EXP_BYTES), { authTagLength: TAG_BYTES });
      cipher.setAAD(additionalData(exp, binding));
      const body = Buffer.concat([cipher.update(plaintextOf(query)), cipher.final()]);
      return Buffer.concat([header, body, cipher.getAuthTag()]).toString('base64url');
    },
    sealedLength(query) {
      // GCM's ciphertext is as long as its plaintext; base64url without padding.
      const bytes = HEADER_BYTES + plaintextOf(query).length + TAG_BYTES;
      return Math.ceil((bytes * 4) / 3);
    },
    open(cursor, binding) {
      const bytes = decode(cursor);
      if (!bytes || bytes.readUInt8(0) !== VERSION) return { kind: 'invalid' };
      const exp = bytes.readUInt32BE(1);
      let plaintext: Buffer;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(1 + EXP_BYTES, HEADER_BYTES), { authTagLength: TAG_BYTES });
        decipher.setAAD(additionalData(exp, binding));
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
        plaintext = Buffer.concat([decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
      } catch {
        // Altered, or sealed for another caller, practice, path or key.
        return { kind: 'invalid' };
      }
      // Authenticated first: only a cursor this service made is ever told it expired.
      if (nowSeconds() >= exp) return { kind: 'expired' };
      const query = queryOf(plaintext);
      return query === undefined ? { kind: 'invalid' } : { kind: 'query', query };
    },
  };
}

function additionalData(exp: number, b: CursorBinding): Buffer {
  // JSON: the caller key may hold any character, and no two bindings may spell alike.
  return Buffer.from(JSON.stringify(['cursor', VERSION, exp, b.practiceId, b.callerKey, b.path]), 'utf8');
}

/**
 * Below this many bytes a query is sealed as it is: deflate saves a few bytes there at best,
 * and costs 20–60 µs a link (a zlib stream per call), paid for every link of every search.
 */
const DEFLATE_FROM_BYTES = 256;

function plaintextOf(query: string): Buffer {
  const raw = Buffer.from(query, 'utf8');
  if (raw.length < DEFLATE_FROM_BYTES) return Buffer.concat([Buffer.of(RAW), raw]);
  const deflated = deflateRawSync(raw, { level: 9 });
  return deflated.length < raw.length ? Buffer.concat([Buffer.of(DEFLATED), deflated]) : Buffer.concat([Buffer.of(RAW), raw]);
}

function queryOf(plaintext: Buffer): string | undefined {
  try {
    const flag = plaintext.readUInt8(0);
    const body = plaintext.subarray(1);
    const raw = flag === DEFLATED ? inflateRawSync(body, { maxOutputLength: MAX_QUERY_BYTES }) : flag === RAW ? body : undefined;
    return raw === undefined ? undefined : new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return undefined;
  }
}

/** The bytes of a cursor, or undefined unless it is exactly what seal writes (one spelling per cursor). */
function decode(cursor: string): Buffer | undefined {
  if (cursor.length > MAX_CURSOR_CHARS || !CURSOR_TEXT.test(cursor)) return undefined;
  const bytes = Buffer.from(cursor, 'base64url');
  if (bytes.toString('base64url') !== cursor || bytes.length < HEADER_BYTES + 1 + TAG_BYTES) return undefined;
  return bytes;
}
