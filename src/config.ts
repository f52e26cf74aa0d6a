/**
 * The service's configuration: every environment variable it reads, parsed once with zod.
 * `loadConfig(env)` returns a frozen Config or throws ConfigError naming every bad
 * variable at once. No other module reads process.env.
 */
import { createPrivateKey } from 'node:crypto';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';
import { addressRange } from './net/addresses.ts';
import { DEFAULT_POLICY, type UpstreamPolicy } from './source/nextech/policy.ts';

const port = z.coerce.number().int().min(0).max(65535);
const absoluteUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL')
  .transform((u) => u.replace(/\/+$/, ''));
const practiceId = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'letters, digits and "-" only (1-64)');
const seconds = z.coerce.number().positive().max(3600);
/** An identifier system template: an absolute URI, `{practiceId}` filled in per practice. */
const systemUri = (fallback: string) =>
  z.string().regex(/^(urn:|https?:\/\/)\S+$/, 'must be an absolute URI (urn: or http(s)://)').default(fallback);
const MB = 1024 * 1024;
/**
 * The document memory budget when neither DOCUMENT_MEMORY_MB nor a larger ENCOUNTER_CACHE_MB
 * is set: half the JavaScript heap, at most 256 MB.
 */
const DEFAULT_DOCUMENT_MEMORY_MB = 256;
/**
 * The most of the JavaScript heap the budget may take: the rest is the service itself and
 * the garbage V8 has not collected yet. Measured: a 256 MB budget in a 384 MB heap served a
 * burst of 50 concurrent 3 MB-CCD responses at 480 MB RSS; more would risk running the heap out.
 */
const MAX_HEAP_SHARE = 0.7;

/** What the process runs in: the heap V8 will not grow past (`--max-old-space-size`). */
export interface Runtime {
  heapLimitBytes: number;
}

const currentRuntime = (): Runtime => ({ heapLimitBytes: getHeapStatistics().heap_size_limit });
const flag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
/** A comma-separated list, empty by default: entries trimmed, empty ones dropped, each checked by `item`. */
const commaList = (item: z.ZodType<string, string>) =>
  z
    .string()
    .transform((v) => v.split(',').map((e) => e.trim()).filter(Boolean))
    .pipe(z.array(item))
    .default([]);
/** Keys accepted besides the current one while a key is rolled: comma-separated, each ≥ 32 characters. */
const acceptedKeys = commaList(z.string().min(32, 'each key at least 32 characters'));

