/**
 * createApp(deps): the whole HTTP surface as a Hono app — request ids and access logs, the
 * two FHIR bases (their answers compressed for clients that accept it), the health endpoint, the contract (/openapi.yaml, /docs), and one error handler that turns anything thrown
 * into an OperationOutcome. No I/O happens at import or construction.
 */
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import { FhirError, outcome } from './fhir/outcome.ts';
import { UpstreamError, toFhirError } from './source/errors.ts';
import type { Metrics } from './metrics.ts';
import type { Services } from './resources/context.ts';
import type { AppEnv } from './routes/env.ts';
import { fhirApi } from './routes/fhir-api.ts';
import type { BulkExport } from './bulk/export-routes.ts';
import { headerPracticeBase, pathPracticeBase } from './routes/fhir-base.ts';
import { limitBody, MAX_FORM_BYTES } from './auth/form-body.ts';
import { smartRoutes } from './auth/smart/routes.ts';
import { tokenRoutes } from './auth/token-routes.ts';
import { cspSourceOf } from './auth/smart/pages.ts';
import { metricsGuard } from './routes/metrics-guard.ts';
import { clientSource } from './routes/client-source.ts';
import { corsFor } from './routes/cors.ts';
import { compressResponses } from './routes/compress.ts';
import { docsRoutes } from './routes/docs.ts';
import { requestLimits } from './routes/limits.ts';
import { addressedAt, hostGuard } from './routes/host-guard.ts';
import { fhirJson } from './routes/respond.ts';
import { loggableError } from './logging.ts';

export interface AppDeps {
  services: Services;
  /** Bulk export jobs and their files (src/bulk), when the service runs them. */
  bulk?: BulkExport;
  logger: Logger;
  /** Where audit lines go; by default the main log, marked `log: "audit"`. */
  auditLogger?: Logger;
  software?: { name: string; version: string };
  /** Reports why the service is not ready to serve, if it is not (for /readyz). */
  readiness?: () => string[];
  /** What readiness reports without failing (e.g. shared state running per replica). */
  readinessDetails?: () => string[];
  metrics?: Metrics;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const { services, logger } = deps;
  const app = new Hono<AppEnv>();
  const publicBase = services.config.publicBaseUrl;
  const audit = deps.auditLogger ?? logger.child({ log: 'audit' });
  app.use(async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const log = logger.child({ requestId });
    c.set('requestId', requestId);
    c.set('log', log);
    c.set('audit', audit.child({ requestId }));
    const started = performance.now();
    await next();
    c.res.headers.set('x-request-id', requestId);
    deps.metrics?.requests.observe(
      { route: c.req.routePath, method: c.req.method, status: String(c.res.status) },
      (performance.now() - started) / 1000,
    );
    // Route pattern and parameter names only: never the path's ids or any value.
    log.info(
      {
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
        practice: c.var.fhirBase?.practiceId,
        caller: c.var.caller,
        params: c.var.paramNames,
      },
      'request',
    );
  });
  const origins = corsOrigins(services);
  const addressed = addressedAt(publicBase, services.config.port, origins);
  // Anonymous access serves patient data to whoever asks: only to requests addressed to us (DNS rebinding).
  if (services.doors.anonymous) app.use(hostGuard(addressed));
  app.use(clientSource(services.config.trustedProxies));
  app.use(requestLimits());
  app.use(corsFor(origins));
  // FHIR JSON, NDJSON and the reference page compressed for clients that accept it; never /auth (BREACH: see compress.ts).
  const compress = compressResponses();
  for (const path of ['/fhir/*', '/practices/:practiceId/fhir/*', '/docs']) app.use(path, compress);
  // Every POST and PUT body is limited as it arrives (413 before it is buffered whole).
  app.on(['POST', 'PUT'], '/fhir/*', limitBody(tooLarge));
  app.on(['POST', 'PUT'], '/practices/:practiceId/fhir/*', limitBody(tooLarge));

  const auth = services.auth;
  if (auth) {
    app.route('/auth', tokenRoutes(auth));
    if (auth.smart) app.route('/auth', smartRoutes(auth.smart));
  }
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // The contract and its API reference: public, like /healthz (no door, no patient data).
  app.route('/', docsRoutes(publicBase));
  const metrics = deps.metrics;
  if (metrics) {
    app.get('/metrics', metricsGuard(services.config.metricsToken, addressed), async (c) =>
      c.body(await metrics.exposition(), 200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' }),
    );
  }
  app.get('/readyz', (c) => {
    const problems = deps.readiness?.() ?? [];
    const degraded = deps.readinessDetails?.() ?? [];
    const detail = degraded.length > 0 ? { degraded } : {};
    return c.json(problems.length === 0 ? { status: 'ready', ...detail } : { status: 'not-ready', problems, ...detail }, problems.length === 0 ? 200 : 503);
  });

  const api = fhirApi({
    services,
    ...(deps.bulk ? { bulk: deps.bulk } : {}),
    software: deps.software ?? { name: 'nextech-fhir-facade', version: '0.1.0' },
    startedAt: new Date(services.now()).toISOString(),
  });
  app.use('/fhir/*', headerPracticeBase(publicBase, services.config.defaultPracticeId));
  app.use('/practices/:practiceId/fhir/*', pathPracticeBase(publicBase));
  app.route('/fhir', api);
  app.route('/practices/:practiceId/fhir', api);

  app.notFound((c) => fhirJson(c, outcome('error', 'not-found', 'No such endpoint on this server'), 404));
  app.onError((err, c) => errorResponse(err, c));
  return app;
}

const tooLarge = (c: Context) =>
  fhirJson(c, outcome('error', 'too-costly', `The request body is larger than ${MAX_FORM_BYTES} bytes`), 413);

/**
 * Browser origins allowed to call the API: CORS_ORIGINS, plus the web origins of the SMART
 * apps registered here (an app registered with a redirect URI calls us from that origin).
 * Responses need a bearer token, never a cookie, so CORS grants no ambient authority.
 */
function corsOrigins(services: Services): string[] {
  const apps = services.auth?.smart?.deps.settings.clients.flatMap((c) => c.redirectUris) ?? [];
  const web = apps.map(cspSourceOf).filter((o): o is string => o !== undefined && /^https?:\/\//.test(o));
  return [...new Set([...services.config.corsOrigins, ...web])];
}

function errorResponse(err: Error, c: Context<AppEnv>): Response {
  const fhirError = asFhirError(err);
  if (!fhirError) {
    // A bug, not the client's fault: log what we can without request data, answer 500.
    c.var.log.error({ err: loggableError(err) }, 'unhandled error');
    return fhirJson(c, outcome('fatal', 'exception', 'Internal server error'), 500);
  }
  if (err instanceof UpstreamError) {
    c.var.log.warn({ endpoint: err.endpoint, failure: err.failure.kind, status: fhirError.status }, 'upstream failure');
  }
  return fhirJson(c, fhirError.outcome, fhirError.status, fhirError.headers);
}

function asFhirError(err: Error): FhirError | undefined {
  if (err instanceof FhirError) return err;
  if (err instanceof UpstreamError) return toFhirError(err);
  // The client went away mid-request (also mid-body: Node's request stream fails "aborted",
  // ECONNRESET): nobody reads this answer, and it is no server error.
  if (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
    return new FhirError(499, outcome('error', 'incomplete', 'Request aborted by the client'));
  }
  return undefined;
}
