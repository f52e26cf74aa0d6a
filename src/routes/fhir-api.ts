/**
 * The FHIR API routes, generated from the resource registry: `metadata`, and for each
 * resource its operations, read, GET search and POST `_search`. Handlers are thin: they
 * parse, ask the resource module, and hand plain data to the bundle builder.
 */
import { Hono, type Context } from 'hono';
import { releaseMemoryWhenWritten } from './release-memory.ts';
import { assertPageable, pageOf, searchset } from '../fhir/bundle.ts';
import { DeferredBase64 } from '../fhir/deferred-base64.ts';
import { capabilityStatement, type CapabilitySecurity } from '../fhir/capability.ts';
import { assertJsonAcceptable } from '../fhir/negotiate.ts';
import { badRequest, FhirError, outcome } from '../fhir/outcome.ts';
import { preferences } from '../fhir/prefer.ts';
import { parseSearch, parseView } from '../fhir/search/parse.ts';
import { applyView } from '../fhir/view.ts';
import { assertOwnPatient, authorize, confine, forbidden, permittedIncluded } from '../auth/smart/compartment.ts';
import { practiceIds, type RequestContext, type Services } from '../resources/context.ts';
import { compartmentsFor, identifyingParams, resourceModules, searchParamIndex } from '../resources/registry.ts';
import type { ResourceModule, WriteResult } from '../resources/registry-types.ts';
import { allows, type ScopeInteraction } from '../auth/smart/scopes.ts';
import { bulkExportRoutes, type BulkExport } from '../bulk/export-routes.ts';
import { auditLine, noteParams } from './audit.ts';
import { prefersRaw } from './negotiate-raw.ts';
import type { AppEnv } from './env.ts';
import { requestContext } from './request-context.ts';
import { fhirJson } from './respond.ts';
import { formPairs, operationBodyPairs, queryPairs } from './request-pairs.ts';
import { createPageCursors, type CursorBinding, type PageCursors } from './page-cursors.ts';
import { CURSOR_PARAM, pageLinks, searchInput, type SearchInput } from './page-links.ts';
import { smartConfiguration } from '../auth/discovery.ts';

export interface FhirApiOptions {
  services: Services;
  /** Bulk export jobs and their files, when the service runs them: adds `$export` and its routes. */
  bulk?: BulkExport;
  software: { name: string; version: string };
  startedAt: string;
}

const WRITE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'];

export function fhirApi(opts: FhirApiOptions): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  // What a request held of the document memory is given back once its response is written.
  api.use(releaseMemoryWhenWritten);
  // Types with a raw representation (Binary's document) negotiate their own formats.
  for (const m of resourceModules) if (m.raw && m.interactions.includes('read')) api.get(`/${m.type}/:id`, (c) => read(c, m, opts.services));
  // Bulk export negotiates its own formats (NDJSON files), and comes before Group's routes,
  // whose write methods would otherwise claim `$export`'s POST.
  if (opts.bulk) bulkExportRoutes(api, opts.services, opts.bulk);
  api.use(async (c, next) => {
    assertJsonAcceptable(c.req.header('accept'), new URL(c.req.url).searchParams.get('_format') ?? undefined);
    await next();
  });
  const auth = opts.services.auth;
  if (auth) api.get('/.well-known/smart-configuration', (c) => c.json(smartConfiguration(auth), 200, { 'cache-control': 'no-cache' }));
  api.get('/metadata', (c) =>
    fhirJson(
      c,
      capabilityStatement({
        modules: resourceModules,
        baseUrl: c.var.fhirBase.baseUrl,
        software: opts.software,
        date: opts.startedAt,
        security: securityOf(opts.services),
        // Offered when a door that can use it is configured: Backend Services, or SMART apps.
        bulkExport: opts.bulk !== undefined && (opts.services.auth?.backend !== undefined || opts.services.auth?.smart !== undefined),
      }),
    ),
  );
  // Paging links are sealed under a key derived from RESOURCE_ID_KEY, which every replica shares.
  const cursors = createPageCursors(opts.services.config.resourceIdKey, opts.services.now);
  for (const m of resourceModules) addResourceRoutes(api, m, opts.services, cursors);
  return api;
}

