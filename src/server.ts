/**
 * Starting and stopping the service: builds the Nextech client against the upstream it is
 * given (see upstream.ts; by default the one configured), compiles the mappings, and serves
 * the app. Used by both entries (src/index.ts, src/dev.ts) and by the tests, which start
 * everything on port 0. It never starts a Nextech of its own.
 */
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Logger } from 'pino';
import { createApp } from './app.ts';
import { ManagedToken } from './auth/managed-token.ts';
import { refreshTokenFile } from './auth/token-file.ts';
import type { Config, ManagedCredentials, RuntimeConfig } from './config.ts';
import { stateNamesSecret } from './crypto/keys.ts';
import { createResourceIds } from './ids/resource-ids.ts';
import { loadMappings } from './mapping/load.ts';
import { Metrics } from './metrics.ts';
import { createHttpServer, unreadableRequests } from './http-server.ts';
import { matchEvaluations } from './fhir/search/match.ts';
import { NextechSource } from './source/nextech/source.ts';
import { MemoryBudget } from './source/memory-budget.ts';
import { createAuthorizationServer } from './auth/setup.ts';
import { resourceModules } from './resources/registry.ts';
import type { Services } from './resources/context.ts';
import { upstreamFromConfig, type Upstream } from './upstream.ts';
import type { SharedToken } from './auth/managed-token.ts';
import { createSharedState } from './shared/create.ts';
import { GroupStore, parseDeclaredGroups, type GroupBackend } from './bulk/group-store.ts';
import { FileGroups } from './bulk/group-files.ts';
import { RedisGroups } from './bulk/group-redis.ts';
import { readFile } from 'node:fs/promises';
import { exportFileKey } from './bulk/export-files.ts';
import { JobStore } from './bulk/export-jobs.ts';
import { ExportRunner } from './bulk/export-runner.ts';
import type { ExportHooks } from './bulk/export-write.ts';
import type { BulkExport } from './bulk/export-routes.ts';
import type { SharedStore } from './shared/store.ts';

export interface RunningService {
  /** e.g. http://localhost:8080 */
  origin: string;
  config: RuntimeConfig;
  services: Services;
  /** Bulk export jobs and their files (tests read the jobs). */
  bulk: BulkExport;
  /** The Nextech it serves. */
  upstream: Upstream;
  managedToken?: ManagedToken;
  /** The document memory budget: bodies being read and CCDs cached (tests read its high-water mark). */
  memory: MemoryBudget;
  metrics: Metrics;
  /** The state shared with other replicas (Redis, the cluster primary, or this process). */
  sharedStore: SharedStore;
  close(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  /** Overrides config.port (tests use 0). */
  port?: number;
  now?: () => number;
  metrics?: Metrics;
  /** The Nextech to serve; defaults to the configured one (NEXTECH_BASE_URL). */
  upstream?: Upstream;
  /** A cluster worker's store (the primary's memory), when WORKERS > 1 without Redis. */
  clusterStore?: SharedStore;
  /** Test-only hooks into the bulk export runner (the crash tests); production entries never pass them. */
  exportHooks?: ExportHooks;
}

/**
 * The managed token, starting from the refresh token file when there is one (it holds the
 * latest rotation) and writing every rotated refresh token back to it, so a restart never
 * starts from a token Nextech has already replaced.
 */
async function managedTokenFor(
  creds: ManagedCredentials,
  config: Readonly<Config>,
  opts: StartOptions,
  shared: SharedToken | undefined,
): Promise<{ token: ManagedToken; saved: () => Promise<void> }> {
  const file = creds.refreshTokenFile ? refreshTokenFile(creds.refreshTokenFile) : undefined;
  const refreshToken = (await file?.read()) ?? creds.refreshToken;
  if (refreshToken === undefined) {
    throw new Error(`No refresh token: ${creds.refreshTokenFile ?? 'the token file'} is empty or missing (run npm run login)`);
  }
  // Writes are queued by the file; shutdown waits for the last one.
  let lastWrite: Promise<void> = Promise.resolve();
  const token = new ManagedToken({
    credentials: { ...creds, refreshToken },
    timeoutMs: config.upstream.requestMs,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.metrics ? { onRefresh: (result: 'ok' | 'failed') => opts.metrics?.tokenRefreshes.inc({ result }) } : {}),
    ...(shared ? { shared } : {}),
    ...(file
      ? {
          onRotate: (rotated: string) => {
            lastWrite = file.write(rotated).catch((err: unknown) => {
              opts.logger.error({ err: { name: (err as Error).name } }, 'could not save the rotated refresh token');
            });
          },
        }
      : {}),
  });
  return { token, saved: () => lastWrite };
}

