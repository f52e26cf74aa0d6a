/**
 * FHIR Bulk Data Access 2.0 on Group (https://hl7.org/fhir/uv/bulkdata/export.html):
 * - kick-off `GET|POST [base]/Group/{id}/$export` (`Prefer: respond-async` required) → 202 with
 *   `Content-Location` of the job's status URL;
 * - status `GET [base]/bulk/status/{job}` → 202 with `X-Progress` and `Retry-After` while it
 *   runs, 200 with the manifest when done; `DELETE` cancels and removes its files (202);
 * - files `GET [base]/bulk/files/{job}/{name}` → `application/fhir+ndjson`.
 * SMART Backend Services clients, and people's SMART tokens whose scopes cover what is
 * exported; a job is visible to the client (or person's sign-in) that started it only
 * (anyone else: 404), in its practice.
 */
import type { Context, Hono } from 'hono';
import type { OperationOutcomeIssue } from 'fhir/r4';
import { allows } from '../auth/smart/scopes.ts';
import { forbidden } from '../auth/smart/compartment.ts';
import { badRequest, FhirError, notFound, outcome } from '../fhir/outcome.ts';
import { parseSearch } from '../fhir/search/parse.ts';
import type { RequestContext, Services } from '../resources/context.ts';
import { resourceModules, searchParamIndex } from '../resources/registry.ts';
import { auditLine } from '../routes/audit.ts';
import type { AppEnv } from '../routes/env.ts';
import { requestContext } from '../routes/request-context.ts';
import { fhirJson } from '../routes/respond.ts';
import { operationBodyPairs, queryPairs } from '../routes/request-pairs.ts';
import { readFrames } from './export-files.ts';
import { EXPORT_TYPES, JobStore, type ExportType, type Job } from './export-jobs.ts';
import type { ExportRunner } from './export-runner.ts';
import { assertMembersVisible, resolveDeclared, storedGroup } from '../resources/group/index.ts';
import { join } from 'node:path';

export interface BulkExport {
  jobs: JobStore;
  runner: ExportRunner;
  fileKey: Buffer;
}

// A `+` sent unencoded in a query arrives as a space.
const OUTPUT_FORMATS = new Set(['application/fhir+ndjson', 'application/fhir ndjson', 'application/ndjson', 'ndjson']);
/** Kick-off parameters that do not narrow the export: ignored, and named so in the 202's OperationOutcome. */
const IGNORED = new Set(['includeAssociatedData', 'organizeOutputBy', 'allowPartialManifests']);
/** Kick-off parameters that would narrow it: refused rather than ignored (ignoring them would export more than asked). */
const UNSUPPORTED = new Set(['patient', '_elements']);
/** The types whose resources a `_typeFilter` can select (the others have no search). */
const FILTERABLE = new Set(['Patient', 'Encounter', 'DocumentReference']);
/** Exports one client may have unfinished (running or queued) at once; more wait their turn (429). */
export const MAX_ACTIVE_PER_CLIENT = 3;
/** Exports (unfinished, or finished and not yet expired) kept per client. */
export const MAX_KEPT_PER_CLIENT = 20;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

type Grant = NonNullable<RequestContext['grant']>;

/** A caller of bulk export: who it is, and whose jobs it sees. */
interface ExportCaller {
  ctx: RequestContext & { grant: Grant };
  /** Whose jobs these are: the Backend Services client, or the person's sign-in in that app. */
  owner: string;
  /** A person's token (a SMART app): its scopes, and Nextech, decide whose data it may export. */
  person: boolean;
}

/**
 * Bulk export is for SMART Backend Services clients with system/Group scopes, and for a
 * person's SMART token (see `assertPersonMayExport`); every other door is refused.
 */
async function exportCaller(c: Context<AppEnv>, services: Services): Promise<ExportCaller> {
  const ctx = await requestContext(c, services);
  const grant = ctx.grant;
  if (grant && ctx.door === 'backend') {
    if (allows(grant.scopes, 'Group', 'read') !== 'system') throw forbidden('Bulk export by a Backend Services client needs system/Group scopes');
    // Jobs of Backend Services clients have always been theirs by client id.
    return { ctx: ctx as ExportCaller['ctx'], owner: grant.clientId, person: false };
  }
  if (grant && ctx.door === 'smart') return { ctx: ctx as ExportCaller['ctx'], owner: ctx.callerKey, person: true };
  throw forbidden('Bulk export needs a SMART access token: a Backend Services client\'s, or an app\'s a person signed in to');
}

