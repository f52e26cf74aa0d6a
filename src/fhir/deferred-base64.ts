/**
 * Large base64 values (a DocumentReference's CCD) written as the response is written, never
 * held whole. A response's resources carry a marker where such a value goes (`marker(text)`);
 * the response's JSON is built around the markers (small: no document in it), and `stream`
 * writes it with the base64 of each marked text's UTF-8 bytes encoded piece by piece between
 * the halves — the same bytes JSON.stringify would have written with the values in place.
 */
import { randomBytes } from 'node:crypto';

/** UTF-16 code units of the text encoded per piece: at most 48 KiB of UTF-8, 64 KiB of base64. */
const CHARS_PER_PIECE = 16 * 1024;

export class DeferredBase64 {
  /** Random per response, so no other string of the response can be taken for a marker. */
  private readonly nonce = randomBytes(12).toString('hex');
  private readonly texts: string[] = [];

  /** Where the base64 of `text`'s UTF-8 bytes goes in a resource: a string to be replaced as it is written. */
  marker(text: string): string {
    this.texts.push(text);
    return `${this.nonce}:${this.texts.length - 1}`;
  }

  /** Whether any value was deferred (else the JSON can be written as it is). */
  get used(): boolean {
    return this.texts.length > 0;
  }

  /**
   * The response's bytes: `json` (JSON.stringify of the resources holding the markers) with each
   * marker replaced by its base64, pulled a piece at a time (a slow client holds back the encoding).
   */
  stream(json: string): ReadableStream<Uint8Array> {
    const pieces = this.pieces(json);
    return new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          const next = pieces.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        cancel() {
          void pieces.return(undefined);
        },
      },
      { highWaterMark: 0 },
    );
  }

  private *pieces(json: string): Generator<Uint8Array, void, undefined> {
    const found = new RegExp(`"${this.nonce}:(\\d+)"`, 'g');
    let at = 0;
    for (let m = found.exec(json); m; m = found.exec(json)) {
      // The quotes stay; the marker between them becomes the base64.
      yield Buffer.from(json.slice(at, m.index + 1), 'utf8');
      yield* base64Pieces(this.texts[Number(m[1])] ?? '');
      at = m.index + m[0].length - 1;
    }
    yield Buffer.from(json.slice(at), 'utf8');
  }
}

/**
 * The base64 of `text`'s UTF-8 bytes in pieces, equal joined to `Buffer.from(text).toString('base64')`:
 * the 0–2 bytes short of a whole base64 group are carried into the next piece.
 */
export function* base64Pieces(text: string, charsPerPiece = CHARS_PER_PIECE): Generator<Uint8Array, void, undefined> {
  let carry: Buffer = Buffer.alloc(0);
  for (const piece of utf8Pieces(text, charsPerPiece)) {
    const bytes = carry.length > 0 ? Buffer.concat([carry, piece]) : piece;
    const whole = bytes.length - (bytes.length % 3);
    carry = bytes.subarray(whole);
    if (whole > 0) yield Buffer.from(bytes.subarray(0, whole).toString('base64'), 'latin1');
  }
  if (carry.length > 0) yield Buffer.from(carry.toString('base64'), 'latin1');
}

/**
 * `text`'s UTF-8 bytes in pieces of about `charsPerPiece` characters, equal joined to
 * `Buffer.from(text, 'utf8')`: a piece never ends between the halves of a surrogate pair.
 */
export function* utf8Pieces(text: string, charsPerPiece = CHARS_PER_PIECE): Generator<Buffer, void, undefined> {
  for (let at = 0; at < text.length; ) {
    let end = Math.min(text.length, at + charsPerPiece);
    if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1)) && isLowSurrogate(text.charCodeAt(end))) end += 1;
    yield Buffer.from(text.slice(at, end), 'utf8');
    at = end;
  }
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;
