/**
 * FHIR Bulk Data Access 2.0 on Group (https://hl7.org/fhir/uv/bulkdata/export.html):
 * - kick-off `GET|POST [base]/Group/{id}/$export` (`Prefer: respond-async` required) → 202 with
 *   `Content-Location` of the job's status URL;
 * - status `GET [base]/bulk/status/{job}` → 202 with `X-Progress` and `Retry-After` while it
 *   runs, 200 with the manifest when done; `DELETE` cancels and removes its files (202);
 * - files `GET [base]/bulk/files/{job}/{name}` → `application/fhir+ndjson`.
 * Who may call, and how much, is export-access.ts; a job is visible to the caller (client, or
 * person's sign-in) that started it only (anyone else: 404), in its practice. Every access —
 * kick-off, status poll, manifest, cancellation, each file — writes an audit line naming the
 * job (and file, and resource count); the job's own line names the Patients it exported
 * (export-audit.ts). A file that does not open as the one its job wrote (moved, altered) is
 * server-side tampering: 500, and not one line of it is served. A file gone since its job was
 * read (expired or cancelled during the request) is a 404, like any missing file.
 */
import { join } from 'node:path';
import type { Context, Hono } from 'hono';
import { allows } from '../auth/smart/scopes.ts';
import { forbidden } from '../auth/smart/compartment.ts';
import { badRequest, FhirError, notFound, outcome } from '../fhir/outcome.ts';
import { preferences } from '../fhir/prefer.ts';
import type { Services } from '../resources/context.ts';
import { resolveDeclared, storedGroup } from '../resources/group/index.ts';
import { auditAccess, auditLine } from '../routes/audit.ts';
import type { AppEnv } from '../routes/env.ts';
import { fhirJson } from '../routes/respond.ts';
import { searchInput } from '../routes/page-links.ts';
import { operationBodyPairs, queryPairs } from '../routes/request-pairs.ts';
import type { SharedStore } from '../shared/store.ts';
import { assertTypesAllowed, exportCaller, makeRoom, withKickOffTurn, type ExportCaller } from './export-access.ts';
import { resourcesOf } from './export-audit.ts';
import { FrameRefused, readFrames } from './export-files.ts';
import { JobStore, type Job } from './export-jobs.ts';
import type { ExportRunner } from './export-runner.ts';
import { parseKickOff } from './kick-off-params.ts';

export interface BulkExport {
  jobs: JobStore;
  runner: ExportRunner;
  fileKey: Buffer;
  /** The shared store (leases of kick-offs). */
  store: SharedStore;
}

const informational = (diagnostics: string) => ({ severity: 'information' as const, code: 'informational' as const, diagnostics });