/**
 * Graceful stop: accept no new connections, let requests in flight finish (closing each
 * connection as it goes idle) up to `graceMs`, then cut whatever is left.
 */
function drain(server: HttpServer, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Where written groups live: Redis with REDIS_URL (every replica sees them; groups written to
 * files before are moved there), else files under DATA_DIR.
 */
async function groupBackend(config: Readonly<Config>, logger: Logger): Promise<GroupBackend> {
  const files = new FileGroups({ dir: config.dataDir, resourceIdKey: config.resourceIdKey });
  // Groups earlier versions wrote in clear are sealed now; afterwards a file in clear is no group.
  const sealed = await files.sealPlain().catch(() => 0);
  if (sealed > 0) logger.info({ groups: sealed }, 'groups in DATA_DIR sealed');
  if (!config.redis) return files;
  const redis = new RedisGroups({ url: config.redis.url, prefix: config.redis.prefix, resourceIdKey: config.resourceIdKey });
  // Without an offline queue, commands before the first connection would fail: wait for it (briefly).
  // Redis away at start: the files stay where they are, to be moved at the next start.
  const moved = (await redis.ready()) ? await redis.adopt(files).catch(() => 0) : 0;
  if (moved > 0) logger.info({ groups: moved }, 'groups moved from DATA_DIR to Redis');
  return redis;
}

/** Groups declared in BULK_GROUPS_FILE; a file that cannot be read or is invalid stops the start, naming it. */
async function declaredGroups(file: string | undefined) {
  if (file === undefined) return [];
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(`BULK_GROUPS_FILE ${file} cannot be read`);
  }
  return parseDeclaredGroups(text, `BULK_GROUPS_FILE ${file}`);
}

