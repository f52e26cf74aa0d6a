/**
 * A crash loses and duplicates nothing (issue 18, item 10). The service runs in a child
 * process (test/helpers/export-crash-entry.ts) whose export runner is killed with SIGKILL
 * between writing a file and checkpointing the job — at a type's first file, at a new later
 * part (BULK_EXPORT_FILE_RESOURCES small), at an append, and with the frame just written
 * torn in half — then restarted on the same DATA_DIR. The job completes, and compared with
 * an uninterrupted export of the same cohort it holds the same resources: no duplicate line,
 * every manifest count equal to its file's lines, nothing on disk but what its state lists.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { exportFileKey } from '../src/bulk/export-files.ts';
import { JobStore, type Job } from '../src/bulk/export-jobs.ts';
import { SANDBOX_RESOURCE_ID_KEY } from '../src/config.ts';
import { buildSandboxData } from '../src/sandbox/index.ts';
import { clientKeyPair, type ClientKeyPair } from './helpers/backend.ts';
import { auth, backendToken, finished, groupByChart, kickOff, type Manifest } from './helpers/bulk.ts';
import { freePort } from './helpers/real-servers.ts';
import { assertValidFhir } from './helpers/validator.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// The first patient has 28 encounters: with 4 resources a file, its Encounters take 7 parts.
const COHORT = buildSandboxData().practices[0]!.patients.slice(0, 3).map((p) => p.json.chartNumber);
const jobs = (dataDir: string) => new JobStore(dataDir, exportFileKey(SANDBOX_RESOURCE_ID_KEY));

let keys: ClientKeyPair;
const children: ChildProcess[] = [];

beforeAll(async () => {
  // Indexed now, not between two requests: a blocked event loop lets a kept-alive connection go stale under a request.
  assertValidFhir({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] });
  keys = await clientKeyPair('ES384');
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
});

interface Service {
  child: ChildProcess;
  origin: string;
  fhir: string;
  exited: Promise<NodeJS.Signals | null>;
}

/** The service in a child process on `port` and `dataDir`, armed to crash as `crash` says (or not). */
async function start(port: number, dataDir: string, crash: Record<string, string> = {}): Promise<Service> {
  const env = {
    PATH: process.env.PATH ?? '',
    TZ: process.env.TZ ?? 'UTC',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    BACKEND_CLIENTS: JSON.stringify([{ client_id: 'hie', jwks: keys.jwks, practices: ['1001'], scope: 'system/Group.cruds system/*.rs' }]),
    BULK_EXPORT_FILE_RESOURCES: '4',
    BULK_EXPORT_SHARE: '1',
    ...crash,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/export-crash-entry.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.push(child);
  // Every log line goes to the run-wide capture that test/global/log-scan.ts checks.
  const capture = inject('logCaptureFile');
  child.stdout?.on('data', (d: Buffer) => capture && appendFileSync(capture, d));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit').then(([, signal]) => signal as NodeJS.Signals | null);
  const origin = await Promise.race([
    once(child, 'message').then(([m]) => (m as { origin: string }).origin),
    exited.then(() => {
      throw new Error(`the service did not start: ${stderr}`);
    }),
  ]);
  return { child, origin, fhir: `${origin}/fhir`, exited };
}

/**
 * Kicks off an export on a connection of its own (never a kept-alive one the server may be
 * closing): the runner may kill the process before the answer is read, so no answer is awaited
 * beyond the connection's end.
 */
function kickOffAlone(fhir: string, t: string, groupId: string): Promise<void> {
  return new Promise((resolve) => {
    const req = get(`${fhir}/Group/${groupId}/$export`, { agent: false, headers: { ...auth(t), prefer: 'respond-async' } }, (res) => {
      res.resume();
      res.on('close', resolve);
    });
    req.on('error', () => resolve());
  });
}

/** The job's files as served: every line parsed, checked against its manifest count. */
async function exported(manifest: Manifest, t: string): Promise<string[]> {
  const ids: string[] = [];
  for (const o of manifest.output) {
    const text = await (await fetch(o.url, { headers: auth(t) })).text();
    const lines = text.trimEnd().split('\n');
    expect(lines, o.url).toHaveLength(o.count);
    for (const line of lines) {
      const r = JSON.parse(line) as { resourceType: string; id: string };
      expect(r.resourceType).toBe(o.type);
      ids.push(`${r.resourceType}/${r.id}`);
    }
  }
  return ids;
}

/** Bytes on disk the job's last checkpoint does not cover: files it does not list, or lengths past what it recorded. */
function uncovered(folder: string, job: Job): string[] {
  const listed = new Map(job.files.map((f) => [f.name, f.bytes]));
  return readdirSync(folder)
    .filter((name) => name !== 'job.state')
    .filter((name) => statSync(join(folder, name)).size !== listed.get(name));
}

const KILL_POINTS = [
  { name: "a type's first file (after six new parts in the same patient)", at: 'first', skip: '2' },
  { name: 'a next part', at: 'next-part', skip: '0' },
  { name: 'an append to a checkpointed file', at: 'append', skip: '0' },
  { name: 'a next part torn in half', at: 'next-part', skip: '3', tear: true },
  { name: 'an append torn in half', at: 'append', skip: '1', tear: true },
] as const;

describe('bulk export killed between a write and its checkpoint', () => {
  for (const k of KILL_POINTS) {
    it(`resumes after SIGKILL at ${k.name} with nothing lost or duplicated`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'facade-bulk-crash-'));
      const port = await freePort();
      const first = await start(port, dataDir, { EXPORT_CRASH_AT: k.at, EXPORT_CRASH_SKIP: k.skip, ...('tear' in k ? { EXPORT_CRASH_TEAR: '1' } : {}) });
      const t1 = await backendToken(first.origin, 'hie', keys);
      const group = await groupByChart(first.fhir, t1, COHORT);
      // The runner may be killed before the 202 is read; the job is on disk either way.
      await kickOffAlone(first.fhir, t1, group.id);
      expect(await first.exited).toBe('SIGKILL');
      const [jobId] = readdirSync(join(dataDir, 'exports', '1001'));
      const folder = join(dataDir, 'exports', '1001', jobId ?? '');
      const checkpoint = await jobs(dataDir).get('1001', jobId ?? '');
      expect(checkpoint?.status).toBe('running');
      // Killed where it was meant to be: something is on disk that the checkpoint does not cover.
      expect(uncovered(folder, checkpoint!).length).toBeGreaterThan(0);

      const second = await start(port, dataDir);
      const t2 = await backendToken(second.origin, 'hie', keys);
      const statusUrl = `${second.fhir}/bulk/status/${jobId ?? ''}`;
      const { manifest } = await finished(statusUrl, t2);
      expect(manifest.error).toEqual([]);
      const resumed = await exported(manifest, t2);
      expect(new Set(resumed).size).toBe(resumed.length);
      // On disk: the state and the files it lists, each exactly as long as recorded.
      const done = await jobs(dataDir).get('1001', jobId ?? '');
      expect(uncovered(folder, done!)).toEqual([]);
      expect(readdirSync(folder).sort()).toEqual(['job.state', ...manifest.output.map((o) => o.url.slice(o.url.lastIndexOf('/') + 1))].sort());

      // The same export, uninterrupted.
      const baseline = await finished(await kickOff(second.fhir, t2, group.id), t2);
      const expected = await exported(baseline.manifest, t2);
      expect([...resumed].sort()).toEqual([...expected].sort());
      expect(resumed.filter((r) => r.startsWith('Patient/')).sort()).toEqual(group.patients.map((p) => `Patient/${p}`).sort());
      expect(manifest.output.map((o) => [o.type, o.count])).toEqual(baseline.manifest.output.map((o) => [o.type, o.count]));
    }, 120_000);
  }
});