export function bulkExportRoutes(api: Hono<AppEnv>, services: Services, bulk: BulkExport): void {
  const kickOff = async (c: Context<AppEnv>, read: () => Promise<[string, string][]>) => {
    const caller = await exportCaller(c, services);
    const { ctx } = caller;
    // The caller passed a door before its body is read; its parameters (the `_typeFilter`s' included) within the caps.
    const { pairs } = searchInput(await read());
    const prefer = preferences(c.req.header('prefer'));
    if (!prefer.respondAsync) throw badRequest('Bulk export is asynchronous: send Prefer: respond-async');
    const group = await storedGroup(ctx, c.req.param('id') ?? '');
    const params = parseKickOff(pairs, ctx.baseUrl, { lenient: prefer.handling === 'lenient' });
    assertTypesAllowed(caller, params.types);
    // A group declared in configuration is resolved now (422 naming a member that names no
    // patient), before the caller's turn: its turn then spans only the count and the save.
    const members = group.declared ? await resolveDeclared(ctx, group.declared) : group.members;
    const job = await withKickOffTurn(bulk.store, caller, async () => {
      const evictOldest = await makeRoom(bulk.jobs, ctx.call.practiceId, caller.owner, services.now());
      const created = newJob(caller, services, { ...params, members, request: `${ctx.baseUrl}/Group/${group.id}/$export${new URL(c.req.url).search}` });
      await bulk.jobs.save(created, true);
      await evictOldest();
      return created;
    });
    bulk.runner.start(job);
    auditLine(c, 'operation:export', 'Group', { resourceType: 'Group', id: group.id }, { job: job.id });
    const accepted = { resourceType: 'OperationOutcome' as const, issue: [informational(`Export of ${job.members.length} patients accepted`), ...params.notes] };
    return fhirJson(c, accepted, 202, { 'content-location': `${ctx.baseUrl}/bulk/status/${job.id}` });
  };
  api.get('/Group/:id/$export', (c) => kickOff(c, () => Promise.resolve(queryPairs(c))));
  api.post('/Group/:id/$export', (c) => kickOff(c, async () => [...queryPairs(c), ...(await operationBodyPairs(c))]));

  /** The caller's own job, or 404 (another client's, person's or practice's job does not exist for it). */
  const ownJob = async (c: Context<AppEnv>): Promise<{ ctx: ExportCaller['ctx']; job: Job }> => {
    const { ctx, owner } = await exportCaller(c, services);
    const job = await bulk.jobs.get(ctx.call.practiceId, c.req.param('job') ?? '');
    if (!job || job.owner !== owner || (job.finishedAt !== undefined && job.expiresAt <= services.now())) {
      throw new FhirError(404, outcome('error', 'not-found', 'No such export job (unknown, expired, cancelled, or not yours)'));
    }
    return { ctx, job };
  };

  api.get('/bulk/status/:job', async (c) => {
    const { ctx, job } = await ownJob(c);
    const interaction = job.status === 'done' ? 'export-manifest' : 'export-status';
    auditAccess(c, interaction, 'Group', { job: job.id, resources: resourcesOf(job), outcome: job.status });
    if (job.status === 'failed') {
      return fhirJson(c, { resourceType: 'OperationOutcome', issue: [{ severity: 'fatal', code: 'exception', diagnostics: job.failure ?? 'The export failed; start a new one' }] }, 500);
    }
    if (job.status === 'running') return c.body(null, 202, { 'x-progress': progressOf(job, bulk.runner), 'retry-after': '2', 'cache-control': 'no-store' });
    const fileUrl = (name: string) => `${ctx.baseUrl}/bulk/files/${job.id}/${name}`;
    const manifest = {
      transactionTime: job.transactionTime,
      request: job.request,
      requiresAccessToken: true,
      output: job.files.filter((f) => f.type !== 'OperationOutcome').map((f) => ({ type: f.type, url: fileUrl(f.name), count: f.count })),
      error: job.files.filter((f) => f.type === 'OperationOutcome').map((f) => ({ type: 'OperationOutcome', url: fileUrl(f.name), count: f.count })),
    };
    return c.json(manifest, 200, { expires: new Date(job.expiresAt).toUTCString(), 'cache-control': 'no-store' });
  });

  api.delete('/bulk/status/:job', async (c) => {
    const { job } = await ownJob(c);
    await bulk.runner.cancel(job);
    auditAccess(c, 'export-cancel', 'Group', { job: job.id, resources: resourcesOf(job), outcome: 'cancelled' });
    return fhirJson(c, { resourceType: 'OperationOutcome', issue: [informational('Export cancelled; its files are deleted')] }, 202);
  });

  api.get('/bulk/files/:job/:name', async (c) => {
    const { ctx, job } = await ownJob(c);
    // Only a finished export's files are served: those of a running job may still be cut back
    // on resume (and are in no manifest yet), a failed job's are no export at all.
    const file = job.status === 'done' ? job.files.find((f) => f.name === c.req.param('name')) : undefined;
    if (!file) throw notFound('file');
    // The same token checks as the API: a token that may no longer read the type gets none of it.
    if (file.type !== 'OperationOutcome' && allows(ctx.grant.scopes, file.type, 'read') === undefined) {
      throw forbidden(`The access token's scopes do not allow reading ${file.type}`);
    }
    const folder = bulk.jobs.folder(job.practiceId, job.id) as string;
    const frames = readFrames(join(folder, file.name), { practiceId: job.practiceId, jobId: job.id, name: file.name }, bulk.fileKey, file.bytes);
    const audited = { job: job.id, file: file.name, resources: file.count };
    const refused = () => {
      c.var.log.error({ job: job.id, file: file.name }, 'bulk export file failed its integrity check');
      auditAccess(c, 'export-file', file.type, { ...audited, outcome: 'integrity-check-failed' });
    };
    // The first frame is opened before answering: a file that is not this job's gets a 500, not a 200 cut short.
    let first: IteratorResult<Buffer>;
    try {
      first = await frames.next();
    } catch (err) {
      // Gone since the job was read (it expired, or was cancelled, meanwhile): missing like any other file, not tampering.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound('file');
      if (!(err instanceof FrameRefused)) throw err;
      refused();
      throw new FhirError(500, outcome('error', 'exception', 'This export file failed its integrity check and is not served; start a new export'));
    }
    auditAccess(c, 'export-file', file.type, audited);
    let pending: IteratorResult<Buffer> | undefined = first;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = pending ?? (await frames.next());
          pending = undefined;
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (err) {
          // A later frame that does not open: the answer stops there, unterminated (nothing of it is sent).
          if (err instanceof FrameRefused) refused();
          controller.error(new Error('export file unreadable'));
        }
      },
      async cancel() {
        await frames.return(undefined);
      },
    });
    // Chunked, always: the adapter would otherwise read ahead to size a short answer, and a
    // frame failing in that read-ahead would be answered as a whole (shorter) file. Chunked, a
    // failure breaks the transfer off unterminated, which every HTTP client reports.
    return new Response(stream, {
      status: 200,
      headers: { 'content-type': 'application/fhir+ndjson', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'transfer-encoding': 'chunked' },
    });
  });
}

/**
 * `X-Progress`: a percentage first (clients such as SMART's bulk-data-client read the leading
 * number as one), then the patients done; "queued" while it waits for a run slot here.
 */
function progressOf(job: Job, runner: ExportRunner): string {
  if (job.next === 0 && runner.isQueued(job.id)) return 'queued';
  const total = job.members.length;
  return `${total === 0 ? 100 : Math.floor((job.next * 100) / total)}% (${job.next} of ${total} patients)`;
}

/** A new job's state: the caller's, its parameters, nothing done yet. */
function newJob(caller: ExportCaller, services: Services, p: ReturnType<typeof parseKickOff> & { members: string[]; request: string }): Job {
  return {
    id: JobStore.newId(),
    practiceId: caller.ctx.call.practiceId,
    owner: caller.owner,
    caller: caller.ctx.callerKey,
    status: 'running',
    request: p.request,
    transactionTime: new Date(services.now()).toISOString(),
    types: p.types,
    ...(p.since ? { since: p.since } : {}),
    typeFilters: p.typeFilters,
    members: p.members,
    next: 0,
    files: [],
    seen: [],
    unresolved: [],
    failed: [],
    perFile: services.config.bulk.resourcesPerFile,
    attachments: services.config.bulk.attachments,
    ...(caller.person ? { person: caller.person, runAs: 'person' as const } : { runAs: 'service' as const }),
    expiresAt: Number.MAX_SAFE_INTEGER,
  };
}
