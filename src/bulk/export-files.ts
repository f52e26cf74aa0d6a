/**
 * Bulk export output files, encrypted at rest. A file is a sequence of frames, each one
 * patient's NDJSON lines of one type: `length (4 bytes, big-endian) ‖ iv (12) ‖ ciphertext ‖
 * tag (16)`, AES-256-GCM under a key derived from the configured secret, with the file's
 * name as additional data (a frame moved to another file does not open). Appending a frame
 * and recording the file's new size is the job's checkpoint: after a crash, the file is cut
 * back to the recorded size, so a patient is never written twice nor half.
 *
 * Files and their folders are owner-only (0600 / 0700). Reading streams frame by frame, so a
 * file of many CCDs is never held in memory whole.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { open, truncate, type FileHandle } from 'node:fs/promises';

const IV = 12;
const TAG = 16;
const HEADER = 4;
/** Largest frame accepted when reading (a patient's lines of one type). */
const MAX_FRAME = 512 * 1024 * 1024;

export function exportFileKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'nextech-fhir-facade bulk export files v1', 32));
}

/** One frame of `text`, sealed under `name` (what is appended to a file, or stored elsewhere whole). */
export function sealFrame(name: string, key: Buffer, text: string): Buffer {
  const iv = randomBytes(IV);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG });
  cipher.setAAD(Buffer.from(name, 'utf8'));
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  const header = Buffer.alloc(HEADER);
  header.writeUInt32BE(IV + body.length, 0);
  return Buffer.concat([header, iv, body]);
}

/** Appends one frame of `text` to `file` (created 0600); resolves to the file's new size. */
export async function appendFrame(file: string, name: string, key: Buffer, text: string): Promise<number> {
  const frame = sealFrame(name, key, text);
  const fh = await open(file, 'a', 0o600);
  try {
    await fh.write(frame);
    await fh.sync();
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

/** Cuts `file` back to `size` bytes (what the last checkpoint recorded); a missing file is fine when size is 0. */
export async function cutBack(file: string, size: number): Promise<void> {
  try {
    await truncate(file, size);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || size !== 0) throw err;
  }
}

/** The decrypted content of a whole file's frames, given as one buffer (small files read at once: a job's state). */
export function openFrames(buf: Buffer, name: string, key: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < buf.length; ) {
    const length = buf.readUInt32BE(at);
    if (length < IV + TAG || at + HEADER + length > buf.length) throw new Error('bad frame');
    parts.push(openFrame(buf.subarray(at + HEADER, at + HEADER + length), name, key));
    at += HEADER + length;
  }
  return Buffer.concat(parts);
}

function openFrame(frame: Buffer, name: string, key: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, frame.subarray(0, IV), { authTagLength: TAG });
  decipher.setAAD(Buffer.from(name, 'utf8'));
  decipher.setAuthTag(frame.subarray(frame.length - TAG));
  return Buffer.concat([decipher.update(frame.subarray(IV, frame.length - TAG)), decipher.final()]);
}

/** The decrypted frames of `file` up to `size` bytes, one at a time. Throws on a frame that does not open. */
export async function* readFrames(file: string, name: string, key: Buffer, size: number): AsyncGenerator<Buffer> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(file, 'r');
    let at = 0;
    const header = Buffer.alloc(HEADER);
    while (at < size) {
      await fh.read(header, 0, HEADER, at);
      const length = header.readUInt32BE(0);
      if (length < IV + TAG || length > MAX_FRAME || at + HEADER + length > size) throw new Error('bad frame');
      const frame = Buffer.alloc(length);
      await fh.read(frame, 0, length, at + HEADER);
      yield openFrame(frame, name, key);
      at += HEADER + length;
    }
  } finally {
    await fh?.close();
  }
}
