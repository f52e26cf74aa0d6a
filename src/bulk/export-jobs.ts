/**
 * Bulk export jobs as the service keeps them: one folder per job under
 * `DATA_DIR/exports/<practice>/<job>/` holding `job.state` (the state, written atomically at
 * every checkpoint) and the encrypted output files (export-files.ts). The state says which
 * members are done and how long each file was then, so a job picks up after a restart exactly
 * where its last checkpoint left it — and whatever else is on disk is undone (`rollBack`). The
 * state is encrypted like the files (its kick-off URL and `_typeFilter`s may name a patient),
 * bound to its practice and job as associated data.
 *
 * A state that does not open in this format — an earlier version's (bound to the job id only),
 * one sealed under another key, a folder whose state was never written — is no job: `get`
 * finds nothing (the API answers 404), and the sweep deletes the folder once nothing has
 * changed in it for the retention period (`removeIdle`).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { cutBack, openFrames, writeSealed } from './export-files.ts';
import { join } from 'node:path';
import { z } from 'zod';

/** The types a job exports, in the order their files are listed. */
export const EXPORT_TYPES = ['Patient', 'Encounter', 'DocumentReference', 'Practitioner', 'Location', 'Organization'] as const;
export type ExportType = (typeof EXPORT_TYPES)[number];

const FilePartSchema = z.object({
  /** `Patient-1.ndjson`, `OperationOutcome-1.ndjson`. */
  name: z.string().regex(/^[A-Za-z]+-\d{1,6}\.ndjson$/),
  type: z.string(),
  count: z.number().int().min(0),
  bytes: z.number().int().min(0),
});
export type FilePart = z.infer<typeof FilePartSchema>;

export const JobSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  practiceId: z.string(),
  /** Who started it, the only one who may see it: a Backend Services client id, or a person's sign-in (`smart:{app}:{sign-in}`). */
  owner: z.string(),
  /**
   * Who started it as the API's audit lines name them (the caller key of auth/doors.ts),
   * recorded at kick-off; absent in states written before it was (export-audit.ts).
   */
  caller: z.string().optional(),
  status: z.enum(['running', 'done', 'failed']),
  /** The kick-off request's URL, as the manifest repeats it. */
  request: z.string(),
  transactionTime: z.string(),
  types: z.array(z.enum(EXPORT_TYPES)),
  since: z.string().optional(),
  /** Per type, the search parameters of its `_typeFilter`s (each filter a list of pairs; OR between filters). */
  typeFilters: z.record(z.string(), z.array(z.array(z.tuple([z.string(), z.string()])))),
  members: z.array(z.string()),
  /** How many members are done (their resources written and checkpointed). */
  next: z.number().int().min(0),
  files: z.array(FilePartSchema),
  /** Directory resources already written (each once per job). */
  seen: z.array(z.string()),
  /** Directory resources referenced that could not be read (each tried once per job; a warning line in `error`). */
  unresolved: z.array(z.string()).default([]),
  /** Members whose record could not be exported (each an OperationOutcome line in `error`). */
  failed: z.array(z.string()).default([]),
  /** Resources per file before a new part starts. */
  perFile: z.number().int().min(1),
  /** CCDs inline (base64 `data`) or as the URL of their Binary (BULK_EXPORT_ATTACHMENTS when the job started). */
  attachments: z.enum(['inline', 'binary']).default('inline'),
  /**
   * A person's export (SMART app token): it runs with the person's own Nextech access token,
   * as their API requests do, while their sign-in stands. The state is encrypted at rest, and
   * the token is dropped from it when the job ends.
   */
  person: z.object({ nextechToken: z.string().min(1).optional(), signIn: z.string().optional() }).optional(),
  /**
   * Whose Nextech credential the job calls with, decided at kick-off and never inferred: the
   * service's (Backend Services clients; states from before this field are theirs) or the
   * person's token above.
   */
  runAs: z.enum(['service', 'person']).default('service'),
  /** Why a failed job failed (no patient data): what its status answers. */
  failure: z.string().optional(),
  /** When the files are deleted (epoch ms). */
  expiresAt: z.number(),
  finishedAt: z.string().optional(),
});
export type Job = z.infer<typeof JobSchema>;

const SAFE = /^[A-Za-z0-9_-]{1,64}$/;
/** Marks a job folder renamed aside to be deleted (never a valid job id: ids have no '.'). */
const REMOVED = '.removed-';
const STATE = 'job.state';

export class JobStore {
  constructor(
    private readonly dir: string,
    /** The export files' key (export-files.ts): the state is sealed with it too. */
    private readonly key: Buffer,
  ) {}

  static newId(): string {
    return randomBytes(18).toString('base64url');
  }

  folder(practiceId: string, id: string): string | undefined {
    return SAFE.test(practiceId) && SAFE.test(id) ? join(this.dir, 'exports', practiceId, id) : undefined;
  }