const EnvSchema = z.object({
  PORT: port.default(8080),
  // Its default depends on the upstream (see loadConfig): loopback on the embedded sandbox.
  HOST: z.string().min(1).optional(),
  PUBLIC_BASE_URL: absoluteUrl.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NEXTECH_BASE_URL: absoluteUrl.optional(),
  NEXTECH_PRACTICE_ID: practiceId.optional(),
  NEXTECH_AUTH: z.enum(['passthrough', 'managed']).optional(),
  NEXTECH_TOKEN_URL: absoluteUrl.optional(),
  NEXTECH_CLIENT_ID: z.string().min(1).optional(),
  NEXTECH_CLIENT_SECRET: z.string().min(1).optional(),
  NEXTECH_RESOURCE: z.string().min(1).optional(),
  NEXTECH_REFRESH_TOKEN: z.string().min(1).optional(),
  NEXTECH_REFRESH_TOKEN_FILE: z.string().min(1).optional(),
  // The upstream policy's defaults live in one place: DEFAULT_POLICY.
  NEXTECH_TIMEOUT_SECONDS: seconds.default(DEFAULT_POLICY.requestMs / 1000),
  NEXTECH_CONNECT_TIMEOUT_SECONDS: seconds.default(DEFAULT_POLICY.connectMs / 1000),
  NEXTECH_HEADERS_TIMEOUT_SECONDS: seconds.default(DEFAULT_POLICY.headersMs / 1000),
  NEXTECH_BODY_TIMEOUT_SECONDS: seconds.default(DEFAULT_POLICY.bodyMs / 1000),
  NEXTECH_RETRIES: z.coerce.number().int().min(0).max(5).default(DEFAULT_POLICY.retries),
  NEXTECH_RATE_LIMIT_PER_SECOND: z.coerce.number().int().min(1).max(1000).default(DEFAULT_POLICY.ratePerSecond),
  NEXTECH_BREAKER_THRESHOLD: z.coerce.number().int().min(1).max(100).default(DEFAULT_POLICY.breakerThreshold),
  NEXTECH_BREAKER_COOLOFF_SECONDS: seconds.default(DEFAULT_POLICY.breakerCoolOffMs / 1000),
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(600).default(20),
  // What one connection may cost before any route sees it (src/http-server.ts).
  HTTP_MAX_HEADER_KB: z.coerce.number().int().min(16).max(64).default(24),
  HTTP_HEADERS_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(60).default(10),
  HTTP_REQUEST_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600).default(30),
  HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(100_000).default(1024),
  HTTP_MAX_CONNECTIONS_PER_SOURCE: z.coerce.number().int().min(1).max(100_000).default(256),
  SANDBOX_FAULTS: z.string().optional(),
  CHART_NUMBER_SYSTEM: systemUri('urn:nextech:practice:{practiceId}:chart-number'),
  PATIENT_ID_SYSTEM: systemUri('urn:nextech:practice:{practiceId}:patient-id'),
  ENCOUNTER_ID_SYSTEM: systemUri('urn:nextech:practice:{practiceId}:encounter-id'),
  DOCTOR_ID_SYSTEM: systemUri('urn:nextech:practice:{practiceId}:doctor-id'),
  EXPOSE_SSN: flag.default(false),
  ENCOUNTER_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  // Its default is the document memory budget (see loadConfig): the cache may use all of it.
  ENCOUNTER_CACHE_MB: z.coerce.number().int().min(1).max(16_384).optional(),
  // Its default is half the heap, at most 256, or ENCOUNTER_CACHE_MB when that is larger (as configured before the budget existed).
  DOCUMENT_MEMORY_MB: z.coerce.number().int().min(1).max(16_384).optional(),
  CATEGORY_CACHE_SECONDS: z.coerce.number().int().min(0).max(86_400).default(600),
  PATIENT_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  SMART_KEY: z.string().min(32, 'at least 32 characters (it keys the encryption of tokens)').optional(),
  SMART_CLIENTS: z.string().optional(),
  SMART_TOKEN_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3600),
  NEXTECH_AUTHORIZE_URL: absoluteUrl.optional(),
  SMART_SIGNING_KEY: z.string().min(1).optional(),
  ANONYMOUS_ACCESS: flag.optional(),
  RESOURCE_ID_KEY: z.string().min(32, 'at least 32 characters (it keys the encryption of resource ids)').optional(),
  METRICS_TOKEN: z.string().min(16, 'at least 16 characters').regex(/^[\x21-\x7e]+$/, 'printable ASCII, no spaces').optional(),
  BACKEND_CLIENTS: z.string().optional(),
  BACKEND_TOKEN_SECONDS: z.coerce.number().int().min(60).max(3600).default(300),
  REDIS_URL: z
    .string()
    .url()
    .refine((u) => /^rediss?:\/\//.test(u), 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'letters, digits and : _ . - only (1-64)').default('nextech-fhir:'),
  // The longest a Redis command may take before Redis counts as unavailable; decisions must run within half of it.
  REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(50).max(10_000).default(250),
  SHARED_STATE_KEY: z.string().min(32, 'at least 32 characters (it keys the encryption of what Redis holds)').optional(),
  SHARED_STATE_KEY_ACCEPTED: acceptedKeys,
  SMART_KEY_ACCEPTED: acceptedKeys,
  REPLICAS: z.coerce.number().int().min(1).max(256).default(1),
  // What Redis may hold of shared answers (sealed listings, patient searches): per caller, and in all.
  SHARED_ANSWERS_MB_PER_CALLER: z.coerce.number().int().min(1).max(16_384).default(32),
  SHARED_ANSWERS_MB: z.coerce.number().int().min(1).max(65_536).default(128),
  // Assertions live at most five minutes and codes a minute: the default is over 30 token requests a second, sustained.
  SINGLE_USE_PER_CLIENT: z.coerce.number().int().min(10).max(1_000_000).default(10_000),
  // Default: a folder of the system's temporary directory (see loadConfig).
  DATA_DIR: z.string().min(1).optional(),
  BULK_EXPORT_SHARE: z.coerce.number().gt(0).max(1).default(0.5),
  BULK_EXPORT_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(2),
  BULK_EXPORT_FILE_RESOURCES: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  BULK_EXPORT_RETENTION_HOURS: z.coerce.number().gt(0).max(720).default(24),
  BULK_EXPORT_KEY: z.string().min(32, 'at least 32 characters (it keys the encryption of export files)').optional(),
  BULK_GROUPS_FILE: z.string().min(1).optional(),
  BULK_EXPORT_ATTACHMENTS: z.enum(['inline', 'binary'], { message: 'inline (base64 in each DocumentReference) or binary (a Binary URL)' }).default('inline'),
  WORKERS: z
    .string()
    .regex(/^(auto|[1-9][0-9]{0,2})$/, 'a number of processes (1-999) or auto')
    .default('1'),
  CORS_ORIGINS: commaList(z.string().regex(/^https?:\/\/[^/\s]+$/, 'each origin is scheme://host[:port], no path')),
  TRUSTED_PROXIES: commaList(z.string().refine((e) => addressRange(e) !== undefined, 'each entry an IP address or a CIDR range, e.g. 10.0.0.5 or 10.0.0.0/8')),
});