/** What the CapabilityStatement says about the doors (rest.security). */
function securityOf(services: Services): CapabilitySecurity {
  const auth = services.auth;
  const doors = services.doors;
  const lines = [
    ...(auth?.smart ? ['SMART App Launch (standalone, PKCE S256, patient/ and user/ scopes, v1 and v2): the user\'s own Nextech access is used.'] : []),
    ...(auth?.backend ? ['SMART Backend Services (client_credentials with private_key_jwt, RS384/ES384, system/ scopes).'] : []),
    ...(doors.passthrough ? ['A Nextech access token as Bearer, passed through to Nextech.'] : []),
    ...(doors.anonymous ? ['Anonymous access is enabled: requests without a token are served with the service\'s own Nextech credentials.'] : []),
  ];
  return {
    cors: services.config.corsOrigins.length > 0 || (auth?.smart?.deps.settings.clients.length ?? 0) > 0,
    description: lines.length > 0 ? lines.join(' ') : 'No door is configured: every request is refused.',
    ...(auth
      ? { oauth: { ...(auth.smart ? { authorize: auth.urls.authorize } : {}), token: auth.urls.token, introspect: auth.urls.introspect } }
      : {}),
  };
}

function addResourceRoutes(api: Hono<AppEnv>, m: ResourceModule, services: Services, cursors: PageCursors): void {
  for (const op of m.operations ?? []) {
    // The caller passes a door before its body is read.
    const run = async (c: Context<AppEnv>, read: () => Promise<[string, string][]>) => {
      const ctx = streaming(await requestContext(c, services));
      const binding = bindingOf(ctx, `${m.type}/$${op.name}`);
      const input = searchInput(await read(), { cursors, binding });
      const { pairs } = input;
      noteInput(c, input, [...op.parameters, ...RESULT_PARAMS]);
      const ids = practiceIds(ctx);
      const compartments = compartmentsFor(ids);
      const identifying = new Map(Object.entries(op.identifies ?? {}));
      const patient = ctx.grant ? authorize(ctx.grant, ids, m.type, 'search', m.scopedAlsoAs) : undefined;
      if (patient !== undefined) assertOwnPatient(compartments, identifying, pairs, patient);
      const links = pageLinks({ cursors, binding, baseUrl: ctx.baseUrl, echoSelf: c.req.method === 'GET', ...cursorOf(input) });
      const result = await op.run(ctx, patient === undefined ? pairs : withPatient(pairs, ctx, patientParam(identifying)), links);
      const confined = result.resourceType === 'Bundle' && patient !== undefined
        ? { ...result, entry: (result.entry ?? []).filter((e) => !e.resource || confine(compartments, [e.resource], patient).length > 0) }
        : result;
      auditLine(c, `operation:${op.name}`, m.type, confined);
      return fhirJson(c, confined, 200, {}, ctx.deferred);
    };
    api.get(`/${m.type}/$${op.name}`, (c) => run(c, () => Promise.resolve(queryPairs(c))));
    // FHIR invokes operations by POST with a Parameters resource; a form works too.
    api.post(`/${m.type}/$${op.name}`, (c) => run(c, async () => [...queryPairs(c), ...(await operationBodyPairs(c))]));
  }
  const run = m.search?.bind(m);
  if (m.interactions.includes('search-type') && run) {
    api.get(`/${m.type}`, (c) => search(c, m, run, { services, cursors }, () => Promise.resolve(queryPairs(c))));
    api.post(`/${m.type}/_search`, (c) => search(c, m, run, { services, cursors }, async () => [...queryPairs(c), ...(await formPairs(c))]));
  }
  if (m.interactions.includes('read') && !m.raw) api.get(`/${m.type}/:id`, (c) => read(c, m, services));
  const create = m.create?.bind(m);
  const update = m.update?.bind(m);
  const remove = m.delete?.bind(m);
  if (m.interactions.includes('create') && create) {
    api.post(`/${m.type}`, (c) => write(c, m, services, 'create', async (ctx) => create(ctx, await resourceBody(c, m.type))));
  }
  if (m.interactions.includes('update') && update) {
    api.put(`/${m.type}/:id`, (c) => write(c, m, services, 'update', async (ctx) => update(ctx, c.req.param('id'), await resourceBody(c, m.type), ifMatch(c))));
  }
  if (m.interactions.includes('delete') && remove) {
    api.delete(`/${m.type}/:id`, async (c) => {
      const ctx = await writeContext(c, m, services, 'delete');
      await remove(ctx, c.req.param('id'), ifMatch(c));
      auditLine(c, 'delete', m.type, { resourceType: m.type, id: c.req.param('id') });
      return c.body(null, 204);
    });
  }
  api.on(WRITE_METHODS, [`/${m.type}`, `/${m.type}/*`], methodNotAllowed);
}