export async function startService(config: Readonly<Config>, opts: StartOptions): Promise<RunningService> {
  // Read before anything starts: an unreadable or invalid file stops the start.
  const declared = await declaredGroups(config.bulk.groupsFile);
  const metrics = opts.metrics ?? new Metrics();
  const upstream = opts.upstream ?? upstreamFromConfig(config);
  const now = opts.now ?? Date.now;
  const sharedState = createSharedState(config, {
    logger: opts.logger,
    now,
    ...(opts.clusterStore ? { cluster: opts.clusterStore } : {}),
    onDegraded: (degraded) => metrics.sharedStateDegraded.set(degraded ? 1 : 0),
  });
  const managed =
    config.auth === 'managed' && upstream.managed
      ? await managedTokenFor(upstream.managed, config, { ...opts, metrics }, sharedState.token)
      : undefined;
  const managedToken = managed?.token;
  const memory = new MemoryBudget({
    maxBytes: config.documentMemoryBytes,
    onWait: (outcome) => metrics.documentMemoryWaits.inc({ outcome }),
  });
  metrics.watchDocumentMemory(memory);
  metrics.watchMatching(matchEvaluations);
  const source = new NextechSource({
    client: {
      baseUrl: upstream.baseUrl,
      ...(managedToken ? { managed: managedToken } : {}),
      policy: config.upstream,
      observer: metrics.upstreamObserver(),
      // One budget for all replicas: only when the store is shared (alone, the in-process budget is exact).
      ...(sharedState.shared ? { sharedBudget: sharedState.store } : {}),
      // Passed-through tokens Nextech accepted: known to every replica, across restarts.
      proven: sharedState.store,
      // Tokens are named in the shared state (proven tokens, budgets) by keyed hashes.
      keyring: stateNamesSecret(config),
    },
    caches: config.caches,
    // Every body the client reads, and every listing kept, counts against the document memory budget.
    memory,
    onReuse: () => metrics.cacheHits.inc({ cache: 'encounters' }),
    onPatientReuse: () => metrics.cacheHits.inc({ cache: 'patients' }),
    now,
    ...(sharedState.answers ? { shared: sharedState.answers } : {}),
  });
  const mappings = loadMappings();
  // Listen first (port 0 picks a free port), then build the app with the final public base.
  let handle: (req: Request, env: unknown) => Response | Promise<Response> = () => new Response(null, { status: 503 });
  const server = createHttpServer(
    config.http,
    getRequestListener((req, env) => handle(req, env), { hostname: config.host, errorHandler: unreadableRequests(opts.logger) }),
    (why) => metrics.connectionsClosed.inc({ reason: why }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
    server.listen(opts.port ?? config.port, config.host);
  });
  const port = (server.address() as AddressInfo).port;
  const runtimeConfig: RuntimeConfig = Object.freeze({
    ...config,
    // The port listened on (config.port may be 0: any free one).
    port,
    publicBaseUrl: config.publicBaseUrl ?? `http://localhost:${port}`,
    ...(upstream.defaultPracticeId ? { defaultPracticeId: upstream.defaultPracticeId } : {}),
  });
  const ids = createResourceIds(runtimeConfig.resourceIdKey);
  const supportedTypes = resourceModules.map((m) => m.type);
  const patientTypes = resourceModules.filter((m) => !m.manyPatients).map((m) => m.type);
  const auth = createAuthorizationServer(runtimeConfig, {
    source,
    supportedTypes,
    patientTypes,
    patientIds: ids.patient,
    now,
    upstream,
    store: sharedState.store,
  });
  const groups = new GroupStore(await groupBackend(runtimeConfig, opts.logger), declared);
  const services: Services = {
    config: runtimeConfig,
    source,
    mappings,
    memory,
    ids,
    groups,
    ...(auth ? { auth } : {}),
    doors: {
      ...(auth?.smart ? { smart: auth.smart } : {}),
      ...(auth?.backend ? { backend: auth.backend } : {}),
      passthrough: config.auth === 'passthrough',
      // Anonymous callers are served with the managed token: never without one.
      anonymous: config.anonymous && managedToken !== undefined,
      supportedTypes,
    },
    now,
  };
  // Bulk export: jobs on disk (DATA_DIR), run in the background within their share of the budget.
  const fileKey = exportFileKey(runtimeConfig.bulk.key);
  const jobs = new JobStore(runtimeConfig.dataDir, fileKey);
  // One audit log for the API's interactions and the export jobs' own lines.
  const audit = opts.logger.child({ log: 'audit' });
  const runner = new ExportRunner({
    services,
    jobs,
    store: sharedState.store,
    fileKey,
    logger: opts.logger,
    audit,
    ...(opts.exportHooks ? { hooks: opts.exportHooks } : {}),
    metrics,
    callsPerSecond: Math.max(0.1, runtimeConfig.upstream.ratePerSecond * runtimeConfig.bulk.share),
    concurrency: runtimeConfig.bulk.concurrency,
    retentionMs: runtimeConfig.bulk.retentionMs,
  });
  const bulk: BulkExport = { jobs, runner, fileKey, store: sharedState.store };
  await runner.resumeAll();
  const sweep = setInterval(() => void runner.resumeAll().catch(() => undefined), 10 * 60_000);
  sweep.unref();
  const app = createApp({
    services,
    bulk,
    logger: opts.logger,
    auditLogger: audit,
    metrics,
    readiness: () => [
      ...(managedToken?.state === 'failed' ? ['nextech-credentials: the refresh token was refused; renew it (npm run login)'] : []),
      ...[source.unavailable()].filter((why) => why !== undefined),
    ],
    readinessDetails: () => sharedState.details(),
  });
  handle = (req, env) => app.fetch(req, env);
  return {
    origin: `http://localhost:${port}`,
    config: runtimeConfig,
    services,
    bulk,
    upstream,
    ...(managedToken ? { managedToken } : {}),
    memory,
    metrics,
    sharedStore: sharedState.store,
    close: async () => {
      clearInterval(sweep);
      runner.close();
      await drain(server, config.shutdownGraceMs);
      await source.close();
      await managed?.saved();
      await sharedState.store.close();
      await groups.close();
    },
  };
}