export type AuthMode = 'passthrough' | 'managed';

export interface ManagedCredentials {
  tokenUrl: string;
  clientId: string;
  clientSecret?: string;
  resource?: string;
  /** The refresh token to start from, unless the file holds a newer one. */
  refreshToken?: string;
  /** Where `npm run login` stored the refresh token; every rotated one is written back. */
  refreshTokenFile?: string;
}

export interface Config {
  /** The port to listen on (0: any free one); once running (RuntimeConfig), the port listened on. */
  port: number;
  host: string;
  /**
   * Absolute base of this service, no trailing slash (e.g. http://localhost:8080). When not
   * configured, the server fills it in from the port it actually listens on.
   */
  publicBaseUrl?: string;
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
  /** Nextech EHR API base; undefined only under the development entry, which starts the embedded sandbox. */
  nextechBaseUrl?: string;
  defaultPracticeId?: string;
  auth: AuthMode;
  /** Present when auth is managed and credentials were configured. */
  managed?: ManagedCredentials;
  /** The upstream policy (timeouts, retries, rate budget, breaker). */
  upstream: UpstreamPolicy;
  /** How long shutdown waits for requests in flight. */
  shutdownGraceMs: number;
  /** What one connection may cost before any route sees it (src/http-server.ts). */
  http: HttpLimits;
  /** Faults the embedded sandbox injects (its spec grammar); sandbox mode only. */
  sandboxFaults?: string;
  identifierSystems: { chartNumber: string; patientId: string; encounterId: string; doctorId: string };
  exposeSsn: boolean;
  caches: { encounterTtlMs: number; encounterMaxBytes: number; categoryTtlMs: number; patientTtlMs: number };
  /** One budget for CCD documents: bodies being read plus CCD text the encounter cache holds. */
  documentMemoryBytes: number;
  /** Browser origins allowed by CORS (SMART apps); empty = CORS off. */
  corsOrigins: readonly string[];
  /**
   * Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client a request comes
   * from (TRUSTED_PROXIES). Empty, the default: the header is never believed.
   */
  trustedProxies: readonly string[];
  /**
   * Requests with no Authorization header are served with the service's own (managed)
   * Nextech credentials. Only when enabled: by default on the embedded sandbox, off otherwise.
   */
  anonymous: boolean;
  /** Keys the encryption of resource ids (stable across restarts and replicas). */
  resourceIdKey: string;
  /** Keys the encryption of every token the service issues (SMART and Backend Services). */
  tokenKey?: string;
  /** Older (or next) token keys still opened while SMART_KEY is rolled. */
  tokenKeysAccepted: readonly string[];
  /** When set, /metrics needs `Authorization: Bearer <this>`; otherwise it answers loopback peers only. */
  metricsToken?: string;
  /** SMART App Launch, when configured (always on the embedded sandbox). */
  smart?: SmartSettings;
  /** SMART Backend Services, when clients are registered. */
  backend?: BackendSettings;
  /** The service's registration at Nextech's OAuth (managed mode and the SMART broker). */
  nextechOAuth?: { tokenUrl: string; clientId: string; clientSecret?: string; resource?: string };
  /** State shared by replicas (REDIS_URL); absent: each process (or cluster) keeps its own. */
  redis?: {
    url: string;
    prefix: string;
    /**
     * The longest a command may take before Redis counts as unavailable (REDIS_COMMAND_TIMEOUT_MS);
     * a decision (a code, a refresh token, an assertion) must run in Redis within half of it.
     */
    commandTimeoutMs: number;
    key: string;
    keysAccepted: readonly string[];
    /** The most bytes of shared answers Redis holds for one caller, and for all of them. */
    answers: { perCallerBytes: number; totalBytes: number };
  };
  /**
   * Live single-use values (SMART codes, Backend Services assertion `jti`s) one registered client
   * may hold in the shared state at once: a client's flood fills its own share, not the others'.
   */
  singleUsePerClient: number;
  /** Replicas sharing one Nextech credential (REPLICAS): alone (Redis down), each takes this share of the budget. */
  replicas: number;
  /** Worker processes on this machine (WORKERS; `auto` = available cores). */
  workers: number;
  /** Where the service keeps what it stores itself (bulk export cohorts and files), owner-only. */
  dataDir: string;
  bulk: {
    share: number;
    /** Jobs run at once per process; the others wait in a queue, fairly between clients. */
    concurrency: number;
    resourcesPerFile: number;
    retentionMs: number;
    key: string;
    groupsFile?: string;
    /** CCDs in exported DocumentReferences: base64 `data` (as the API answers), or only the `url` of their Binary. */
    attachments: 'inline' | 'binary';
  };
}

