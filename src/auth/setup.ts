/**
 * Builds the authorization server from configuration and the upstream. On a real Nextech,
 * SMART App Launch needs SMART_KEY, SMART_CLIENTS and the service's Nextech OAuth
 * registration, and Backend Services needs SMART_KEY and BACKEND_CLIENTS (checked by
 * loadConfig). On a development Nextech (`upstream.dev`, the embedded sandbox) SMART works
 * out of the box: a random key per process, its demo client, its login (whose callback is
 * registered with it) and an id_token key generated at start.
 */
import { randomBytes } from 'node:crypto';
import type { RuntimeConfig } from '../config.ts';
import type { EhrSource } from '../source/ehr-source.ts';
import type { Upstream } from '../upstream.ts';
import { authUrls, type AuthorizationServer } from './authorization-server.ts';
import { BackendServer } from './backend/server.ts';
import { IdTokens } from './id-token.ts';
import { createRollingSealer, type Sealer } from './smart/sealer.ts';
import { SmartServer, type PatientIdScheme } from './smart/server.ts';
import type { SharedStore } from '../shared/store.ts';

export interface AuthDeps {
  source: EhrSource;
  supportedTypes: readonly string[];
  /** The types a `patient/` scope may name. */
  patientTypes: readonly string[];
  patientIds: PatientIdScheme;
  now: () => number;
  /** The Nextech served: its OAuth registration and login page, and on a development one its conveniences. */
  upstream: Upstream;
  /** Where single-use codes and assertion `jti`s are remembered (shared by replicas with REDIS_URL). */
  store?: SharedStore;
}

export function createAuthorizationServer(config: RuntimeConfig, deps: AuthDeps): AuthorizationServer | undefined {
  const dev = deps.upstream.dev;
  const key = config.tokenKey ?? (dev ? randomBytes(32).toString('base64url') : undefined);
  if (!key || (!config.smart && !config.backend)) return undefined;
  const sealer = createRollingSealer(key, config.tokenKeysAccepted, deps.now);
  const urls = authUrls(config.publicBaseUrl);
  const idTokens = config.smart && (config.smart.signingKey || dev) ? new IdTokens(urls.issuer, config.smart.signingKey, deps.now) : undefined;
  const smart = createSmart(config, deps, sealer, idTokens);
  const backend = config.backend
    ? new BackendServer({
        settings: config.backend,
        sealer,
        tokenEndpoint: urls.token,
        supportedTypes: deps.supportedTypes,
        now: deps.now,
        ...(deps.store ? { store: deps.store } : {}),
        assertionsPerClient: config.singleUsePerClient,
      })
    : undefined;
  return {
    ...(smart ? { smart } : {}),
    ...(backend ? { backend } : {}),
    ...(smart && idTokens ? { idTokens } : {}),
    urls,
    supportedTypes: deps.supportedTypes,
    patientTypes: deps.patientTypes,
  };
}

function createSmart(config: RuntimeConfig, deps: AuthDeps, sealer: Sealer, idTokens: IdTokens | undefined): SmartServer | undefined {
  const smart = config.smart;
  if (!smart) return undefined;
  const { oauth, authorizeUrl, dev } = deps.upstream;
  // loadConfig guarantees these on a real Nextech; a development one supplies its own.
  if (!oauth || !authorizeUrl) return undefined;
  const server = new SmartServer({
    settings: { ...smart, clients: smart.clients.length > 0 ? smart.clients : dev ? [dev.demoSmartClient] : [] },
    sealer,
    oauth: { ...oauth, timeoutMs: config.upstream.requestMs },
    nextechAuthorizeUrl: authorizeUrl,
    publicBaseUrl: config.publicBaseUrl,
    ...(config.defaultPracticeId ? { defaultPracticeId: config.defaultPracticeId } : {}),
    supportedTypes: deps.supportedTypes,
    patientTypes: deps.patientTypes,
    source: deps.source,
    patientIds: deps.patientIds,
    ...(idTokens ? { idTokens } : {}),
    now: deps.now,
    ...(deps.store ? { store: deps.store } : {}),
    codesPerClient: config.singleUsePerClient,
  });
  dev?.registerRedirectUri(server.callbackUrl);
  return server;
}
