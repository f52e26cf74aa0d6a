/**
 * Groups in files (src/bulk/group-files.ts), below the HTTP layer: each file sealed and bound
 * to its practice and id, plain-JSON files of earlier versions sealed at start (and a file in
 * clear refused after), and conditional writes atomic across processes sharing DATA_DIR (cluster
 * workers without Redis) — raced from two real child processes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileGroups } from '../src/bulk/group-files.ts';
import { GroupStoreUnavailable, MAX_GROUPS_PER_PRACTICE, type StoredGroup } from '../src/bulk/group-store.ts';

const KEY = randomBytes(32).toString('base64url');
const dirs: string[] = [];
const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'groups-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const group = (id: string, versionId: number, name = `cohort ${id}`): StoredGroup => ({
  id,
  owner: 'hie',
  name,
  members: ['pat-7f3a9c', 'pat-e01b44'],
  versionId,
  lastUpdated: new Date(0).toISOString(),
});
const fileOf = (dir: string, practice: string, id: string) => join(dir, 'groups', practice, `${id}.json`);

describe('FileGroups', () => {
  it('seals each group, bound to its practice and id, and reads it back', async () => {
    const dir = dataDir();
    const groups = new FileGroups({ dir, resourceIdKey: KEY });
    const g = group('north', 1, 'Cohort of the north wing');
    await groups.put('1001', g, 0);
    const bytes = readFileSync(fileOf(dir, '1001', 'north'));
    for (const secret of ['Cohort of the north wing', 'pat-7f3a9c', 'pat-e01b44', 'hie']) expect(bytes.includes(secret)).toBe(false);
    expect(bytes[0]).toBe(0);
    expect(await groups.get('1001', 'north')).toEqual(g);
    // Copied over another group's file, or into another practice, it does not open; nor under another key.
    copyFileSync(fileOf(dir, '1001', 'north'), fileOf(dir, '1001', 'south'));
    mkdirSync(join(dir, 'groups', '1002'), { recursive: true });
    copyFileSync(fileOf(dir, '1001', 'north'), fileOf(dir, '1002', 'north'));
    expect(await groups.get('1001', 'south')).toBeUndefined();
    expect(await groups.get('1002', 'north')).toBeUndefined();
    expect(await new FileGroups({ dir, resourceIdKey: `${KEY}-other` }).get('1001', 'north')).toBeUndefined();
    expect((await groups.list('1001')).map((x) => x.id)).toEqual(['north']);
  });

  it('seals at start the groups an earlier version wrote in clear, and takes no file in clear for a group after', async () => {
    const dir = dataDir();
    const groups = new FileGroups({ dir, resourceIdKey: KEY });
    const old = group('legacy', 1, 'Written in clear');
    mkdirSync(join(dir, 'groups', '1001'), { recursive: true, mode: 0o700 });
    writeFileSync(fileOf(dir, '1001', 'legacy'), JSON.stringify(old), { mode: 0o600 });
    expect(await groups.sealPlain()).toBe(1);
    expect(readFileSync(fileOf(dir, '1001', 'legacy')).includes('Written in clear')).toBe(false);
    expect(await groups.get('1001', 'legacy')).toEqual(old);
    expect(await groups.sealPlain()).toBe(0);
    // A file in clear put there later (by hand, over a sealed group) is not a group.
    writeFileSync(fileOf(dir, '1001', 'legacy'), JSON.stringify(group('legacy', 7, 'Forged in clear')), { mode: 0o600 });
    expect(await groups.get('1001', 'legacy')).toBeUndefined();
    expect(await groups.list('1001')).toEqual([]);
  });

  it('takes over a lock left by a dead process, and answers unavailable while a live one holds it', async () => {
    const dir = dataDir();
    const groups = new FileGroups({ dir, resourceIdKey: KEY });
    const lock = join(dir, 'groups', '1001', '.lock');
    mkdirSync(join(dir, 'groups', '1001'), { recursive: true, mode: 0o700 });
    writeFileSync(lock, '');
    const minuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lock, minuteAgo, minuteAgo);
    await groups.put('1001', group('a', 1), 0);
    expect(existsSync(lock)).toBe(false);
    // A fresh lock: another process is writing. This write waits about two seconds, then gives up.
    writeFileSync(lock, '');
    const started = Date.now();
    await expect(groups.put('1001', group('b', 1), 0)).rejects.toBeInstanceOf(GroupStoreUnavailable);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    // Not its lock: left for its holder.
    expect(existsSync(lock)).toBe(true);
    rmSync(lock);
    await groups.put('1001', group('b', 1), 0);
    expect(readdirSync(join(dir, 'groups', '1001')).sort()).toEqual(['a.json', 'b.json']);
  });
});

describe('FileGroups across processes (WORKERS > 1, no Redis)', () => {
  const dir = dataDir();
  const workers: ChildProcess[] = [];
  let round = 0;

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const worker = fork(new URL('./helpers/group-files-worker.ts', import.meta.url), [dir, KEY], { execArgv: ['--import', 'tsx'] });
      await once(worker, 'message');
      workers.push(worker);
    }
  }, 30_000);
  afterAll(() => {
    for (const w of workers) w.kill();
  });

  /** Each worker writes its own group at once, conditional on `expected`; their outcomes, sorted. */
  const race = async (practice: string, groups: [StoredGroup, StoredGroup], expected: number): Promise<string[]> => {
    const r = ++round;
    const outcomes = workers.map(
      (w) =>
        new Promise<string>((resolve) => {
          const listen = (m: unknown) => {
            const reply = m as { round?: number; outcome?: string };
            if (reply.round !== r || reply.outcome === undefined) return;
            w.off('message', listen);
            resolve(reply.outcome);
          };
          w.on('message', listen);
        }),
    );
    workers.forEach((w, i) => w.send({ round: r, practice, group: groups[i], expected }));
    return (await Promise.all(outcomes)).sort();
  };

  it('lets exactly one of two processes write a version both read', async () => {
    const groups = new FileGroups({ dir, resourceIdKey: KEY });
    await groups.put('1001', group('shared', 1), 0);
    const ROUNDS = 20;
    for (let v = 1; v <= ROUNDS; v++) {
      expect(await race('1001', [group('shared', v + 1, `from-a-${v}`), group('shared', v + 1, `from-b-${v}`)], v)).toEqual(['changed', 'won']);
    }
    expect((await groups.get('1001', 'shared'))?.versionId).toBe(ROUNDS + 1);
    expect(readdirSync(join(dir, 'groups', '1001'))).toEqual(['shared.json']);
  });

  it('keeps the practice bound when two processes create its last group at once', async () => {
    const groups = new FileGroups({ dir, resourceIdKey: KEY });
    for (let i = 0; i < MAX_GROUPS_PER_PRACTICE - 1; i++) await groups.put('1002', group(`g${i}`, 1), 0);
    expect(await race('1002', [group('last-a', 1), group('last-b', 1)], 0)).toEqual(['full', 'won']);
    expect(await groups.list('1002')).toHaveLength(MAX_GROUPS_PER_PRACTICE);
  }, 60_000);
});
