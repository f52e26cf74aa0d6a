/**
 * The managed refresh token on disk: a small JSON file readable only by its owner,
 * replaced atomically (temp file in the same directory, fsync, rename) so a crash or a
 * concurrent reader never sees a torn or empty file. Writes through this module are queued
 * per path, so the last write wins. No message this module produces contains the token.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { z } from 'zod';

/** A refresh token kept in one file. */
export interface RefreshTokenFile {
  /** The file's absolute path. */
  path: string;
  /** The stored token, or undefined when the file does not exist or is empty. */
  read(): Promise<string | undefined>;
  /** Replaces the stored token atomically; the file ends with mode 0600. */
  write(token: string): Promise<void>;
}

const FileSchema = z.object({ refresh_token: z.string().min(1), updated_at: z.string().optional() });
/** A bare token: one line of printable, non-space ASCII (what OAuth token characters are). */
const RAW_TOKEN = /^[\x21-\x7e]+$/;
const OWNER_ONLY = 0o600;

/** Writes queued per absolute path, shared by every handle on the same file. */
const queues = new Map<string, Promise<void>>();

/** The refresh token file at `path` (relative paths resolve against the working directory). */
export function refreshTokenFile(path: string): RefreshTokenFile {
  const target = resolve(path);
  return {
    path: target,
    read: () => readToken(target),
    write(token) {
      if (!RAW_TOKEN.test(token)) {
        return Promise.reject(new Error('refusing to store a refresh token that is empty or contains spaces or control characters'));
      }
      const previous = queues.get(target) ?? Promise.resolve();
      const next = previous.then(() => writeAtomically(target, token));
      // Later writes wait for this one whatever its outcome; the queue never holds a rejection.
      const settled = next.then(() => undefined, () => undefined);
      queues.set(target, settled);
      void settled.then(() => {
        if (queues.get(target) === settled) queues.delete(target);
      });
      return next;
    },
  };
}

async function readToken(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  await tightenMode(path);
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (!trimmed.startsWith('{')) {
    if (RAW_TOKEN.test(trimmed)) return trimmed;
    throw new Error(`${path} holds neither JSON nor a bare refresh token`);
  }
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    // JSON.parse's message quotes the text around the error, which may be the token.
    throw new Error(`${path} is not valid JSON`);
  }
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${path} has no "refresh_token" string`);
  return parsed.data.refresh_token;
}

/** A file left more open than 0600 (e.g. created by hand) is narrowed; best effort. */
async function tightenMode(path: string): Promise<void> {
  try {
    const handle = await open(path, 'r');
    try {
      const { mode } = await handle.stat();
      if ((mode & 0o077) !== 0) await handle.chmod(OWNER_ONLY);
    } finally {
      await handle.close();
    }
  } catch {
    // Not ours to fix (another owner, a read-only mount): reading still works.
  }
}

async function writeAtomically(path: string, token: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = resolve(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const body = `${JSON.stringify({ refresh_token: token, updated_at: new Date().toISOString() }, null, 2)}\n`;
  try {
    // 'wx': a fresh file, never through a symlink someone planted; chmod beats the umask.
    const handle = await open(temp, 'wx', OWNER_ONLY);
    try {
      await handle.chmod(OWNER_ONLY);
      await handle.writeFile(body, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    // rename replaces the target's inode, so an older, more open mode goes with it.
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dir);
}

/** Makes the rename itself durable; some platforms cannot open a directory, so best effort. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // The data is written and renamed; only durability across a power cut is weaker.
  }
}

function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && 'code' in err && err.code === code;
}
