/**
 * The FHIR API routes, generated from the resource registry: `metadata`, and for each
 * resource its operations, read, GET search and POST `_search`. Handlers are thin: they
 * parse, ask the resource module, and hand plain data to the bundle builder.
 */
import { Hono, type Context } from 'hono';
import { pageOf, searchset } from '../fhir/bundle.ts';
import { capabilityStatement } from '../fhir/capability.ts';
import { assertJsonAcceptable } from '../fhir/negotiate.ts';
import { FhirError, outcome } from '../fhir/outcome.ts';
import { parseSearch, parseView } from '../fhir/search/parse.ts';
import { applyView } from '../fhir/view.ts';
import { missingBearer, bearerToken } from '../auth/passthrough.ts';
import { callerKeyOf, type RequestContext, type Services } from '../resources/context.ts';
import { resourceModules, searchParamIndex } from '../resources/registry.ts';
import type { ResourceModule } from '../resources/registry-types.ts';
import { auditLine, noteParams } from './audit.ts';
import { binaryRoute } from './binary-route.ts';
import type { AppEnv } from './env.ts';
import { fhirJson } from './respond.ts';

export interface FhirApiOptions {
  services: Services;
  software: { name: string; version: string };
  startedAt: string;
}

const FORM = 'application/x-www-form-urlencoded';
const WRITE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'];
/** POST bodies (search, operations) larger than this are refused (413) before they are read whole. */
export const MAX_FORM_BYTES = 64 * 1024;

export function fhirApi(opts: FhirApiOptions): Hono<AppEnv> {
  const api = new Hono<AppEnv>();
  // Binary negotiates its own formats (the raw document or FHIR JSON).
  api.get('/Binary/:id', (c) => binaryRoute(c, requestContext(c, opts.services)));
  api.use(async (c, next) => {
    assertJsonAcceptable(c.req.header('accept'), new URL(c.req.url).searchParams.get('_format') ?? undefined);
    await next();
  });
  api.get('/metadata', (c) =>
    fhirJson(
      c,
      capabilityStatement({ modules: resourceModules, baseUrl: c.var.fhirBase.baseUrl, software: opts.software, date: opts.startedAt }),
    ),
  );
  for (const m of resourceModules) addResourceRoutes(api, m, opts.services);
  return api;
}

function addResourceRoutes(api: Hono<AppEnv>, m: ResourceModule, services: Services): void {
  for (const op of m.operations ?? []) {
    const run = async (c: Context<AppEnv>, pairs: [string, string][]) => {
      const ctx = requestContext(c, services);
      noteParams(c, pairs, new Set(['patient', 'start', 'end', 'type', 'on-demand', '_count', '_offset', '_summary', '_elements']));
      const result = await op.run(ctx, pairs);
      auditLine(c, `operation:${op.name}`, m.type, result);
      return fhirJson(c, result);
    };
    api.get(`/${m.type}/$${op.name}`, (c) => run(c, queryPairs(c)));
    api.post(`/${m.type}/$${op.name}`, async (c) => run(c, [...queryPairs(c), ...(await formPairs(c))]));
  }
  if (m.interactions.includes('search-type')) {
    api.get(`/${m.type}`, (c) => search(c, m, services, queryPairs(c)));
    api.post(`/${m.type}/_search`, async (c) => search(c, m, services, [...queryPairs(c), ...(await formPairs(c))]));
  }
  if (m.interactions.includes('read')) {
    api.get(`/${m.type}/:id`, async (c) => {
      const pairs = queryPairs(c);
      noteParams(c, pairs, new Set(['_summary', '_elements']));
      const view = parseView(pairs);
      const resource = await m.read(requestContext(c, services), c.req.param('id'), view);
      auditLine(c, 'read', m.type, resource);
      return fhirJson(c, applyView(resource, view, m.view));
    });
  }
  api.on(WRITE_METHODS, [`/${m.type}`, `/${m.type}/*`], methodNotAllowed);
}

async function search(c: Context<AppEnv>, m: ResourceModule, services: Services, pairs: [string, string][]) {
  const ctx = requestContext(c, services);
  const strict = /(^|[;,\s])handling\s*=\s*strict\b/i.test(c.req.header('prefer') ?? '');
  const defs = searchParamIndex.get(m.type) ?? new Map();
  noteParams(c, pairs, new Set([...defs.keys(), ...RESULT_PARAMS]));
  const { request, ignored } = parseSearch(m.type, defs, pairs, { strict, baseUrl: ctx.baseUrl, capabilities: m.capabilities });
  const result = await m.search(ctx, request);
  const included = result.included ? await result.included(pageOf(result.matches, request)) : [];
  const bundle = searchset({ matches: result.matches, request, baseUrl: ctx.baseUrl, ignored, included, view: m.view });
  auditLine(c, 'search-type', m.type, bundle);
  return fhirJson(c, bundle);
}

const RESULT_PARAMS = ['_count', '_offset', '_include', '_revinclude', '_sort', '_summary', '_elements', '_format', '_pretty'];


function methodNotAllowed(): never {
  throw new FhirError(405, outcome('error', 'not-supported', 'This server is read-only: the method is not allowed here'));
}

/** The upstream call context for this request; throws 400/401 when practice or token is missing. */
function requestContext(c: Context<AppEnv>, services: Services): RequestContext {
  const base = c.var.fhirBase;
  if (base.practiceError || base.practiceId === undefined) throw base.practiceError ?? new Error('no practice');
  const callerToken = bearerToken(c.req.header('authorization'));
  if (services.config.auth === 'passthrough' && callerToken === undefined) throw missingBearer();
  const callerKey = callerKeyOf(callerToken, services.config.auth === 'managed');
  c.set('caller', callerKey);
  return {
    services,
    baseUrl: base.baseUrl,
    call: { practiceId: base.practiceId, signal: c.req.raw.signal, ...(callerToken ? { callerToken } : {}) },
    callerKey,
    memo: new Map(),
  };
}

function queryPairs(c: Context): [string, string][] {
  return [...new URL(c.req.url).searchParams.entries()];
}

async function formPairs(c: Context): Promise<[string, string][]> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== FORM) {
    throw new FhirError(415, outcome('error', 'not-supported', `POST takes a ${FORM} body here`));
  }
  const length = Number(c.req.header('content-length') ?? '0');
  if (length > MAX_FORM_BYTES) throw tooLarge();
  const text = await c.req.text();
  if (Buffer.byteLength(text) > MAX_FORM_BYTES) throw tooLarge();
  return [...new URLSearchParams(text).entries()];
}

const tooLarge = () =>
  new FhirError(413, outcome('error', 'too-costly', `The request body is larger than ${MAX_FORM_BYTES} bytes`));
