// loadConfig (src/config.ts): the environment is parsed once, every bad variable is named in
// one ConfigError, and the result is frozen. The last test runs the real entry point to see
// the process exit with status 2 and the message on stderr.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, loadConfig, SANDBOX_RESOURCE_ID_KEY } from '../../src/config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ID_KEY = 'an operator-chosen resource id key of 32+ characters';
const MANAGED_CREDENTIALS = {
  NEXTECH_TOKEN_URL: 'https://login.example.org/oauth2/token/',
  NEXTECH_CLIENT_ID: 'facade',
  NEXTECH_REFRESH_TOKEN: 'r-123',
  RESOURCE_ID_KEY: ID_KEY,
};

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

describe('loadConfig', () => {
  it('fills every default from an empty environment', () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      // The embedded sandbox with anonymous access on: loopback only.
      host: '127.0.0.1',
      anonymous: true,
      resourceIdKey: SANDBOX_RESOURCE_ID_KEY,
      logLevel: 'info',
      auth: 'managed',
      identifierSystems: {
        chartNumber: 'urn:nextech:practice:{practiceId}:chart-number',
        patientId: 'urn:nextech:practice:{practiceId}:patient-id',
        encounterId: 'urn:nextech:practice:{practiceId}:encounter-id',
        doctorId: 'urn:nextech:practice:{practiceId}:doctor-id',
      },
      exposeSsn: false,
      caches: { encounterTtlMs: 60_000, encounterMaxBytes: 256 * 1024 * 1024, categoryTtlMs: 600_000, patientTtlMs: 60_000 },
      documentMemoryBytes: 256 * 1024 * 1024,
      upstream: {
        requestMs: 30_000,
        connectMs: 5_000,
        headersMs: 20_000,
        bodyMs: 20_000,
        retries: 2,
        ratePerSecond: 20,
        breakerThreshold: 5,
        breakerCoolOffMs: 30_000,
      },
      shutdownGraceMs: 20_000,
      http: { maxHeaderBytes: 24 * 1024, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxConnections: 1024, maxConnectionsPerSource: 256 },
      corsOrigins: [],
      // No proxy is trusted: X-Forwarded-For is never read.
      trustedProxies: [],
      // No NEXTECH_BASE_URL: the embedded sandbox, where SMART works out of the box.
      smart: { clients: [], accessTokenSeconds: 3600 },
      // One process, no Redis: every piece of state is this process's own.
      replicas: 1,
      workers: 1,
      // A registered client's share of the single-use memories (codes, assertions).
      singleUsePerClient: 10_000,
      tokenKeysAccepted: [],
      dataDir: join(tmpdir(), 'nextech-fhir-facade'),
      bulk: { share: 0.5, concurrency: 2, resourcesPerFile: 10_000, retentionMs: 24 * 3_600_000, key: SANDBOX_RESOURCE_ID_KEY, attachments: 'inline' },
    });
  });

  it('reads every variable it knows', () => {
    const config = loadConfig({
      PORT: '9090',
      HOST: '127.0.0.1',
      PUBLIC_BASE_URL: 'https://fhir.example.org',
      LOG_LEVEL: 'debug',
      NEXTECH_BASE_URL: 'https://api.nextech.example/ehr',
      NEXTECH_PRACTICE_ID: '1001',
      NEXTECH_AUTH: 'managed',
      ...MANAGED_CREDENTIALS,
      NEXTECH_CLIENT_SECRET: 's3cret',
      NEXTECH_RESOURCE: 'api://nextech',
      NEXTECH_TIMEOUT_SECONDS: '7.5',
      NEXTECH_CONNECT_TIMEOUT_SECONDS: '2',
      CHART_NUMBER_SYSTEM: 'https://ehr.example.org/{practiceId}/charts',
      PATIENT_ID_SYSTEM: 'urn:oid:2.16.840.1.113883.3.{practiceId}',
      ENCOUNTER_ID_SYSTEM: 'urn:x-ehr:{practiceId}:encounters',
      DOCTOR_ID_SYSTEM: 'https://ehr.example.org/{practiceId}/doctors',
      EXPOSE_SSN: 'true',
      ENCOUNTER_CACHE_SECONDS: '0',
      ENCOUNTER_CACHE_MB: '32',
      DOCUMENT_MEMORY_MB: '128',
      CATEGORY_CACHE_SECONDS: '30',
      CORS_ORIGINS: 'https://app.example.org, http://localhost:3000',
      TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.10,fd00::/8',
      REDIS_URL: 'redis://redis.internal:6379/2',
      REDIS_PREFIX: 'facade-a:',
      REDIS_COMMAND_TIMEOUT_MS: '1500',
      SHARED_STATE_KEY: 'shared state key, at least 32 characters',
      SHARED_STATE_KEY_ACCEPTED: 'the previous shared state key of 32+ chars',
      SMART_KEY_ACCEPTED: 'old token key one of at least 32 chars, , old token key two of at least 32 chars',
      REPLICAS: '3',
      SHARED_ANSWERS_MB_PER_CALLER: '16',
      SHARED_ANSWERS_MB: '64',
      SINGLE_USE_PER_CLIENT: '500',
      WORKERS: '2',
      DATA_DIR: '/var/lib/nextech-fhir',
      BULK_EXPORT_SHARE: '0.25',
      BULK_EXPORT_CONCURRENCY: '4',
      BULK_EXPORT_ATTACHMENTS: 'binary',
      BULK_EXPORT_FILE_RESOURCES: '500',
      BULK_EXPORT_RETENTION_HOURS: '48',
      BULK_EXPORT_KEY: 'bulk export key of at least 32 characters',
      HTTP_MAX_HEADER_KB: '32',
      HTTP_HEADERS_TIMEOUT_SECONDS: '5',
      HTTP_REQUEST_TIMEOUT_SECONDS: '20',
      HTTP_MAX_CONNECTIONS: '4000',
      HTTP_MAX_CONNECTIONS_PER_SOURCE: '2000',
    });
    expect(config).toEqual({
      port: 9090,
      host: '127.0.0.1',
      publicBaseUrl: 'https://fhir.example.org',
      logLevel: 'debug',
      nextechBaseUrl: 'https://api.nextech.example/ehr',
      defaultPracticeId: '1001',
      auth: 'managed',
      managed: {
        tokenUrl: 'https://login.example.org/oauth2/token',
        clientId: 'facade',
        refreshToken: 'r-123',
        clientSecret: 's3cret',
        resource: 'api://nextech',
      },
      identifierSystems: {
        chartNumber: 'https://ehr.example.org/{practiceId}/charts',
        patientId: 'urn:oid:2.16.840.1.113883.3.{practiceId}',
        encounterId: 'urn:x-ehr:{practiceId}:encounters',
        doctorId: 'https://ehr.example.org/{practiceId}/doctors',
      },
      exposeSsn: true,
      caches: { encounterTtlMs: 0, encounterMaxBytes: 32 * 1024 * 1024, categoryTtlMs: 30_000, patientTtlMs: 60_000 },
      documentMemoryBytes: 128 * 1024 * 1024,
      upstream: {
        requestMs: 7_500,
        connectMs: 2_000,
        headersMs: 20_000,
        bodyMs: 20_000,
        retries: 2,
        ratePerSecond: 20,
        breakerThreshold: 5,
        breakerCoolOffMs: 30_000,
      },
      shutdownGraceMs: 20_000,
      http: { maxHeaderBytes: 32 * 1024, headersTimeoutMs: 5_000, requestTimeoutMs: 20_000, maxConnections: 4000, maxConnectionsPerSource: 2000 },
      corsOrigins: ['https://app.example.org', 'http://localhost:3000'],
      trustedProxies: ['10.0.0.0/8', '192.168.1.10', 'fd00::/8'],
      redis: {
        url: 'redis://redis.internal:6379/2',
        prefix: 'facade-a:',
        commandTimeoutMs: 1500,
        key: 'shared state key, at least 32 characters',
        keysAccepted: ['the previous shared state key of 32+ chars'],
        answers: { perCallerBytes: 16 * 1024 * 1024, totalBytes: 64 * 1024 * 1024 },
      },
      singleUsePerClient: 500,
      tokenKeysAccepted: ['old token key one of at least 32 chars', 'old token key two of at least 32 chars'],
      replicas: 3,
      workers: 2,
      dataDir: '/var/lib/nextech-fhir',
      bulk: { share: 0.25, concurrency: 4, resourcesPerFile: 500, retentionMs: 48 * 3_600_000, key: 'bulk export key of at least 32 characters', attachments: 'binary' },
      anonymous: false,
      resourceIdKey: ID_KEY,
      nextechOAuth: {
        tokenUrl: 'https://login.example.org/oauth2/token',
        clientId: 'facade',
        clientSecret: 's3cret',
        resource: 'api://nextech',
      },
    });
  });

  it('needs SHARED_STATE_KEY with REDIS_URL, a redis URL, and WORKERS as a count or auto', () => {
    expect(configError({ REDIS_URL: 'redis://127.0.0.1:6379' }).problems).toEqual([
      'SHARED_STATE_KEY: required with REDIS_URL (it encrypts the tokens and patient data Redis holds; give every replica the same one)',
    ]);
    const bad = configError({ REDIS_URL: 'http://127.0.0.1:6379', SHARED_STATE_KEY: 'short', WORKERS: '0', REPLICAS: '0', REDIS_COMMAND_TIMEOUT_MS: '10' });
    expect(bad.problems.map((p) => p.split(':')[0]).sort()).toEqual(['REDIS_COMMAND_TIMEOUT_MS', 'REDIS_URL', 'REPLICAS', 'SHARED_STATE_KEY', 'WORKERS']);
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', SHARED_STATE_KEY: 's'.repeat(32) }).redis?.commandTimeoutMs).toBe(250);
    // What one caller keeps of shared answers is part of all of them; a client's share of single-use values is at least a few.
    const quotas = configError({ SHARED_ANSWERS_MB_PER_CALLER: '256', SHARED_ANSWERS_MB: '128', SINGLE_USE_PER_CLIENT: '1' });
    expect(quotas.problems.map((p) => p.split(':')[0]).sort()).toEqual(['SINGLE_USE_PER_CLIENT']);
    expect(configError({ SHARED_ANSWERS_MB_PER_CALLER: '256', SHARED_ANSWERS_MB: '128' }).problems).toEqual([
      'SHARED_ANSWERS_MB_PER_CALLER: must not exceed SHARED_ANSWERS_MB (what one caller keeps is part of all answers)',
    ]);
    const real = { NEXTECH_BASE_URL: 'https://api.nextech.example/ehr', NEXTECH_AUTH: 'passthrough', RESOURCE_ID_KEY: 'k'.repeat(32) };
    expect(loadConfig({ ...real, WORKERS: 'auto' }).workers).toBeGreaterThanOrEqual(1);
    // The embedded sandbox runs in one process.
    expect(configError({ WORKERS: '2' }).problems).toEqual(['WORKERS: needs NEXTECH_BASE_URL: the embedded sandbox and its development keys live in one process']);
  });

  it('names every bad variable in one ConfigError', () => {
    const err = configError({ PORT: 'abc', NEXTECH_AUTH: 'bogus', NEXTECH_BASE_URL: 'not-a-url' });
    const named = new Set(err.problems.map((p) => p.slice(0, p.indexOf(':'))));
    // A Nextech base URL, even a bad one, also needs the resource id key.
    expect([...named].sort()).toEqual(['NEXTECH_AUTH', 'NEXTECH_BASE_URL', 'PORT', 'RESOURCE_ID_KEY']);
    for (const name of named) expect(err.message).toContain(`${name}:`);
  });

  it('names bad variables from both validation stages in one ConfigError', () => {
    const err = configError({ PORT: 'abc', CHART_NUMBER_SYSTEM: 'chart-number' });
    expect(err.message).toContain('PORT:');
    expect(err.message).toContain('CHART_NUMBER_SYSTEM:');
  });

  it('names each missing credential in managed mode against a real Nextech', () => {
    const err = configError({ NEXTECH_BASE_URL: 'https://api.nextech.example', NEXTECH_AUTH: 'managed' });
    expect(err.problems).toEqual([
      'NEXTECH_TOKEN_URL: required when NEXTECH_AUTH=managed',
      'NEXTECH_CLIENT_ID: required when NEXTECH_AUTH=managed',
      'NEXTECH_REFRESH_TOKEN: required when NEXTECH_AUTH=managed (or NEXTECH_REFRESH_TOKEN_FILE, written by npm run login)',
      'RESOURCE_ID_KEY: required with NEXTECH_BASE_URL (it keys resource ids; give every replica the same one)',
    ]);
  });

  it('takes a refresh token file instead of a refresh token', () => {
    const config = loadConfig({
      NEXTECH_BASE_URL: 'https://api.nextech.example',
      ...MANAGED_CREDENTIALS,
      NEXTECH_REFRESH_TOKEN: undefined,
      NEXTECH_REFRESH_TOKEN_FILE: '/var/lib/facade/token.json',
    });
    expect(config.managed?.refreshTokenFile).toBe('/var/lib/facade/token.json');
    expect(config.managed?.refreshToken).toBeUndefined();
  });

  it('names only the credential that is missing', () => {
    const err = configError({ NEXTECH_BASE_URL: 'https://api.nextech.example', ...MANAGED_CREDENTIALS, NEXTECH_CLIENT_ID: undefined });
    expect(err.problems).toEqual(['NEXTECH_CLIENT_ID: required when NEXTECH_AUTH=managed']);
  });

  it('defaults to managed mode, so credentials are needed without NEXTECH_AUTH', () => {
    const err = configError({ NEXTECH_BASE_URL: 'https://api.nextech.example', RESOURCE_ID_KEY: ID_KEY });
    expect(err.problems).toHaveLength(3);
  });

  it('needs no credentials in managed mode with the embedded sandbox', () => {
    const config = loadConfig({ NEXTECH_AUTH: 'managed' });
    expect(config.auth).toBe('managed');
    expect(config.managed).toBeUndefined();
  });

  it('requires NEXTECH_BASE_URL for the production entry, naming with it everything a real Nextech needs', () => {
    const production = (env: Record<string, string>) => loadConfig(env, undefined, { requireNextech: true });
    let err: unknown;
    try {
      production({ PORT: 'abc' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((p) => p.split(':')[0])).toEqual([
      'NEXTECH_BASE_URL',
      'PORT',
      'NEXTECH_TOKEN_URL',
      'NEXTECH_CLIENT_ID',
      'NEXTECH_REFRESH_TOKEN',
      'RESOURCE_ID_KEY',
    ]);
    // With a Nextech named, the production reading is the ordinary one: no development default.
    const env = { NEXTECH_BASE_URL: 'https://api.nextech.example', ...MANAGED_CREDENTIALS };
    expect(production(env)).toEqual(loadConfig(env));
    expect(production(env).anonymous).toBe(false);
  });

  it('needs no credentials in passthrough mode with a real Nextech', () => {
    const config = loadConfig({ NEXTECH_BASE_URL: 'https://api.nextech.example', NEXTECH_AUTH: 'passthrough', RESOURCE_ID_KEY: ID_KEY });
    expect(config.auth).toBe('passthrough');
    expect(config.nextechBaseUrl).toBe('https://api.nextech.example');
    expect(config.managed).toBeUndefined();
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({
      PORT: '',
      NEXTECH_BASE_URL: '',
      NEXTECH_AUTH: '',
      PUBLIC_BASE_URL: '',
      EXPOSE_SSN: '',
      CHART_NUMBER_SYSTEM: '',
    });
    expect(config).toEqual(loadConfig({}));
  });

  it('strips trailing slashes from URLs', () => {
    const config = loadConfig({
      PUBLIC_BASE_URL: 'http://localhost:8080/',
      NEXTECH_BASE_URL: 'https://api.nextech.example/ehr//',
      ...MANAGED_CREDENTIALS,
    });
    expect(config.publicBaseUrl).toBe('http://localhost:8080');
    expect(config.nextechBaseUrl).toBe('https://api.nextech.example/ehr');
    expect(config.managed?.tokenUrl).toBe('https://login.example.org/oauth2/token');
  });

  it('refuses a URL that is not http(s)', () => {
    expect(configError({ PUBLIC_BASE_URL: 'ftp://files.example.org' }).message).toContain('PUBLIC_BASE_URL:');
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  const flags: Array<[string, boolean]> = [
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ];
  for (const [value, want] of flags) {
    it(`reads EXPOSE_SSN=${value} as ${want}`, () => {
      expect(loadConfig({ EXPOSE_SSN: value }).exposeSsn).toBe(want);
    });
  }
  for (const value of ['yes', 'TRUE', 'on']) {
    it(`refuses EXPOSE_SSN=${value}`, () => {
      expect(configError({ EXPOSE_SSN: value }).message).toContain('EXPOSE_SSN:');
    });
  }

  const systems: Array<[string, boolean]> = [
    ['urn:nextech:charts', true],
    ['http://ehr.example.org/charts', true],
    ['https://ehr.example.org/{practiceId}/charts', true],
    ['chart-number', false],
    ['ehr.example.org/charts', false],
    ['mailto:charts@example.org', false],
  ];
  for (const [value, ok] of systems) {
    it(`${ok ? 'accepts' : 'refuses'} CHART_NUMBER_SYSTEM=${value}`, () => {
      if (ok) expect(loadConfig({ CHART_NUMBER_SYSTEM: value }).identifierSystems.chartNumber).toBe(value);
      else expect(configError({ CHART_NUMBER_SYSTEM: value }).problems).toEqual(['CHART_NUMBER_SYSTEM: must be an absolute URI (urn: or http(s)://)']);
    });
  }

  it('names every identifier system that is not an absolute URI', () => {
    const names = ['CHART_NUMBER_SYSTEM', 'PATIENT_ID_SYSTEM', 'ENCOUNTER_ID_SYSTEM', 'DOCTOR_ID_SYSTEM'];
    const err = configError(Object.fromEntries(names.map((n) => [n, 'relative/{practiceId}'])));
    expect(err.problems).toEqual(names.map((n) => `${n}: must be an absolute URI (urn: or http(s)://)`));
  });

  it('gives the encounter cache the whole document memory budget unless ENCOUNTER_CACHE_MB narrows it', () => {
    const MB = 1024 * 1024;
    // A 4 GB heap, as Node gives itself on a large machine.
    const of = (env: Record<string, string>) => {
      const c = loadConfig(env, { heapLimitBytes: 4096 * MB });
      return [c.documentMemoryBytes / MB, c.caches.encounterMaxBytes / MB];
    };
    expect(of({ DOCUMENT_MEMORY_MB: '512' })).toEqual([512, 512]);
    expect(of({ DOCUMENT_MEMORY_MB: '512', ENCOUNTER_CACHE_MB: '100' })).toEqual([512, 100]);
    expect(of({ ENCOUNTER_CACHE_MB: '100' })).toEqual([256, 100]);
    // A larger cache configured before the budget existed still starts, with a budget that holds it.
    expect(of({ ENCOUNTER_CACHE_MB: '1024' })).toEqual([1024, 1024]);
    expect(configError({ DOCUMENT_MEMORY_MB: '64', ENCOUNTER_CACHE_MB: '128' }).message).toContain('ENCOUNTER_CACHE_MB: must not exceed DOCUMENT_MEMORY_MB');
    expect(configError({ DOCUMENT_MEMORY_MB: '0' }).message).toContain('DOCUMENT_MEMORY_MB:');
  });

  it('sizes the document memory budget to the JavaScript heap and refuses one the heap cannot hold', () => {
    const MB = 1024 * 1024;
    const heap = (mb: number) => ({ heapLimitBytes: mb * MB });
    // Default: half the heap, at most 256 MB (npm start gives Node a 384 MB heap).
    expect(loadConfig({}, heap(384)).documentMemoryBytes / MB).toBe(192);
    expect(loadConfig({}, heap(4096)).documentMemoryBytes / MB).toBe(256);
    expect(loadConfig({ DOCUMENT_MEMORY_MB: '268' }, heap(384)).documentMemoryBytes / MB).toBe(268);
    const tooBig = (env: Record<string, string>, mb: number) => {
      try {
        loadConfig(env, heap(mb));
      } catch (err) {
        return err instanceof ConfigError ? err.problems : [];
      }
      return [];
    };
    expect(tooBig({ DOCUMENT_MEMORY_MB: '269' }, 384)).toEqual([
      'DOCUMENT_MEMORY_MB: must be at most 268 in this process\'s 384 MB JavaScript heap (large documents at once could exhaust it): lower it, or give Node a larger heap (NODE_OPTIONS=--max-old-space-size=…)',
    ]);
    // A cache configured larger than the budget's default is the budget: the same limit holds.
    expect(tooBig({ ENCOUNTER_CACHE_MB: '300' }, 384)[0]).toMatch(/^ENCOUNTER_CACHE_MB: must be at most 268 /);
    expect(tooBig({ DOCUMENT_MEMORY_MB: '2048' }, 4096)).toEqual([]);
  });

  it('refuses out-of-range numbers', () => {
    const err = configError({ PORT: '70000', NEXTECH_TIMEOUT_SECONDS: '0', NEXTECH_CONNECT_TIMEOUT_SECONDS: '7200' });
    for (const name of ['PORT', 'NEXTECH_TIMEOUT_SECONDS', 'NEXTECH_CONNECT_TIMEOUT_SECONDS']) expect(err.message).toContain(`${name}:`);
  });
});

describe('doors in the configuration', () => {
  const real = { NEXTECH_BASE_URL: 'https://api.nextech.example', ...MANAGED_CREDENTIALS };

  it('keeps anonymous access off with a real Nextech unless it is enabled, and listens on every interface there', () => {
    const config = loadConfig(real);
    expect(config.anonymous).toBe(false);
    expect(config.host).toBe('0.0.0.0');
    expect(loadConfig({ ...real, ANONYMOUS_ACCESS: 'true' }).anonymous).toBe(true);
  });

  it('keeps anonymous access on by default on the embedded sandbox, listening on loopback unless HOST says otherwise', () => {
    expect(loadConfig({}).anonymous).toBe(true);
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ ANONYMOUS_ACCESS: 'false' }).anonymous).toBe(false);
    // Passthrough has no credentials of its own to serve anonymous callers with.
    expect(loadConfig({ NEXTECH_AUTH: 'passthrough' }).anonymous).toBe(false);
  });

  it('refuses anonymous access in passthrough mode, where there are no credentials of the service', () => {
    expect(configError({ NEXTECH_AUTH: 'passthrough', ANONYMOUS_ACCESS: 'true' }).problems).toEqual([expect.stringMatching(/^ANONYMOUS_ACCESS: needs NEXTECH_AUTH=managed/)]);
  });

  it('requires a resource id key of at least 32 characters with a real Nextech', () => {
    expect(configError({ ...real, RESOURCE_ID_KEY: undefined }).problems).toEqual([expect.stringMatching(/^RESOURCE_ID_KEY: required/)]);
    expect(configError({ ...real, RESOURCE_ID_KEY: 'short' }).problems).toEqual([expect.stringMatching(/^RESOURCE_ID_KEY: at least 32/)]);
  });

  it('keeps the connection limits consistent: headers within the request, a source within the whole', () => {
    expect(configError({ HTTP_HEADERS_TIMEOUT_SECONDS: '20', HTTP_REQUEST_TIMEOUT_SECONDS: '10' }).problems).toEqual([
      expect.stringMatching(/^HTTP_REQUEST_TIMEOUT_SECONDS: must be at least HTTP_HEADERS_TIMEOUT_SECONDS/),
    ]);
    expect(configError({ HTTP_MAX_CONNECTIONS: '100' }).problems).toEqual([expect.stringMatching(/^HTTP_MAX_CONNECTIONS_PER_SOURCE: must not exceed HTTP_MAX_CONNECTIONS/)]);
    // Room for the 8 KiB URL and a bearer token at least; a header timeout of a second at least.
    expect(configError({ HTTP_MAX_HEADER_KB: '8', HTTP_HEADERS_TIMEOUT_SECONDS: '0' }).problems).toEqual([
      expect.stringMatching(/^HTTP_MAX_HEADER_KB: /),
      expect.stringMatching(/^HTTP_HEADERS_TIMEOUT_SECONDS: /),
    ]);
  });

  it('takes trusted proxies as IP addresses and CIDR ranges, and refuses anything else', () => {
    expect(loadConfig({ TRUSTED_PROXIES: '127.0.0.1,::1, 10.1.0.0/16' }).trustedProxies).toEqual(['127.0.0.1', '::1', '10.1.0.0/16']);
    for (const bad of ['proxy.internal', '10.0.0.0/33', 'fd00::/129', '10.0.0.1/8/2', '10.0.0.0/x', '*']) {
      expect(configError({ TRUSTED_PROXIES: bad }).problems, bad).toEqual([expect.stringMatching(/^TRUSTED_PROXIES\.0: each entry an IP address or a CIDR range/)]);
    }
  });

  it('reads a metrics token of at least 16 printable characters', () => {
    expect(loadConfig({ METRICS_TOKEN: 'm'.repeat(16) }).metricsToken).toBe('m'.repeat(16));
    expect(configError({ METRICS_TOKEN: 'short' }).problems).toEqual([expect.stringMatching(/^METRICS_TOKEN: /)]);
    expect(configError({ METRICS_TOKEN: 'has spaces in it, sixteen+' }).problems).toEqual([expect.stringMatching(/^METRICS_TOKEN: /)]);
  });

  it('registers Backend Services clients with their keys, scope and practices', () => {
    const clients = JSON.stringify([{ client_id: 'hie', jwks_uri: 'https://hie.example.org/jwks.json', practices: ['1001'] }]);
    const config = loadConfig({ ...real, BACKEND_CLIENTS: clients, SMART_KEY: 'k'.repeat(32) });
    expect(config.backend).toEqual({
      clients: [{ clientId: 'hie', jwksUri: 'https://hie.example.org/jwks.json', scope: 'system/*.rs', practices: ['1001'] }],
      accessTokenSeconds: 300,
    });
    expect(configError({ ...real, BACKEND_CLIENTS: clients }).problems).toEqual([expect.stringMatching(/^SMART_KEY: required when BACKEND_CLIENTS/)]);
    expect(configError({ NEXTECH_AUTH: 'passthrough', BACKEND_CLIENTS: clients }).problems).toEqual([expect.stringMatching(/^BACKEND_CLIENTS: needs NEXTECH_AUTH=managed/)]);
    const both = JSON.stringify([{ client_id: 'hie', jwks_uri: 'https://hie.example.org/jwks.json', jwks: { keys: [{ kty: 'EC' }] }, practices: ['1001'] }]);
    expect(configError({ BACKEND_CLIENTS: both }).problems).toEqual([expect.stringMatching(/^BACKEND_CLIENTS: invalid: .*exactly one of jwks and jwks_uri/)]);
    const noPractice = JSON.stringify([{ client_id: 'hie', jwks_uri: 'https://hie.example.org/jwks.json', practices: [] }]);
    expect(configError({ BACKEND_CLIENTS: noPractice }).problems).toEqual([expect.stringMatching(/^BACKEND_CLIENTS: invalid: 0\.practices /)]);
    expect(configError({ BACKEND_CLIENTS: JSON.stringify([{ client_id: 'x', jwks_uri: 'https://x.example/j', practices: ['1'], scope: 'user/*.rs' }]) }).problems)
      .toEqual([expect.stringMatching(/^BACKEND_CLIENTS: invalid: .*scope/)]);
  });

  it('takes an RSA signing key of 2048 bits or more for id_tokens, and refuses anything else', () => {
    const pem = (type: 'rsa' | 'ec', size?: number) =>
      (type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: size ?? 2048 })
        : generateKeyPairSync('ec', { namedCurve: 'P-256' })
      ).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const good = pem('rsa');
    expect(loadConfig({ SMART_SIGNING_KEY: good }).smart?.signingKey).toBe(good);
    expect(configError({ SMART_SIGNING_KEY: pem('rsa', 1024) }).problems).toEqual([expect.stringMatching(/^SMART_SIGNING_KEY: must be an RSA private key/)]);
    expect(configError({ SMART_SIGNING_KEY: pem('ec') }).problems).toEqual([expect.stringMatching(/^SMART_SIGNING_KEY: must be an RSA private key/)]);
    expect(configError({ SMART_SIGNING_KEY: 'not a key' }).problems).toEqual(['SMART_SIGNING_KEY: must be a PEM private key']);
  });
});