/** The caller, authenticated and allowed `interaction` on the type (writes need a scope that grants them). */
async function writeContext(c: Context<AppEnv>, m: ResourceModule, services: Services, interaction: 'create' | 'update' | 'delete'): Promise<RequestContext> {
  const ctx = await requestContext(c, services);
  assertManyPatients(ctx, m, interaction);
  if (!ctx.grant || allows(ctx.grant.scopes, m.type, interaction) === undefined) {
    throw forbidden(`The access token's scopes do not allow ${interaction} of ${m.type}`);
  }
  return ctx;
}

/** A create or update: 201 with Location (created) or 200, the stored resource, and its version as ETag. */
async function write(
  c: Context<AppEnv>,
  m: ResourceModule,
  services: Services,
  interaction: 'create' | 'update',
  run: (ctx: RequestContext) => Promise<WriteResult>,
): Promise<Response> {
  const ctx = await writeContext(c, m, services, interaction);
  const { resource, created } = await run(ctx);
  auditLine(c, interaction, m.type, resource);
  const location = `${ctx.baseUrl}/${resource.resourceType}/${resource.id ?? ''}`;
  const version = resource.meta?.versionId;
  return fhirJson(c, resource, created ? 201 : 200, {
    ...(created ? { location } : {}),
    ...(version !== undefined ? { etag: `W/"${version}"` } : {}),
    ...(resource.meta?.lastUpdated ? { 'last-modified': new Date(resource.meta.lastUpdated).toUTCString() } : {}),
  });
}

/**
 * A type whose resources name many patients: refused, before anything else, to doors without
 * scopes and to patient-scoped tokens; writes to Backend Services clients (`system/`) only.
 */
function assertManyPatients(ctx: RequestContext, m: ResourceModule, interaction: ScopeInteraction): void {
  if (!m.manyPatients) return;
  const level = ctx.grant && allows(ctx.grant.scopes, m.type, interaction);
  const write = interaction === 'create' || interaction === 'update' || interaction === 'delete';
  if (level === 'system' || (level === 'user' && !write)) return;
  throw forbidden(
    write
      ? `${m.type} is written by SMART Backend Services clients with system/${m.type} scopes only`
      : `${m.type} is read with system/${m.type} or user/${m.type} scopes only (never patient scopes)`,
  );
}

/**
 * The version an update or delete is conditional on (`If-Match: W/"3"`, FHIR's version-aware
 * update): undefined without the header (or with `*`: any version).
 */
function ifMatch(c: Context<AppEnv>): number | undefined {
  const header = c.req.header('if-match')?.trim();
  if (header === undefined || header === '*') return undefined;
  const m = /^(?:W\/)?"(\d{1,9})"$/.exec(header);
  if (!m) throw badRequest('If-Match must be the ETag of a version, e.g. W/"3"');
  return Number(m[1]);
}

