/**
 * The refresh token file: JSON round trip, owner-only mode, atomic and serialized
 * replacement under concurrency, tolerance of a hand-written bare token, and error
 * messages that never carry the token.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { refreshTokenFile } from '../src/auth/token-file.ts';

const SECRET = 'rt-SECRET-7f3a9c-do-not-print';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'token-file-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

/** The rejection's message, for asserting what it says and what it keeps quiet about. */
async function failure(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : '';
}

describe('refreshTokenFile', () => {
  it('stores the token as JSON with an ISO timestamp and reads it back', async () => {
    const file = refreshTokenFile(join(dir, 'token.json'));
    await file.write(SECRET);
    expect(await file.read()).toBe(SECRET);
    const json = JSON.parse(await readFile(file.path, 'utf8')) as Record<string, unknown>;
    expect(json.refresh_token).toBe(SECRET);
    expect(typeof json.updated_at).toBe('string');
    expect(new Date(String(json.updated_at)).toISOString()).toBe(json.updated_at);
  });

  it('exposes the absolute path and resolves a relative one', () => {
    expect(refreshTokenFile('some/token.json').path).toBe(join(process.cwd(), 'some/token.json'));
  });

  it('creates the file readable only by its owner', async () => {
    const file = refreshTokenFile(join(dir, 'token.json'));
    await file.write(SECRET);
    expect(await modeOf(file.path)).toBe(0o600);
  });

  it('narrows a pre-existing 0644 file to 0600 when writing', async () => {
    const path = join(dir, 'token.json');
    await writeFile(path, '{"refresh_token":"old"}');
    await chmod(path, 0o644);
    await refreshTokenFile(path).write(SECRET);
    expect(await modeOf(path)).toBe(0o600);
    expect(await refreshTokenFile(path).read()).toBe(SECRET);
  });

  it('narrows a pre-existing 0644 file to 0600 when reading', async () => {
    const path = join(dir, 'token.json');
    await writeFile(path, '{"refresh_token":"old"}');
    await chmod(path, 0o644);
    expect(await refreshTokenFile(path).read()).toBe('old');
    expect(await modeOf(path)).toBe(0o600);
  });

  it('creates a missing parent directory', async () => {
    const file = refreshTokenFile(join(dir, 'nested', 'deeper', 'token.json'));
    await file.write(SECRET);
    expect(await file.read()).toBe(SECRET);
  });

  it('leaves a valid file holding the last value after 50 concurrent writes, and no temp files', async () => {
    const path = join(dir, 'token.json');
    const tokens = Array.from({ length: 50 }, (_, i) => `token-${i}-${'x'.repeat(i * 40)}`);
    // Two handles on the same path share one queue.
    const [a, b] = [refreshTokenFile(path), refreshTokenFile(path)];
    await Promise.all(tokens.map((t, i) => (i % 2 === 0 ? a : b).write(t)));
    const stored = await refreshTokenFile(path).read();
    expect(tokens).toContain(stored);
    expect(stored).toBe(tokens.at(-1));
    expect(await readdir(dir)).toEqual(['token.json']);
    expect(await modeOf(path)).toBe(0o600);
  });

  it('never lets a concurrent reader see a torn or empty file', async () => {
    const path = join(dir, 'token.json');
    const file = refreshTokenFile(path);
    await file.write('token-initial');
    const tokens = new Set(['token-initial']);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      const t = `token-${i}-${'y'.repeat(256 * 1024 + i)}`; // several write(2) calls each
      tokens.add(t);
      writes.push(file.write(t));
    }
    let done = false;
    const allWritten = Promise.all(writes).finally(() => {
      done = true;
    });
    const seen: (string | undefined)[] = [];
    const reader = async (): Promise<void> => {
      while (!done) seen.push(await refreshTokenFile(path).read());
    };
    await Promise.all([reader(), reader(), reader(), allWritten]);
    expect(seen.length).toBeGreaterThan(0);
    for (const value of seen) expect(tokens.has(value ?? '')).toBe(true);
  });

  it('reads a file holding only the raw token, with surrounding whitespace', async () => {
    const path = join(dir, 'token.txt');
    await writeFile(path, `  ${SECRET}\n`);
    expect(await refreshTokenFile(path).read()).toBe(SECRET);
  });

  it('reads a missing file as undefined', async () => {
    expect(await refreshTokenFile(join(dir, 'absent.json')).read()).toBeUndefined();
  });

  it('reads an empty file as undefined', async () => {
    const path = join(dir, 'token.json');
    await writeFile(path, '\n');
    expect(await refreshTokenFile(path).read()).toBeUndefined();
  });

  it('never puts the token into an error message', async () => {
    const path = join(dir, 'token.json');
    const cases = [
      `{"refresh_token":"${SECRET}"`, // truncated JSON: JSON.parse would quote it
      `{"refresh_token":["${SECRET}"]}`, // wrong shape
      `${SECRET} ${SECRET}\n${SECRET}`, // neither JSON nor one bare token
    ];
    for (const content of cases) {
      await writeFile(path, content);
      const message = await failure(refreshTokenFile(path).read());
      expect(message).toContain(path);
      expect(message).not.toContain(SECRET);
    }
    for (const bad of ['', `${SECRET}\n`, `${SECRET} x`]) {
      expect(await failure(refreshTokenFile(path).write(bad))).not.toContain(SECRET);
    }
    // The target is a directory: the rename fails, and the temp file is cleaned up.
    const blocked = join(dir, 'blocked');
    await mkdir(join(blocked, 'child'), { recursive: true });
    expect(await failure(refreshTokenFile(blocked).write(SECRET))).not.toContain(SECRET);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps writing after a failed write', async () => {
    const path = join(dir, 'token.json');
    const file = refreshTokenFile(path);
    const results = await Promise.allSettled([file.write('first'), file.write(''), file.write('third')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await file.read()).toBe('third');
  });
});