describe('the process entry point', () => {
  it('exits with status 2 and names every bad variable on stderr', () => {
    const result = spawnSync('npx', ['tsx', 'src/index.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: 'abc', NEXTECH_AUTH: 'bogus' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('PORT:');
    expect(result.stderr).toContain('NEXTECH_AUTH:');
  });

  it('configures SMART clients and names what SMART needs on a real Nextech', () => {
    const clients = JSON.stringify([{ client_id: 'app', redirect_uris: ['https://app.example.org/cb'] }]);
    const err = configError({ NEXTECH_BASE_URL: 'https://api.nextech.example', NEXTECH_AUTH: 'passthrough', SMART_CLIENTS: clients });
    expect(err.problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/^SMART_KEY: /), expect.stringMatching(/^NEXTECH_AUTHORIZE_URL: /)]),
    );
    expect(configError({ SMART_CLIENTS: 'not json' }).problems).toEqual([expect.stringMatching(/^SMART_CLIENTS: must be JSON/)]);
    const ok = loadConfig({ SMART_CLIENTS: clients, SMART_KEY: 'k'.repeat(32) });
    expect(ok.smart?.clients).toEqual([{ clientId: 'app', redirectUris: ['https://app.example.org/cb'] }]);
    expect(configError({ SMART_KEY: 'short' }).problems).toEqual([expect.stringMatching(/^SMART_KEY: /)]);
  });
});
