/**
 * Builds the SMART server from configuration: on a real Nextech it needs SMART_KEY,
 * SMART_CLIENTS and the service's Nextech OAuth registration; on the embedded sandbox it
 * works out of the box (a random key per process, a demo client, the sandbox's login) and
 * registers its callback with the sandbox.
 */
import { randomBytes } from 'node:crypto';
import type { RuntimeConfig, SmartClient } from '../../config.ts';
import type { NextechClient } from '../../nextech/client.ts';
import type { RunningSandbox } from '../../sandbox/index.ts';
import { SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_RESOURCE } from '../../sandbox/index.ts';
import { createSealer } from './sealer.ts';
import { SmartServer } from './server.ts';

/** The demo app registered on the sandbox when SMART_CLIENTS is not set. */
export const DEMO_SMART_CLIENT: SmartClient = {
  clientId: 'demo-app',
  name: 'Demo SMART app',
  redirectUris: ['http://localhost:3000/callback'],
};

export function createSmartServer(
  config: RuntimeConfig,
  deps: { nextech: NextechClient; supportedTypes: readonly string[]; now: () => number; sandbox?: RunningSandbox },
): SmartServer | undefined {
  const smart = config.smart;
  if (!smart) return undefined;
  const sandbox = deps.sandbox;
  const oauth = sandbox
    ? { tokenUrl: sandbox.tokenUrl, clientId: SANDBOX_CLIENT_ID, clientSecret: SANDBOX_CLIENT_SECRET, resource: SANDBOX_RESOURCE }
    : config.nextechOAuth;
  const authorizeUrl = sandbox ? sandbox.authorizeUrl : smart.nextechAuthorizeUrl;
  // loadConfig guarantees these on a real Nextech; the sandbox supplies its own.
  if (!oauth || !authorizeUrl) return undefined;
  const key = config.tokenKey ?? (sandbox ? randomBytes(32).toString('base64url') : undefined);
  if (!key) return undefined;
  const server = new SmartServer({
    settings: { ...smart, key, clients: smart.clients.length > 0 ? smart.clients : sandbox ? [DEMO_SMART_CLIENT] : [] },
    sealer: createSealer(key, deps.now),
    oauth: { ...oauth, timeoutMs: config.upstream.requestMs },
    nextechAuthorizeUrl: authorizeUrl,
    publicBaseUrl: config.publicBaseUrl,
    ...(config.defaultPracticeId ? { defaultPracticeId: config.defaultPracticeId } : {}),
    supportedTypes: deps.supportedTypes,
    nextech: deps.nextech,
    now: deps.now,
  });
  sandbox?.sandbox.registerRedirectUri(SANDBOX_CLIENT_ID, server.callbackUrl);
  return server;
}
