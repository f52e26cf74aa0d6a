/**
 * Bulk export output files, encrypted at rest. A file is a sequence of frames, each one
 * patient's NDJSON lines of one type: `length (4 bytes, big-endian) ‖ iv (12) ‖ ciphertext ‖
 * tag (16)`, AES-256-GCM under a key derived from the configured secret. A frame's additional
 * data names its practice, its job, its file and where in the file it starts (`frameAad`):
 * a file moved to another job's or practice's folder, renamed, or with frames moved within
 * it, does not open. Frames are written at the offset the job's last checkpoint recorded
 * (never appended blindly), and a file is read only up to that recorded length, so bytes a
 * crash left past it — a whole frame or a torn one — are never served, and the next write
 * replaces them.
 *
 * Files and their folders are owner-only (0600 / 0700). Reading streams frame by frame, so a
 * file of many CCDs is never held in memory whole.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { deriveKey } from '../crypto/keys.ts';

const IV = 12;
const TAG = 16;
const HEADER = 4;
/** Largest frame accepted when reading (a patient's lines of one type). */
const MAX_FRAME = 512 * 1024 * 1024;

export function exportFileKey(secret: string): Buffer {
  return deriveKey(secret, 'nextech-fhir-facade bulk export files v1');
}

/** A frame that does not open: moved, altered, torn or cut short. Never a client's fault. */
export class FrameRefused extends Error {
  constructor() {
    super('export frame refused');
    this.name = 'FrameRefused';
  }
}

/** Where an export file belongs: its frames open only there. */
export interface FilePlace {
  practiceId: string;
  jobId: string;
  name: string;
}

/**
 * The additional data of the frame starting at byte `at` of the file at `place`. Versioned
 * (`2`): files of the earlier format, bound to their name only, never open as these.
 */
export function frameAad(place: FilePlace, at: number): Buffer {
  return Buffer.from(JSON.stringify(['bulk-export-file', 2, place.practiceId, place.jobId, place.name, at]), 'utf8');
}

/** One frame of `text`, sealed under `aad` (what is written to a file, or stored elsewhere whole). */
export function sealFrame(aad: string | Buffer, key: Buffer, text: string): Buffer {
  const iv = randomBytes(IV);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG });
  cipher.setAAD(typeof aad === 'string' ? Buffer.from(aad, 'utf8') : aad);
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  const header = Buffer.alloc(HEADER);
  header.writeUInt32BE(IV + body.length, 0);
  return Buffer.concat([header, iv, body]);
}

/**
 * Writes `frame` (sealed for offset `at`) to `file` at `at` and cuts the file there, durably:
 * whatever lay past `at` (a crash's leftovers) is replaced. `at` 0 creates the file (0600);
 * a later offset needs the file the checkpoint recorded (a missing one is an error, never a
 * new file with a gap). Resolves to the file's new length.
 */
export async function writeFrameAt(file: string, at: number, frame: Buffer): Promise<number> {
  const fh = await open(file, at === 0 ? 'w' : 'r+', 0o600);
  try {
    if (at > 0 && (await fh.stat()).size < at) throw new Error('export file shorter than its checkpoint');
    await fh.write(frame, 0, frame.length, at);
    await fh.truncate(at + frame.length);
    await fh.sync();
    return at + frame.length;
  } finally {
    await fh.close();
  }
}

/** Writes one whole-file frame of `text` under `aad` (a job's state), durably. */
export async function writeSealed(file: string, aad: string, key: Buffer, text: string): Promise<void> {
  await writeFrameAt(file, 0, sealFrame(aad, key, text));
}

/**
 * Cuts `file` back to `size` bytes (what the last checkpoint recorded). A missing file is fine
 * when size is 0; a file shorter than recorded is an error (it lost data: never padded).
 */
export async function cutBack(file: string, size: number): Promise<void> {
  let length: number;
  try {
    length = (await stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && size === 0) return;
    throw err;
  }
  if (length < size) throw new Error('export file shorter than its checkpoint');
  if (length > size) await truncate(file, size);
}

/** The decrypted content of a whole buffer's frames (small things read at once: a job's state, a group). */
export function openFrames(buf: Buffer, aad: string, key: Buffer): Buffer {
  const parts: Buffer[] = [];
  const data = Buffer.from(aad, 'utf8');
  for (let at = 0; at < buf.length; ) {
    if (at + HEADER > buf.length) throw new FrameRefused();
    const length = buf.readUInt32BE(at);
    if (length < IV + TAG || at + HEADER + length > buf.length) throw new FrameRefused();
    parts.push(openFrame(buf.subarray(at + HEADER, at + HEADER + length), data, key));
    at += HEADER + length;
  }
  return Buffer.concat(parts);
}

function openFrame(frame: Buffer, aad: Buffer, key: Buffer): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, frame.subarray(0, IV), { authTagLength: TAG });
    decipher.setAAD(aad);
    decipher.setAuthTag(frame.subarray(frame.length - TAG));
    // Nothing is handed out before the tag has been checked (final()).
    return Buffer.concat([decipher.update(frame.subarray(IV, frame.length - TAG)), decipher.final()]);
  } catch {
    throw new FrameRefused();
  }
}

/**
 * The decrypted frames of an export file up to `size` bytes (its recorded length), one at a
 * time. Throws FrameRefused on a frame that does not open, or on a file cut short.
 */
export async function* readFrames(file: string, place: FilePlace, key: Buffer, size: number): AsyncGenerator<Buffer> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(file, 'r');
    let at = 0;
    const header = Buffer.alloc(HEADER);
    while (at < size) {
      if (at + HEADER > size || (await fh.read(header, 0, HEADER, at)).bytesRead < HEADER) throw new FrameRefused();
      const length = header.readUInt32BE(0);
      if (length < IV + TAG || length > MAX_FRAME || at + HEADER + length > size) throw new FrameRefused();
      const frame = Buffer.alloc(length);
      if ((await fh.read(frame, 0, length, at + HEADER)).bytesRead < length) throw new FrameRefused();
      yield openFrame(frame, frameAad(place, at), key);
      at += HEADER + length;
    }
  } finally {
    await fh?.close();
  }
}