export interface HttpLimits {
  /** Request line and headers together: room for the longest URL (8 KiB) and a bearer token. */
  maxHeaderBytes: number;
  /** From a request's first byte to the end of its headers; a connection must send its first byte as soon. */
  headersTimeoutMs: number;
  /** From a request's first byte to the end of its body. */
  requestTimeoutMs: number;
  /** Open connections in all; more are closed as they arrive. */
  maxConnections: number;
  /** Open connections from one remote address (behind a balancer: the balancer's). */
  maxConnectionsPerSource: number;
}

export interface SmartClient {
  clientId: string;
  redirectUris: readonly string[];
  /** Confidential clients authenticate with it (client_secret_basic or _post). */
  clientSecret?: string;
  name?: string;
}

export interface SmartSettings {
  clients: readonly SmartClient[];
  accessTokenSeconds: number;
  /** Nextech's interactive authorize endpoint, where users log in. */
  nextechAuthorizeUrl?: string;
  /** PEM private key (RSA) that signs id_tokens; without one, `openid` is not offered. */
  signingKey?: string;
}

/** A Backend Services client (SMART `client-confidential-asymmetric`), registered in configuration. */
export interface BackendClient {
  clientId: string;
  name?: string;
  /** Its public keys, inline… */
  jwks?: { keys: Record<string, unknown>[] };
  /** …or where to fetch them. */
  jwksUri?: string;
  /** The most it may be granted (`system/` scopes, v1 or v2). */
  scope: string;
  /** The practices its tokens may read. */
  practices: readonly string[];
}

export interface BackendSettings {
  clients: readonly BackendClient[];
  accessTokenSeconds: number;
}

/** Fixed development key for resource ids on the embedded sandbox only (ids stay stable across restarts). */
export const SANDBOX_RESOURCE_ID_KEY = 'nextech-fhir-facade/sandbox-only/resource-ids/v1';

const SmartClientsSchema = z.array(
  z
    .object({
      client_id: z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/),
      redirect_uris: z.array(z.string().url()).min(1),
      client_secret: z.string().min(16).optional(),
      name: z.string().max(200).optional(),
    })
    .strict(),
);

const BackendClientsSchema = z.array(
  z
    .object({
      client_id: z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/),
      name: z.string().max(200).optional(),
      jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).optional(),
      jwks_uri: z.string().url().refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL').optional(),
      scope: z.string().regex(/^system\/\S+( system\/\S+)*$/, 'space-separated system/ scopes').default('system/*.rs'),
      practices: z.array(practiceId).min(1),
    })
    .strict()
    .refine((c) => (c.jwks === undefined) !== (c.jwks_uri === undefined), 'give exactly one of jwks and jwks_uri'),
);