  /** The job's state, if its folder holds one that opens as this job's (in its practice). */
  async get(practiceId: string, id: string): Promise<Job | undefined> {
    const folder = this.folder(practiceId, id);
    if (!folder) return undefined;
    try {
      // Read whole, in one go: a checkpoint may replace the file (rename) at any moment.
      const text = openFrames(await readFile(join(folder, STATE)), stateName(practiceId, id), this.key).toString('utf8');
      const parsed = JobSchema.safeParse(JSON.parse(text));
      return parsed.success && parsed.data.id === id && parsed.data.practiceId === practiceId ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Undoes on disk whatever the job's last checkpoint does not cover: files it lists are cut
   * back to their recorded length, anything else in the folder (a file started after it, a
   * state never renamed into place) is deleted. Only the runner holding the job calls it.
   */
  async rollBack(job: Job): Promise<void> {
    const folder = this.folder(job.practiceId, job.id) as string;
    const listed = new Map(job.files.map((f) => [f.name, f.bytes]));
    let names: string[];
    try {
      names = await readdir(folder);
    } catch (err) {
      // Removed meanwhile (cancelled): nothing left to undo.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names) {
      if (name !== STATE && !listed.has(name)) await rm(join(folder, name), { force: true, recursive: true });
    }
    for (const [name, bytes] of listed) await cutBack(join(folder, name), bytes);
  }

  /**
   * Writes the state atomically. Only a new job creates its folder: a checkpoint of a job
   * cancelled meanwhile (its folder removed) writes nothing, so it cannot come back.
   */
  async save(job: Job, create = false): Promise<boolean> {
    const folder = this.folder(job.practiceId, job.id);
    if (!folder) throw new Error('invalid job');
    if (create) await mkdir(folder, { recursive: true, mode: 0o700 });
    const temporary = join(folder, `${STATE}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeSealed(temporary, stateName(job.practiceId, job.id), this.key, JSON.stringify(job));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await rename(temporary, join(folder, STATE));
    return true;
  }

  /**
   * Removes a job's folder: first renamed aside in one step (a runner writing meanwhile finds
   * no folder, and a checkpoint cannot recreate it), then deleted; what a failed deletion
   * leaves is swept later (`sweepRemoved`).
   */
  async remove(practiceId: string, id: string): Promise<void> {
    const folder = this.folder(practiceId, id);
    if (!folder) return;
    const aside = `${folder}${REMOVED}${randomBytes(6).toString('hex')}`;
    try {
      await rename(folder, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await rm(aside, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Deletes what removals left behind (folders renamed aside). */
  async sweepRemoved(): Promise<void> {
    const root = join(this.dir, 'exports');
    for (const p of (await readdir(root).catch(() => [] as string[])).filter((x) => SAFE.test(x))) {
      for (const name of (await readdir(join(root, p)).catch(() => [] as string[])).filter((x) => x.includes(REMOVED))) {
        await rm(join(root, p, name), { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }

  /** Every job of a practice on disk (whichever replica started it). */
  async list(practiceId: string): Promise<Job[]> {
    if (!SAFE.test(practiceId)) return [];
    const ids = (await readdir(join(this.dir, 'exports', practiceId)).catch(() => [] as string[])).filter((x) => SAFE.test(x));
    const jobs = await Promise.all(ids.map((id) => this.get(practiceId, id)));
    return jobs.filter((j): j is Job => j !== undefined);
  }

  /**
   * Every job folder on disk, of every practice, with its state when that opens (for resuming,
   * expiry and the sweep): each state is read and opened once.
   */
  async scan(): Promise<{ practiceId: string; id: string; job: Job | undefined }[]> {
    const root = join(this.dir, 'exports');
    const out: { practiceId: string; id: string; job: Job | undefined }[] = [];
    for (const practiceId of (await readdir(root).catch(() => [] as string[])).filter((x) => SAFE.test(x))) {
      for (const id of (await readdir(join(root, practiceId)).catch(() => [] as string[])).filter((x) => SAFE.test(x))) {
        out.push({ practiceId, id, job: await this.get(practiceId, id) });
      }
    }
    return out;
  }

  /**
   * Removes a job folder in which nothing has changed for `idleMs` (every checkpoint renames
   * the state into it). For folders whose state does not open: not at once, since a replica
   * configured with another key must not delete what the others still serve, and a folder is
   * briefly without its state while a kick-off creates it.
   */
  async removeIdle(practiceId: string, id: string, idleMs: number): Promise<void> {
    const folder = this.folder(practiceId, id);
    if (!folder) return;
    const changed = await stat(folder).then((s) => s.mtimeMs, () => undefined);
    // The file system's clock, not the service's: modification times are wall-clock times.
    if (changed !== undefined && changed <= Date.now() - idleMs) await this.remove(practiceId, id);
  }
}

/** The associated data a job's state is sealed under: it opens only as that job's state, in its practice. */
const stateName = (practiceId: string, id: string) => JSON.stringify(['bulk-export-state', 2, practiceId, id]);