/**
 * A person's token may export a group when its scopes cover every exported type for every
 * member: with patient scopes, every member must be the patient in context; with user scopes,
 * Nextech must let the person see every member — checked now, one call per member with the
 * person's own Nextech sign-in. The job itself then runs on the service's credential, as
 * every export does (a person's Nextech token would expire long before a large export ends).
 */
async function assertPersonMayExport(ctx: ExportCaller['ctx'], types: readonly ExportType[], members: readonly string[]): Promise<void> {
  if (ctx.services.config.auth !== 'managed') throw forbidden('Exports for a person\'s token need the service\'s own Nextech credentials (NEXTECH_AUTH=managed)');
  const levels = types.map((t) => allows(ctx.grant.scopes, t, 'read'));
  if (levels.includes('patient')) {
    if (members.some((m) => m !== ctx.grant.patient)) throw forbidden('The access token\'s patient scopes cover only the patient in context; the group has other patients');
    return;
  }
  await assertMembersVisible(ctx, members);
}

export function bulkExportRoutes(api: Hono<AppEnv>, services: Services, bulk: BulkExport): void {
  /**
   * One client's exports cannot crowd out another's, nor fill the disk: a few unfinished at a
   * time each, and a bounded number kept. Counted over the jobs on disk, so across replicas.
   */
  const assertRoomFor = async (clientId: string, practiceId: string) => {
    const now = services.now();
    const mine = (await bulk.jobs.list(practiceId)).filter((j) => j.owner === clientId && !(j.finishedAt !== undefined && j.expiresAt <= now));
    if (mine.filter((j) => j.status === 'running').length >= MAX_ACTIVE_PER_CLIENT) {
      throw new FhirError(429, outcome('error', 'throttled', `At most ${MAX_ACTIVE_PER_CLIENT} exports per client are unfinished at once; retry when one has finished`), { 'Retry-After': '30' });
    }
    if (mine.length >= MAX_KEPT_PER_CLIENT) {
      throw new FhirError(429, outcome('error', 'throttled', `At most ${MAX_KEPT_PER_CLIENT} exports per client are kept; DELETE the status URLs of those already downloaded`), { 'Retry-After': '60' });
    }
  };

  const kickOff = async (c: Context<AppEnv>, read: () => Promise<[string, string][]>) => {
    const { ctx, owner, person } = await exportCaller(c, services);
    // The caller passed a door before its body is read.
    const pairs = await read();
    if (!/(^|[,;\s])respond-async\b/i.test(c.req.header('prefer') ?? '')) {
      throw badRequest('Bulk export is asynchronous: send Prefer: respond-async');
    }
    const group = await storedGroup(ctx, c.req.param('id') ?? '');
    await assertRoomFor(owner, ctx.call.practiceId);
    const notes: OperationOutcomeIssue[] = [];
    let types: ExportType[] | undefined;
    let since: string | undefined;
    const typeFilters: Job['typeFilters'] = {};
    const filterValues: string[] = [];
    for (const [key, value] of pairs) {
      switch (key) {
        case '_outputFormat':
          if (!OUTPUT_FORMATS.has(value)) throw badRequest('_outputFormat must be application/fhir+ndjson (or application/ndjson, ndjson)');
          break;
        case '_type': {
          const asked = value.split(',').map((t) => t.trim()).filter(Boolean);
          const unknown = asked.filter((t) => !(EXPORT_TYPES as readonly string[]).includes(t));
          if (unknown.length > 0 || asked.length === 0) throw badRequest(`_type may list ${EXPORT_TYPES.join(', ')}`);
          // Repeated (a POST sends one per type): together they name the types.
          types = [...new Set([...(types ?? []), ...(asked as ExportType[])])];
          break;
        }
        case '_since':
          if (!INSTANT.test(value) || Number.isNaN(Date.parse(value))) throw badRequest('_since must be a FHIR instant with a time zone, e.g. 2024-01-01T00:00:00Z');
          since = new Date(value).toISOString();
          break;
        case '_typeFilter':
          // Repeated, or several in one value separated by commas before the next `Type?` (Bulk Data 2.0).
          filterValues.push(...value.split(/,(?=[A-Z][A-Za-z]+\?)/));
          break;
        default:
          if (UNSUPPORTED.has(key)) throw badRequest(`${key} is not supported on this server's export: leave it out`);
          if (IGNORED.has(key)) notes.push({ severity: 'information', code: 'not-supported', diagnostics: `${key} is not supported and was ignored` });
          else throw badRequest(`Unknown kick-off parameter; supported: _outputFormat, _type, _since, _typeFilter`);
      }
    }
    const exported = types ?? [...EXPORT_TYPES];
    for (const t of exported) {
      if (allows(ctx.grant.scopes, t, 'read') === undefined) throw forbidden(`The access token's scopes do not allow reading ${t}: ask for a read scope on ${t} or leave it out of _type`);
    }
    for (const value of filterValues) {
      const [type, query] = [value.slice(0, value.indexOf('?')), value.slice(value.indexOf('?') + 1)];
      if (!value.includes('?') || !(exported as string[]).includes(type)) throw badRequest('_typeFilter must be Type?query for a type being exported');
      // Doctors, locations and departments are exported as the encounters name them: they have no searches to filter by.
      if (!FILTERABLE.has(type)) throw badRequest('_typeFilter applies to Patient, Encounter and DocumentReference only');
      const filterPairs = [...new URLSearchParams(query)].map(([k, v]): [string, string] => [k, v]);
      const m = resourceModules.find((x) => (x.type as string) === type);
      // The same parser as the API's searches, strictly: an unknown or invalid parameter is a 400 now, not a failed job.
      parseSearch(type, searchParamIndex.get(type as ExportType) ?? new Map(), filterPairs, { strict: true, baseUrl: ctx.baseUrl, ...(m ? { capabilities: m.capabilities } : {}) });
      (typeFilters[type] ??= []).push(filterPairs);
    }
    // A group declared in configuration is resolved now (422 naming a member that names no patient).
    const members = group.declared ? await resolveDeclared(ctx, group.declared) : group.members;
    if (person) await assertPersonMayExport(ctx, exported, members);
    const url = new URL(c.req.url);
    const job: Job = {
      id: JobStore.newId(),
      practiceId: ctx.call.practiceId,
      owner,
      status: 'running',
      request: `${ctx.baseUrl}/Group/${group.id}/$export${url.search}`,
      transactionTime: new Date(services.now()).toISOString(),
      types: exported,
      ...(since ? { since } : {}),
      typeFilters,
      members,
      next: 0,
      files: [],
      seen: [],
      perFile: services.config.bulk.resourcesPerFile,
      attachments: services.config.bulk.attachments,
      expiresAt: Number.MAX_SAFE_INTEGER,
    };
    await bulk.jobs.save(job, true);
    bulk.runner.start(job);
    auditLine(c, 'operation:export', 'Group', { resourceType: 'Group', id: group.id });
    return fhirJson(
      c,
      { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: `Export of ${members.length} patients accepted` }, ...notes] },
      202,
      { 'content-location': `${ctx.baseUrl}/bulk/status/${job.id}` },
    );
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
    if (job.status === 'failed') {
      return fhirJson(c, { resourceType: 'OperationOutcome', issue: [{ severity: 'fatal', code: 'exception', diagnostics: 'The export failed; start a new one' }] }, 500);
    }
    if (job.status === 'running') {
      const waiting = bulk.runner.queuePosition(job.id);
      const progress = waiting === undefined ? `${job.next} of ${job.members.length} patients` : `queued (${waiting - 1} ahead)`;
      return c.body(null, 202, { 'x-progress': progress, 'retry-after': '2', 'cache-control': 'no-store' });
    }
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
    bulk.runner.cancel(job.id);
    await bulk.jobs.remove(job.practiceId, job.id);
    return fhirJson(c, { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: 'Export cancelled; its files are deleted' }] }, 202);
  });

  api.get('/bulk/files/:job/:name', async (c) => {
    const { ctx, job } = await ownJob(c);
    const file = job.files.find((f) => f.name === c.req.param('name'));
    if (!file) throw notFound('file');
    // The same token checks as the API: a token that may no longer read the type gets none of it.
    if (file.type !== 'OperationOutcome' && allows(ctx.grant.scopes, file.type, 'read') === undefined) {
      throw forbidden(`The access token's scopes do not allow reading ${file.type}`);
    }
    const folder = bulk.jobs.folder(job.practiceId, job.id) as string;
    const frames = readFrames(join(folder, file.name), file.name, bulk.fileKey, file.bytes);
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await frames.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch {
          controller.error(new Error('export file unreadable'));
        }
      },
      async cancel() {
        await frames.return(undefined);
      },
    });
    return new Response(stream, { status: 200, headers: { 'content-type': 'application/fhir+ndjson', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } });
  });
}
