/**
 * Bulk export access is audited and its files are bound to their job (issue 18, item 6):
 * - the kick-off, every status poll, the manifest, every file download and a cancellation
 *   write an audit line naming the caller, practice, job, file and resource count, and the
 *   job's own line names the Patient ids it exported — never a name or chart number;
 * - an encrypted file moved into another job's folder (of the same practice or another) is
 *   refused with a 500 OperationOutcome, logged and audited, and none of its lines is served;
 *   a file deleted meanwhile (its job expired or was cancelled during the download) is a 404;
 * - a job whose state does not open in the current format (an earlier version's) is gone:
 *   404, never served nor resumed, its folder deleted once idle for the retention period.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportFileKey, sealFrame } from '../src/bulk/export-files.ts';
import { JobStore, type Job } from '../src/bulk/export-jobs.ts';
import { SANDBOX_RESOURCE_ID_KEY } from '../src/config.ts';
import { buildSandboxData } from '../src/sandbox/index.ts';
import { clientKeyPair, type ClientKeyPair } from './helpers/backend.ts';
import { auth, backendToken, finished, groupByChart, jobIdOf, kickOff, ndjson, outputs } from './helpers/bulk.ts';
import { expectOutcome, startTestService, type TestService } from './helpers/service.ts';
import { assertValidFhir } from './helpers/validator.ts';

const data = buildSandboxData();
const charts = (practice: number, from: number, n: number) => data.practices[practice]!.patients.slice(from, from + n).map((p) => p.json.chartNumber);

let keys: ClientKeyPair;
let env: Record<string, string>;
let svc: TestService;

beforeAll(async () => {
  // Indexed now, not between two requests: a blocked event loop lets a kept-alive connection go stale under a request.
  assertValidFhir({ resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] });
  keys = await clientKeyPair('ES384');
  env = {
    BACKEND_CLIENTS: JSON.stringify([{ client_id: 'hie', jwks: keys.jwks, practices: ['1001', '1002'], scope: 'system/Group.cruds system/*.rs' }]),
    BULK_EXPORT_FILE_RESOURCES: '3',
  };
  svc = await startTestService(env);
});
afterAll(() => svc.close());

const auditLines = (s: TestService, job: string) => s.logs.filter((l) => l.log === 'audit' && l.job === job);

describe('bulk export audit', () => {
  it('audits the kick-off, every status poll, the manifest, each file and the job itself, naming the exported Patient ids and no patient data', async () => {
    const t = await backendToken(svc.origin, 'hie', keys);
    const cohort = charts(0, 1, 4);
    const { id, patients } = await groupByChart(svc.fhir, t, cohort);
    const statusUrl = await kickOff(svc.fhir, t, id, '?_type=Patient,Encounter');
    const job = jobIdOf(statusUrl);
    const { manifest, polls } = await finished(statusUrl, t);
    // One more look at the manifest, and every file read.
    expect((await fetch(statusUrl, { headers: auth(t) })).status).toBe(200);
    const files = await outputs(manifest, t);
    expect(files.length).toBeGreaterThan(2);

    const lines = auditLines(svc, job);
    for (const l of lines) expect(l).toMatchObject({ caller: 'backend:hie', practice: '1001', job });
    expect(lines.filter((l) => l.interaction === 'operation:export')).toEqual([expect.objectContaining({ resourceType: 'Group', ids: [`Group/${id}`] })]);
    // Every poll, running or done, is a line; the manifest's carry the count of exported resources.
    const statusLines = lines.filter((l) => l.interaction === 'export-status' || l.interaction === 'export-manifest');
    expect(statusLines).toHaveLength(polls + 1);
    const total = manifest.output.reduce((n, o) => n + o.count, 0);
    expect(lines.filter((l) => l.interaction === 'export-manifest')).toEqual([
      expect.objectContaining({ outcome: 'done', resources: total }),
      expect.objectContaining({ outcome: 'done', resources: total }),
    ]);
    // Each file download: its name and how many resources it holds.
    const fileLines = lines.filter((l) => l.interaction === 'export-file');
    expect(fileLines.map((l) => [l.file, l.resourceType, l.resources]).sort()).toEqual(
      files.map(({ entry, resources }) => [entry.url.slice(entry.url.lastIndexOf('/') + 1), entry.type, resources.length]).sort(),
    );
    // The job's own line names the Patients it exported.
    const own = lines.filter((l) => l.interaction === 'export-job');
    expect(own).toHaveLength(1);
    expect(own[0]).toMatchObject({ outcome: 'done', resources: total, errors: 0 });
    expect([...(own[0]?.ids as string[])].sort()).toEqual(patients.map((p) => `Patient/${p}`).sort());
    // Opaque ids only: no chart number, name or birth date of the cohort in any of these lines.
    const text = JSON.stringify(lines);
    for (const p of data.practices[0]!.patients.slice(1, 5)) {
      for (const value of [p.json.chartNumber, p.json.lastName, p.json.firstName, p.json.dob, p.birthDate]) expect(text).not.toContain(value);
    }
    // A cancellation (here: deleting the finished job) is audited too.
    expect((await fetch(statusUrl, { method: 'DELETE', headers: auth(t) })).status).toBe(202);
    expect(auditLines(svc, job).filter((l) => l.interaction === 'export-cancel')).toEqual([expect.objectContaining({ outcome: 'cancelled', resources: total })]);
  }, 90_000);
});

describe('bulk export files moved between jobs', () => {
  it('refuses a file moved from another job, of the same practice or another, with a 500 OperationOutcome, serving none of its lines', async () => {
    const t = await backendToken(svc.origin, 'hie', keys);
    const elsewhere = `${svc.origin}/practices/1002/fhir`;
    // Bigger cohorts than the victim's: their first frames fit within its recorded length.
    const donors = [
      { fhir: elsewhere, practice: '1002', group: await groupByChart(elsewhere, t, charts(1, 0, 3)) },
      { fhir: svc.fhir, practice: '1001', group: await groupByChart(svc.fhir, t, charts(0, 10, 3)) },
    ];
    const victim = await groupByChart(svc.fhir, t, charts(0, 20, 3));
    const victimUrl = await kickOff(svc.fhir, t, victim.id, '?_type=Patient');
    const { manifest } = await finished(victimUrl, t);
    const fileUrl = manifest.output[0]?.url ?? '';
    expect(fileUrl.endsWith('/Patient-1.ndjson')).toBe(true);
    expect((await ndjson(fileUrl, t)).map((r) => r.id).sort()).toEqual([...victim.patients].sort());
    const victimFile = join(svc.running.config.dataDir, 'exports', '1001', jobIdOf(victimUrl), 'Patient-1.ndjson');
    const original = join(tmpdir(), `facade-victim-${jobIdOf(victimUrl)}`);
    copyFileSync(victimFile, original);

    for (const donor of donors) {
      const donorUrl = await kickOff(donor.fhir, t, donor.group.id, '?_type=Patient');
      await finished(donorUrl, t);
      // Someone who can write DATA_DIR puts the donor's file in the victim's folder, under the victim's name.
      copyFileSync(join(svc.running.config.dataDir, 'exports', donor.practice, jobIdOf(donorUrl), 'Patient-1.ndjson'), victimFile);
      const before = svc.logs.length;
      const res = await fetch(fileUrl, { headers: auth(t) });
      expect(res.status).toBe(500);
      const body = await res.text();
      expect(res.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
      const outcome = JSON.parse(body) as { resourceType: string; issue: { code: string }[] };
      expect(outcome).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'exception' }] });
      for (const p of donor.group.patients) expect(body).not.toContain(p);
      const logged = svc.logs.slice(before);
      expect(logged.some((l) => l.msg === 'bulk export file failed its integrity check' && l.job === jobIdOf(victimUrl))).toBe(true);
      expect(logged.filter((l) => l.log === 'audit' && l.interaction === 'export-file')).toEqual([
        expect.objectContaining({ job: jobIdOf(victimUrl), file: 'Patient-1.ndjson', outcome: 'integrity-check-failed' }),
      ]);
    }
    // Its own file back in place, it is served again.
    copyFileSync(original, victimFile);
    expect((await ndjson(fileUrl, t)).map((r) => r.id).sort()).toEqual([...victim.patients].sort());
  }, 90_000);

  it('never answers a file damaged after its first frame as a complete 200: the answer breaks off, unterminated', async () => {
    const t = await backendToken(svc.origin, 'hie', keys);
    const group = await groupByChart(svc.fhir, t, charts(0, 30, 3));
    const url = await kickOff(svc.fhir, t, group.id, '?_type=Patient');
    const { manifest } = await finished(url, t);
    const fileUrl = manifest.output[0]?.url ?? '';
    const file = join(svc.running.config.dataDir, 'exports', '1001', jobIdOf(url), 'Patient-1.ndjson');
    const bytes = readFileSync(file);
    // The second frame's tag (its last byte) flipped: the first still opens, and is answered.
    // Each frame is its length (4 bytes) and that many bytes.
    const second = 4 + bytes.readUInt32BE(0);
    const end = second + 4 + bytes.readUInt32BE(second) - 1;
    expect(end).toBeLessThan(bytes.length - 1);
    const damaged = Buffer.from(bytes);
    damaged[end] = (damaged[end] ?? 0) ^ 0xff;
    writeFileSync(file, damaged);
    try {
      // Compressed too (br, gzip): the compressed stream breaks off with the file, never ends cleanly.
      for (const coding of ['identity', 'gzip', 'br']) {
        const before = svc.logs.length;
        const res = await fetch(fileUrl, { headers: { ...auth(t), 'accept-encoding': coding } });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-encoding')).toBe(coding === 'identity' ? null : coding);
        // A client reading it sees the transfer fail, never a shorter file that looks whole.
        await expect(res.text()).rejects.toThrow();
        expect(svc.logs.slice(before).some((l) => l.msg === 'bulk export file failed its integrity check')).toBe(true);
      }
    } finally {
      writeFileSync(file, bytes);
    }
    expect(await ndjson(fileUrl, t)).toHaveLength(3);
  }, 60_000);
});

describe('bulk export file gone during a download', () => {
  it('answers 404 for a file deleted after its job was read (expired or cancelled meanwhile), not an integrity failure', async () => {
    const t = await backendToken(svc.origin, 'hie', keys);
    const { id } = await groupByChart(svc.fhir, t, charts(0, 40, 2));
    const statusUrl = await kickOff(svc.fhir, t, id, '?_type=Patient');
    const { manifest } = await finished(statusUrl, t);
    const fileUrl = manifest.output[0]?.url ?? '';
    expect(fileUrl.endsWith('/Patient-1.ndjson')).toBe(true);
    // Where a cancellation or the expiry sweep leaves a download that has read the job but not yet opened the file: the state is there, the file is not.
    rmSync(join(svc.running.config.dataDir, 'exports', '1001', jobIdOf(statusUrl), 'Patient-1.ndjson'));
    const before = svc.logs.length;
    const { issue } = await expectOutcome(fileUrl, 404, { headers: auth(t) });
    expect(issue.code).toBe('not-found');
    const logged = svc.logs.slice(before);
    expect(logged.filter((l) => Number(l.level) >= 50)).toEqual([]);
    expect(logged.filter((l) => l.outcome === 'integrity-check-failed')).toEqual([]);
  }, 60_000);
});

describe('bulk export jobs of an earlier format', () => {
  it('treats a job whose state does not open in the current format as gone (404, neither served nor resumed), and deletes its folder once idle for the retention period; a current job from before the caller key was kept still runs', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'facade-bulk-legacy-'));
    const first = await startTestService({ ...env, DATA_DIR: dataDir });
    const t1 = await backendToken(first.origin, 'hie', keys);
    const { id: groupId, patients } = await groupByChart(first.fhir, t1, charts(0, 30, 2));
    await first.close();
    const key = exportFileKey(SANDBOX_RESOURCE_ID_KEY);
    const jobOf = (status: Job['status']): Job => ({
      id: JobStore.newId(),
      practiceId: '1001',
      owner: 'hie',
      status,
      request: `${first.fhir}/Group/${groupId}/$export?_type=Patient`,
      transactionTime: new Date().toISOString(),
      types: ['Patient'],
      typeFilters: {},
      members: patients,
      next: status === 'done' ? patients.length : 0,
      files: [],
      seen: [],
      unresolved: [],
      failed: [],
      perFile: 3,
      attachments: 'inline',
      runAs: 'service',
      expiresAt: status === 'done' ? Date.now() + 3_600_000 : Number.MAX_SAFE_INTEGER,
      ...(status === 'done' ? { finishedAt: new Date().toISOString() } : {}),
    });
    const folderOf = (job: Job) => join(dataDir, 'exports', '1001', job.id);
    // As the earlier version wrote a job: its state sealed under `job-state:{id}`, its frames under the file name.
    const writeEarlier = (job: Job, lines: string) => {
      mkdirSync(folderOf(job), { recursive: true, mode: 0o700 });
      const frame = sealFrame('Patient-1.ndjson', key, lines);
      writeFileSync(join(folderOf(job), 'Patient-1.ndjson'), frame, { mode: 0o600 });
      const files = [{ name: 'Patient-1.ndjson', type: 'Patient', count: lines.trimEnd().split('\n').length, bytes: frame.length }];
      writeFileSync(join(folderOf(job), 'job.state'), sealFrame(`job-state:${job.id}`, key, JSON.stringify({ ...job, next: files[0]!.count, files })), { mode: 0o600 });
    };
    const idleSince = (job: Job, ms: number) => utimesSync(folderOf(job), new Date(Date.now() - ms), new Date(Date.now() - ms));
    const line = (id: string) => `${JSON.stringify({ resourceType: 'Patient', id })}\n`;
    // A finished one untouched for two days (past the 24-hour retention), an unfinished one written just now.
    const stale = jobOf('done');
    writeEarlier(stale, patients.map(line).join(''));
    idleSince(stale, 48 * 3_600_000);
    const recent = jobOf('running');
    writeEarlier(recent, line(patients[0] ?? ''));
    // A job of the current format written before jobs kept their caller key.
    const current = jobOf('running');
    await new JobStore(dataDir, key).save(current, true);

    const second = await startTestService({ ...env, DATA_DIR: dataDir });
    try {
      const t = await backendToken(second.origin, 'hie', keys);
      const statusOf = (job: Job) => `${second.fhir}/bulk/status/${job.id}`;
      // The idle one is deleted at start; the recent one is kept for now (another replica's key might open it), but is no job here.
      await expectOutcome(statusOf(stale), 404, { headers: auth(t) });
      expect(existsSync(folderOf(stale))).toBe(false);
      await expectOutcome(statusOf(recent), 404, { headers: auth(t) });
      await expectOutcome(`${second.fhir}/bulk/files/${recent.id}/Patient-1.ndjson`, 404, { headers: auth(t) });
      expect(readdirSync(folderOf(recent)).sort()).toEqual(['Patient-1.ndjson', 'job.state']);
      // The current job runs to its end; its own audit line names the client's caller key all the same.
      const { manifest } = await finished(statusOf(current), t);
      expect((await outputs(manifest, t)).flatMap((f) => f.resources.map((r) => r.id)).sort()).toEqual([...patients].sort());
      expect(second.logs.filter((l) => l.log === 'audit' && l.job === current.id && l.interaction === 'export-job')).toEqual([
        expect.objectContaining({ caller: 'backend:hie', outcome: 'done' }),
      ]);
      // Never resumed: once idle as long as a finished job is kept, the sweep deletes it.
      idleSince(recent, 25 * 3_600_000);
      await second.running.bulk.runner.resumeAll();
      expect(existsSync(folderOf(recent))).toBe(false);
      expect(existsSync(folderOf(current))).toBe(true);
    } finally {
      await second.close();
    }
  }, 90_000);
});
