/**
 * Builds the authorization server from configuration. On a real Nextech, SMART App Launch
 * needs SMART_KEY, SMART_CLIENTS and the service's Nextech OAuth registration, and Backend
 * Services needs SMART_KEY and BACKEND_CLIENTS (checked by loadConfig). On the embedded
 * sandbox SMART works out of the box: a random key per process, a demo client, the
 * sandbox's login (whose callback it registers) and an id_token key generated at start.
 */
import { randomBytes } from 'node:crypto';
import type { RuntimeConfig, SmartClient } from '../config.ts';
import type { EhrSource } from '../source/ehr-source.ts';
import type { RunningSandbox } from '../sandbox/index.ts';
import { SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_RESOURCE } from '../sandbox/index.ts';
import { authUrls, type AuthorizationServer } from './authorization-server.ts';
import { BackendServer } from './backend/server.ts';
import { IdTokens } from './id-token.ts';
import { createSealer, type Sealer } from './smart/sealer.ts';
import { SmartServer, type PatientIdScheme } from './smart/server.ts';

/** The demo app registered on the sandbox when SMART_CLIENTS is not set. */
export const DEMO_SMART_CLIENT: SmartClient = {
  clientId: 'demo-app',
  name: 'Demo SMART app',
  redirectUris: ['http://localhost:3000/callback'],
};

export interface AuthDeps {
  source: EhrSource;
  supportedTypes: readonly string[];
  patientIds: PatientIdScheme;
  now: () => number;
  sandbox?: RunningSandbox;
}

export function createAuthorizationServer(config: RuntimeConfig, deps: AuthDeps): AuthorizationServer | undefined {
  const key = config.tokenKey ?? (deps.sandbox ? randomBytes(32).toString('base64url') : undefined);
  if (!key || (!config.smart && !config.backend)) return undefined;
  const sealer = createSealer(key, deps.now);
  const urls = authUrls(config.publicBaseUrl);
  const idTokens = config.smart && (config.smart.signingKey || deps.sandbox) ? new IdTokens(urls.issuer, config.smart.signingKey, deps.now) : undefined;
  const smart = createSmart(config, deps, sealer, idTokens);
  const backend = config.backend
    ? new BackendServer({ settings: config.backend, sealer, tokenEndpoint: urls.token, supportedTypes: deps.supportedTypes, now: deps.now })
    : undefined;
  return {
    ...(smart ? { smart } : {}),
    ...(backend ? { backend } : {}),
    ...(smart && idTokens ? { idTokens } : {}),
    urls,
    supportedTypes: deps.supportedTypes,
  };
}

function createSmart(config: RuntimeConfig, deps: AuthDeps, sealer: Sealer, idTokens: IdTokens | undefined): SmartServer | undefined {
  const smart = config.smart;
  if (!smart) return undefined;
  const sandbox = deps.sandbox;
  const oauth = sandbox
    ? { tokenUrl: sandbox.tokenUrl, clientId: SANDBOX_CLIENT_ID, clientSecret: SANDBOX_CLIENT_SECRET, resource: SANDBOX_RESOURCE }
    : config.nextechOAuth;
  const authorizeUrl = sandbox ? sandbox.authorizeUrl : smart.nextechAuthorizeUrl;
  // loadConfig guarantees these on a real Nextech; the sandbox supplies its own.
  if (!oauth || !authorizeUrl) return undefined;
  const server = new SmartServer({
    settings: { ...smart, clients: smart.clients.length > 0 ? smart.clients : sandbox ? [DEMO_SMART_CLIENT] : [] },
    sealer,
    oauth: { ...oauth, timeoutMs: config.upstream.requestMs },
    nextechAuthorizeUrl: authorizeUrl,
    publicBaseUrl: config.publicBaseUrl,
    ...(config.defaultPracticeId ? { defaultPracticeId: config.defaultPracticeId } : {}),
    supportedTypes: deps.supportedTypes,
    source: deps.source,
    patientIds: deps.patientIds,
    ...(idTokens ? { idTokens } : {}),
    now: deps.now,
  });
  sandbox?.sandbox.registerRedirectUri(SANDBOX_CLIENT_ID, server.callbackUrl);
  return server;
}
