/**
 * Unsigned LEB128 varints (7 bits a byte, low bits first, high bit = more follows) of safe
 * non-negative integers: the compact, self-delimiting numbers inside id plaintexts. Reading
 * is strict: only the one minimal encoding of a number is accepted.
 */

/** Bytes a varint of `n` takes (1 for 0…127, 5 for any int32, at most 8). */
export function varintLength(n: number): number {
  let length = 1;
  for (let rest = Math.floor(n / 128); rest > 0; rest = Math.floor(rest / 128)) length += 1;
  return length;
}

/** Appends the varint of `n`, a safe non-negative integer (the caller checks). */
export function writeVarint(n: number, out: number[]): void {
  let rest = n;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/** Reads forward through a byte array; every read returns undefined past the end or on a malformed value. */
export class ByteReader {
  #at = 0;
  constructor(private readonly bytes: Uint8Array) {}

  /** One minimal varint of a safe integer. */
  varint(): number | undefined {
    let value = 0;
    for (let shift = 0, i = this.#at; i < this.bytes.length && shift < 56; shift += 7, i += 1) {
      const byte = this.bytes[i] ?? 0;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 128) {
        // A last byte of 0 after others would be a second spelling of a shorter varint.
        if (byte === 0 && i > this.#at) return undefined;
        this.#at = i + 1;
        return Number.isSafeInteger(value) ? value : undefined;
      }
    }
    return undefined;
  }

  /** The next `n` bytes. */
  take(n: number): Uint8Array | undefined {
    if (this.#at + n > this.bytes.length) return undefined;
    const out = this.bytes.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  /** Everything left. */
  rest(): Uint8Array {
    const out = this.bytes.subarray(this.#at);
    this.#at = this.bytes.length;
    return out;
  }
}

/** Whether `n` can be written as a varint here. */
export const isVarintValue = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