/** The JSON resource a create or update sends (size already limited as it arrived). */
async function resourceBody(c: Context<AppEnv>, type: string): Promise<unknown> {
  const mediaType = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/fhir+json' && mediaType !== 'application/json') {
    throw new FhirError(415, outcome('error', 'not-supported', `Send the ${type} as application/fhir+json`));
  }
  try {
    return JSON.parse(await c.req.text()) as unknown;
  } catch {
    throw badRequest(`The body is not a JSON ${type}`);
  }
}

/** A read: FHIR JSON, or the type's raw representation when the client prefers it. */
async function read(c: Context<AppEnv>, m: ResourceModule, services: Services): Promise<Response> {
  const { pairs } = searchInput(queryPairs(c));
  noteParams(c, pairs, new Set(['_summary', '_elements', '_format']));
  const ctx = m.conformance ? conformanceContext(c, services) : streaming(await requestContext(c, services));
  const id = c.req.param('id') ?? '';
  const ids = practiceIds(ctx);
  const compartments = compartmentsFor(ids);
  assertManyPatients(ctx, m, 'read');
  const patient = ctx.grant ? authorize(ctx.grant, ids, m.type, 'read', m.scopedAlsoAs) : undefined;
  // Checked on the id first (no upstream call for another patient), then on the result.
  if (patient !== undefined && compartments.has(m.type) && compartments.ofId(m.type, id) !== patient) throw outsideCompartment();
  const format = new URL(c.req.url).searchParams.get('_format') ?? undefined;
  if (m.raw && prefersRaw(m.raw, c.req.header('accept'), format)) {
    const body = await m.raw.read(ctx, id);
    auditLine(c, 'read', m.type, { resourceType: m.type, id });
    return c.body(body, 200, { 'content-type': `${m.raw.contentType}; charset=utf-8`, ...m.raw.headers });
  }
  if (m.raw) assertJsonAcceptable(c.req.header('accept'), format);
  const view = parseView(pairs);
  const resource = await m.read(ctx, id, view);
  if (confine(compartments, [resource], patient).length === 0) throw outsideCompartment();
  auditLine(c, 'read', m.type, resource);
  // A versioned resource's version as its ETag: what a client sends back in If-Match.
  const version = resource.meta?.versionId;
  return fhirJson(c, applyView(resource, view, m.view), 200, version !== undefined ? { etag: `W/"${version}"` } : {}, ctx.deferred);
}

async function search(
  c: Context<AppEnv>,
  m: ResourceModule,
  run: NonNullable<ResourceModule['search']>,
  { services, cursors }: { services: Services; cursors: PageCursors },
  read: () => Promise<[string, string][]>,
) {
  const ctx = streaming(await requestContext(c, services));
  // The caller passed a door before its body is read; a cursor is opened only for the caller and practice it was made for.
  const binding = bindingOf(ctx, m.type);
  const input = searchInput(await read(), { cursors, binding });
  const { pairs } = input;
  const strict = preferences(c.req.header('prefer')).handling === 'strict';
  const defs = searchParamIndex.get(m.type) ?? new Map();
  noteInput(c, input, [...defs.keys(), ...RESULT_PARAMS]);
  const ids = practiceIds(ctx);
  const compartments = compartmentsFor(ids);
  const identifying = identifyingParams.get(m.type) ?? new Map<string, string>();
  assertManyPatients(ctx, m, 'search');
  const patient = ctx.grant ? authorize(ctx.grant, ids, m.type, 'search', m.scopedAlsoAs) : undefined;
  if (patient !== undefined) assertOwnPatient(compartments, identifying, pairs, patient);
  // A search that names no records of its own is about the patient in context.
  const names = pairs.some(([k]) => identifying.has(k.split(':')[0] ?? ''));
  const scoped = patient !== undefined && !names ? withPatient(pairs, ctx, patientParam(identifying)) : pairs;
  const { request, ignored } = parseSearch(m.type, defs, scoped, { strict, baseUrl: ctx.baseUrl, capabilities: m.capabilities });
  const links = pageLinks({ cursors, binding, baseUrl: ctx.baseUrl, echoSelf: c.req.method === 'GET', ...cursorOf(input) });
  // Before any upstream call: a search whose links could not be followed here costs nothing.
  assertPageable(links, request);
  const result = await run(ctx, request);
  // With patient scopes, only the patient in context's resources are ever returned.
  const matches = confine(compartments, result.matches, patient);
  // Included resources only of the types (and, with patient scopes, the patient) the token allows.
  const included = result.included ? permittedIncluded(ctx.grant, ids, compartments, await result.included(pageOf(matches, request)), scopedAlsoAs) : [];
  // Page-first: light matches are made whole only for the page.
  const whole = result.complete ? await result.complete(pageOf(matches, request)) : undefined;
  const bundle = searchset({ matches, request, baseUrl: ctx.baseUrl, links, ignored, included, view: m.view, ...(whole ? { page: whole } : {}) });
  auditLine(c, 'search-type', m.type, bundle);
  return fhirJson(c, bundle, 200, {}, ctx.deferred);
}