/** A variable holding a JSON list checked by `schema`; problems are named under `name`. */
function parseJsonList<T>(name: string, raw: string | undefined, schema: z.ZodType<T[]>, example: string, problems: Map<string, string>): T[] {
  if (raw === undefined) return [];
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    problems.set(name, `must be JSON: ${example}`);
    return [];
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    problems.set(name, `invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
    return [];
  }
  return parsed.data;
}

function parseBackendClients(raw: string | undefined, problems: Map<string, string>): BackendClient[] {
  const example = '[{"client_id":…,"jwks_uri":…,"practices":[…]}]';
  return parseJsonList('BACKEND_CLIENTS', raw, BackendClientsSchema, example, problems).map((c) => ({
    clientId: c.client_id,
    ...(c.name ? { name: c.name } : {}),
    ...(c.jwks ? { jwks: c.jwks } : {}),
    ...(c.jwks_uri ? { jwksUri: c.jwks_uri } : {}),
    scope: c.scope,
    practices: Object.freeze([...c.practices]),
  }));
}

/** The id_token signing key must be an RSA private key of at least 2048 bits (RS256). */
function checkSigningKey(pem: string | undefined, problems: Map<string, string>): void {
  if (pem === undefined) return;
  try {
    const key = createPrivateKey(pem);
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (key.asymmetricKeyType !== 'rsa' || bits < 2048) problems.set('SMART_SIGNING_KEY', 'must be an RSA private key of at least 2048 bits (PEM)');
  } catch {
    problems.set('SMART_SIGNING_KEY', 'must be a PEM private key');
  }
}

function parseSmartClients(raw: string | undefined, problems: Map<string, string>): SmartClient[] {
  return parseJsonList('SMART_CLIENTS', raw, SmartClientsSchema, '[{"client_id":…,"redirect_uris":[…]}]', problems).map((c) => ({
    clientId: c.client_id,
    redirectUris: Object.freeze([...c.redirect_uris]),
    ...(c.client_secret ? { clientSecret: c.client_secret } : {}),
    ...(c.name ? { name: c.name } : {}),
  }));
}

/** The configuration once the service runs: every default resolved. */
export type RuntimeConfig = Readonly<Config & { publicBaseUrl: string }>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /**
   * The production entry's reading: NEXTECH_BASE_URL is required, so no development default
   * (embedded sandbox, anonymous access, fixed id key) can apply, and every variable a real
   * Nextech needs is checked in the same message.
   */
  requireNextech?: boolean;
}

/**
 * Parses the environment. Managed mode needs NEXTECH_TOKEN_URL, NEXTECH_CLIENT_ID and
 * NEXTECH_REFRESH_TOKEN unless the embedded sandbox is used (NEXTECH_BASE_URL unset, which
 * only the development entry accepts), in which case the sandbox supplies them at start-up.
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  runtime: Runtime = currentRuntime(),
  opts: LoadOptions = {},
): Readonly<Config> {
  // Empty strings mean "unset", as in most process managers' env files.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  // One message per variable, every variable at once: schema problems and the cross-checks.
  const problems = new Map<string, string>();
  const sandbox = cleaned.NEXTECH_BASE_URL === undefined && opts.requireNextech !== true;
  if (cleaned.NEXTECH_BASE_URL === undefined && !sandbox) {
    problems.set('NEXTECH_BASE_URL', 'required: the production entry serves a real Nextech (npm start runs the service on the embedded sandbox)');
  }
  for (const i of parsed.success ? [] : parsed.error.issues) {
    const name = i.path.join('.');
    if (!problems.has(name)) problems.set(name, i.message);
  }
  const managedMode = (cleaned.NEXTECH_AUTH ?? 'managed') === 'managed' && !sandbox;
  if (managedMode) {
    for (const name of ['NEXTECH_TOKEN_URL', 'NEXTECH_CLIENT_ID'] as const) {
      if (cleaned[name] === undefined) problems.set(name, 'required when NEXTECH_AUTH=managed');
    }
    if (cleaned.NEXTECH_REFRESH_TOKEN === undefined && cleaned.NEXTECH_REFRESH_TOKEN_FILE === undefined) {
      problems.set('NEXTECH_REFRESH_TOKEN', 'required when NEXTECH_AUTH=managed (or NEXTECH_REFRESH_TOKEN_FILE, written by npm run login)');
    }
  }
  const authMode = cleaned.NEXTECH_AUTH ?? 'managed';
  const smartClients = parseSmartClients(cleaned.SMART_CLIENTS, problems);
  if (cleaned.SMART_CLIENTS !== undefined && !sandbox) {
    for (const name of ['SMART_KEY', 'NEXTECH_AUTHORIZE_URL', 'NEXTECH_TOKEN_URL', 'NEXTECH_CLIENT_ID'] as const) {
      if (cleaned[name] === undefined) problems.set(name, 'required when SMART_CLIENTS is set');
    }
  }
  const backendClients = parseBackendClients(cleaned.BACKEND_CLIENTS, problems);
  if (cleaned.BACKEND_CLIENTS !== undefined) {
    if (authMode !== 'managed') problems.set('BACKEND_CLIENTS', 'needs NEXTECH_AUTH=managed: Backend Services clients are served with the service\'s own Nextech credentials');
    else if (!sandbox && cleaned.SMART_KEY === undefined) problems.set('SMART_KEY', 'required when BACKEND_CLIENTS is set (it keys the tokens issued)');
  }
  if (!sandbox && cleaned.RESOURCE_ID_KEY === undefined) {
    problems.set('RESOURCE_ID_KEY', 'required with NEXTECH_BASE_URL (it keys resource ids; give every replica the same one)');
  }
  if (authMode === 'passthrough' && ['true', '1'].includes(cleaned.ANONYMOUS_ACCESS ?? '')) {
    problems.set('ANONYMOUS_ACCESS', 'needs NEXTECH_AUTH=managed: anonymous callers are served with the service\'s own Nextech credentials');
  }
  checkSigningKey(cleaned.SMART_SIGNING_KEY, problems);
  if (sandbox && cleaned.WORKERS !== undefined && cleaned.WORKERS !== '1') {
    problems.set('WORKERS', 'needs NEXTECH_BASE_URL: the embedded sandbox and its development keys live in one process');
  }
  if (cleaned.REDIS_URL !== undefined && cleaned.SHARED_STATE_KEY === undefined) {
    problems.set('SHARED_STATE_KEY', 'required with REDIS_URL (it encrypts the tokens and patient data Redis holds; give every replica the same one)');
  }
  if (parsed.success && parsed.data.SHARED_ANSWERS_MB_PER_CALLER > parsed.data.SHARED_ANSWERS_MB) {
    problems.set('SHARED_ANSWERS_MB_PER_CALLER', 'must not exceed SHARED_ANSWERS_MB (what one caller keeps is part of all answers)');
  }
  if (parsed.success && parsed.data.HTTP_REQUEST_TIMEOUT_SECONDS < parsed.data.HTTP_HEADERS_TIMEOUT_SECONDS) {
    problems.set('HTTP_REQUEST_TIMEOUT_SECONDS', 'must be at least HTTP_HEADERS_TIMEOUT_SECONDS (the headers are part of the request)');
  }
  if (parsed.success && parsed.data.HTTP_MAX_CONNECTIONS_PER_SOURCE > parsed.data.HTTP_MAX_CONNECTIONS) {
    problems.set('HTTP_MAX_CONNECTIONS_PER_SOURCE', 'must not exceed HTTP_MAX_CONNECTIONS');
  }
  if (parsed.success && parsed.data.DOCUMENT_MEMORY_MB !== undefined && (parsed.data.ENCOUNTER_CACHE_MB ?? 0) > parsed.data.DOCUMENT_MEMORY_MB) {
    problems.set('ENCOUNTER_CACHE_MB', 'must not exceed DOCUMENT_MEMORY_MB (the cache holds its CCDs inside that budget)');
  }
  const heapMb = Math.floor(runtime.heapLimitBytes / MB);
  if (parsed.success) {
    const { DOCUMENT_MEMORY_MB: budget, ENCOUNTER_CACHE_MB: cache } = parsed.data;
    const name = budget === undefined ? 'ENCOUNTER_CACHE_MB' : 'DOCUMENT_MEMORY_MB';
    if ((budget ?? cache ?? 0) > heapMb * MAX_HEAP_SHARE) {
      problems.set(
        name,
        `must be at most ${Math.floor(heapMb * MAX_HEAP_SHARE)} in this process's ${heapMb} MB JavaScript heap (large documents at once could exhaust it): lower it, or give Node a larger heap (NODE_OPTIONS=--max-old-space-size=…)`,
      );
    }
  }
  if (!parsed.success || problems.size > 0) {
    throw new ConfigError([...problems].map(([name, why]) => `${name}: ${why}`));
  }
  const e = parsed.data;
  const auth: AuthMode = e.NEXTECH_AUTH ?? 'managed';
  const documentMemoryMb = e.DOCUMENT_MEMORY_MB ?? Math.max(Math.min(DEFAULT_DOCUMENT_MEMORY_MB, Math.floor(heapMb / 2)), e.ENCOUNTER_CACHE_MB ?? 0);
  let managed: ManagedCredentials | undefined;
  if (managedMode) {
    if (e.NEXTECH_TOKEN_URL && e.NEXTECH_CLIENT_ID) {
      managed = {
        tokenUrl: e.NEXTECH_TOKEN_URL,
        clientId: e.NEXTECH_CLIENT_ID,
        ...(e.NEXTECH_REFRESH_TOKEN ? { refreshToken: e.NEXTECH_REFRESH_TOKEN } : {}),
        ...(e.NEXTECH_REFRESH_TOKEN_FILE ? { refreshTokenFile: e.NEXTECH_REFRESH_TOKEN_FILE } : {}),
        ...(e.NEXTECH_CLIENT_SECRET ? { clientSecret: e.NEXTECH_CLIENT_SECRET } : {}),
        ...(e.NEXTECH_RESOURCE ? { resource: e.NEXTECH_RESOURCE } : {}),
      };
    }
  }
  return Object.freeze({
    port: e.PORT,
    // On the embedded sandbox anonymous access is on by default: listen on loopback only.
    host: e.HOST ?? (sandbox ? '127.0.0.1' : '0.0.0.0'),
    ...(e.PUBLIC_BASE_URL ? { publicBaseUrl: e.PUBLIC_BASE_URL } : {}),
    logLevel: e.LOG_LEVEL,
    ...(e.NEXTECH_BASE_URL ? { nextechBaseUrl: e.NEXTECH_BASE_URL } : {}),
    ...(e.NEXTECH_PRACTICE_ID ? { defaultPracticeId: e.NEXTECH_PRACTICE_ID } : {}),
    auth,
    ...(managed ? { managed: Object.freeze(managed) } : {}),
    upstream: Object.freeze({
      requestMs: e.NEXTECH_TIMEOUT_SECONDS * 1000,
      connectMs: e.NEXTECH_CONNECT_TIMEOUT_SECONDS * 1000,
      headersMs: e.NEXTECH_HEADERS_TIMEOUT_SECONDS * 1000,
      bodyMs: e.NEXTECH_BODY_TIMEOUT_SECONDS * 1000,
      retries: e.NEXTECH_RETRIES,
      ratePerSecond: e.NEXTECH_RATE_LIMIT_PER_SECOND,
      breakerThreshold: e.NEXTECH_BREAKER_THRESHOLD,
      breakerCoolOffMs: e.NEXTECH_BREAKER_COOLOFF_SECONDS * 1000,
    }),
    shutdownGraceMs: e.SHUTDOWN_GRACE_SECONDS * 1000,
    http: Object.freeze({
      maxHeaderBytes: e.HTTP_MAX_HEADER_KB * 1024,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
      maxConnections: e.HTTP_MAX_CONNECTIONS,
      maxConnectionsPerSource: e.HTTP_MAX_CONNECTIONS_PER_SOURCE,
    }),
    ...(e.SANDBOX_FAULTS ? { sandboxFaults: e.SANDBOX_FAULTS } : {}),
    identifierSystems: Object.freeze({
      chartNumber: e.CHART_NUMBER_SYSTEM,
      patientId: e.PATIENT_ID_SYSTEM,
      encounterId: e.ENCOUNTER_ID_SYSTEM,
      doctorId: e.DOCTOR_ID_SYSTEM,
    }),
    exposeSsn: e.EXPOSE_SSN,
    caches: Object.freeze({
      encounterTtlMs: e.ENCOUNTER_CACHE_SECONDS * 1000,
      encounterMaxBytes: (e.ENCOUNTER_CACHE_MB ?? documentMemoryMb) * MB,
      categoryTtlMs: e.CATEGORY_CACHE_SECONDS * 1000,
      patientTtlMs: e.PATIENT_CACHE_SECONDS * 1000,
    }),
    documentMemoryBytes: documentMemoryMb * MB,
    corsOrigins: Object.freeze([...e.CORS_ORIGINS]),
    trustedProxies: Object.freeze([...e.TRUSTED_PROXIES]),
    ...(e.NEXTECH_TOKEN_URL && e.NEXTECH_CLIENT_ID
      ? {
          nextechOAuth: Object.freeze({
            tokenUrl: e.NEXTECH_TOKEN_URL,
            clientId: e.NEXTECH_CLIENT_ID,
            ...(e.NEXTECH_CLIENT_SECRET ? { clientSecret: e.NEXTECH_CLIENT_SECRET } : {}),
            ...(e.NEXTECH_RESOURCE ? { resource: e.NEXTECH_RESOURCE } : {}),
          }),
        }
      : {}),
    anonymous: e.ANONYMOUS_ACCESS ?? (sandbox && auth === 'managed'),
    resourceIdKey: e.RESOURCE_ID_KEY ?? SANDBOX_RESOURCE_ID_KEY,
    ...(e.SMART_KEY ? { tokenKey: e.SMART_KEY } : {}),
    tokenKeysAccepted: Object.freeze([...e.SMART_KEY_ACCEPTED]),
    ...(e.METRICS_TOKEN ? { metricsToken: e.METRICS_TOKEN } : {}),
    ...(smartClients.length > 0 || sandbox
      ? {
          smart: Object.freeze({
            clients: Object.freeze(smartClients),
            accessTokenSeconds: e.SMART_TOKEN_SECONDS,
            ...(e.NEXTECH_AUTHORIZE_URL ? { nextechAuthorizeUrl: e.NEXTECH_AUTHORIZE_URL } : {}),
            ...(e.SMART_SIGNING_KEY ? { signingKey: e.SMART_SIGNING_KEY } : {}),
          }),
        }
      : {}),
    ...(backendClients.length > 0
      ? { backend: Object.freeze({ clients: Object.freeze(backendClients), accessTokenSeconds: e.BACKEND_TOKEN_SECONDS }) }
      : {}),
    ...(e.REDIS_URL && e.SHARED_STATE_KEY
      ? {
          redis: Object.freeze({
            url: e.REDIS_URL,
            prefix: e.REDIS_PREFIX,
            commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
            key: e.SHARED_STATE_KEY,
            keysAccepted: Object.freeze([...e.SHARED_STATE_KEY_ACCEPTED]),
            answers: Object.freeze({ perCallerBytes: e.SHARED_ANSWERS_MB_PER_CALLER * MB, totalBytes: e.SHARED_ANSWERS_MB * MB }),
          }),
        }
      : {}),
    singleUsePerClient: e.SINGLE_USE_PER_CLIENT,
    replicas: e.REPLICAS,
    dataDir: e.DATA_DIR ?? join(tmpdir(), 'nextech-fhir-facade'),
    bulk: Object.freeze({
      share: e.BULK_EXPORT_SHARE,
      concurrency: e.BULK_EXPORT_CONCURRENCY,
      resourcesPerFile: e.BULK_EXPORT_FILE_RESOURCES,
      retentionMs: e.BULK_EXPORT_RETENTION_HOURS * 3_600_000,
      // Derived from the resource-id key unless given (HKDF with its own label: export-files.ts).
      key: e.BULK_EXPORT_KEY ?? e.RESOURCE_ID_KEY ?? SANDBOX_RESOURCE_ID_KEY,
      ...(e.BULK_GROUPS_FILE ? { groupsFile: e.BULK_GROUPS_FILE } : {}),
      attachments: e.BULK_EXPORT_ATTACHMENTS,
    }),
    workers: e.WORKERS === 'auto' ? availableParallelism() : Number(e.WORKERS),
  });
}