/** A request whose response streams its documents' data: mapped as markers, encoded as the response is written. */
function streaming(ctx: RequestContext): RequestContext {
  ctx.deferred = new DeferredBase64();
  return ctx;
}

/** Adds the patient in context, as parameter `name` (the one referencing a Patient), to a search or operation that names none. */
function withPatient(pairs: [string, string][], ctx: RequestContext, name: string | undefined): [string, string][] {
  const id = ctx.grant?.patient;
  return id === undefined || name === undefined || pairs.some(([k]) => k === name) ? pairs : [...pairs, [name, id]];
}

/** The parameter through which a search or operation names its patient: the one whose values are Patient ids other than `_id`. */
const patientParam = (identifying: ReadonlyMap<string, string>) => [...identifying].find(([name, type]) => type === 'Patient' && name !== '_id')?.[0];

/** What a paging link of this request is bound to: the practice, the caller, and where it points. */
const bindingOf = (ctx: RequestContext, path: string): CursorBinding => ({ practiceId: ctx.call.practiceId, callerKey: ctx.callerKey, path });

const cursorOf = (input: SearchInput) => (input.cursor === undefined ? {} : { cursor: input.cursor });

/** The access log's parameter names: those the cursor stood for, and the cursor itself. */
function noteInput(c: Context<AppEnv>, input: SearchInput, known: readonly string[]): void {
  const names: [string, string][] = input.cursor === undefined ? input.pairs : [[CURSOR_PARAM, ''], ...input.pairs];
  noteParams(c, names, new Set([...known, CURSOR_PARAM]));
}

/** Conformance resources need no practice, token or upstream call: only the base URL. */
function conformanceContext(c: Context<AppEnv>, services: Services): RequestContext {
  return {
    services,
    baseUrl: c.var.fhirBase.baseUrl,
    call: { practiceId: '', credential: { kind: 'managed' }, callerKey: 'public' },
    callerKey: 'public',
    memo: new Map(),
  };
}

const alsoAsByType = new Map<string, string>(resourceModules.flatMap((m) => (m.scopedAlsoAs === undefined ? [] : [[m.type, m.scopedAlsoAs] as const])));
const scopedAlsoAs = (type: string) => alsoAsByType.get(type);

const outsideCompartment = () => forbidden('The access token only allows the patient in context');

const RESULT_PARAMS = ['_count', '_offset', '_include', '_revinclude', '_sort', '_summary', '_elements', '_format', '_pretty'];


function methodNotAllowed(): never {
  throw new FhirError(405, outcome('error', 'not-supported', 'The method is not allowed on this resource type (only Group takes writes)'));
}

