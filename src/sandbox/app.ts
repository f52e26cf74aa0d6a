/**
 * `createSandbox`: the whole embedded Nextech API as one Hono app plus the handles tests
 * need (the generated data, the recorded calls, token shortcuts). Creating one builds
 * the data in memory and does no I/O, so tests can make many.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { apiRoutes } from './api.ts';
import type { RecordedCall } from './call-log.ts';
import { buildSandboxData, DEFAULT_SEED } from './data.ts';
import type { ExtraPatientSpec } from './extra-patients.ts';
import { createFaultPlan, type FaultControl, type FaultRule } from './faults.ts';
import {
  DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
  DEFAULT_SANDBOX_CLIENT,
  SANDBOX_RESOURCE,
  type SandboxClient,
} from './defaults.ts';
import { authorizeRoutes } from './oauth-authorize.ts';
import { tokenRoutes } from './oauth-token.ts';
import { createTokenStore, type IssuedTokens } from './token-store.ts';
import type { SandboxData } from './types.ts';

export type { RecordedCall } from './call-log.ts';
export type { SandboxClient } from './defaults.ts';
export type { Fault, FaultControl, FaultKind, FaultRule } from './faults.ts';
export {
  SANDBOX_CLIENT_ID,
  SANDBOX_CLIENT_SECRET,
  SANDBOX_PASSWORD,
  SANDBOX_REDIRECT_URI,
  SANDBOX_RESOURCE,
  SANDBOX_USERNAME,
} from './defaults.ts';
export { SANDBOX_PRACTICE_IDS } from './practices.ts';

/** How to build a sandbox; every field has a default. */
export interface SandboxOptions {
  /** Seed of the synthetic data (default: a fixed seed, so data never changes). */
  seed?: number;
  /** Access token lifetime (default 3600, Nextech's documented hour). */
  accessTokenTtlSeconds?: number;
  /** Registered OAuth clients (default: the documented client id, see SANDBOX_CLIENT_ID). */
  clients?: SandboxClient[];
  /** The clock for token expiry and the default encounter search end (default: real time). */
  now?: () => Date;
  /** Faults to inject into `/ehr/api/*` for this run (default none); see faults.ts. */
  faults?: FaultRule[];
  /** Enforce Nextech's limit of this many requests per second per user and endpoint (429 beyond); default off. */
  rateLimitPerSecond?: number;
  /** The random source of fault rates, a float in [0, 1) per draw (default Math.random). */
  random?: () => number;
  /**
   * Results rows in the 'large-ccd' patient's big CCD (default 10,000: just over 1 MB; 25,000
   * is about 3 MB), for load tests of multi-MB documents.
   */
  largeCcdResultRows?: number;
  /** Patients added after each practice's generated ones, for load tests (default none); see extra-patients.ts. */
  extraPatients?: readonly ExtraPatientSpec[];
  /**
   * Keep each API answer (200 only) by practice, path and query and send the same bytes
   * again on a repeat, after the token and practice checks (default off). For load tests, so
   * the upstream's own work (CCD generation, patient matching) stays small next to what is
   * measured; answers must not depend on the time of the call (an encounter search without
   * `end` does). Bounded: see response-memo.ts.
   */
  memoizeResponses?: boolean;
}

/** A built sandbox. */
export interface Sandbox {
  /** The whole HTTP surface: `/oauth2/*` and `/ehr/api/*`. */
  app: Hono;
  /** The generated data, for tests to compute expected answers independently. */
  data: SandboxData;
  /** Every request to `/ehr/api/*`, in order. The array is cleared in place by resetCalls. */
  calls: RecordedCall[];
  resetCalls(): void;
  /** Every token request (`POST /oauth2/token`): when, which grant, and the status answered. */
  tokenRequests: { receivedAt: number; grantType: string; status: number }[];
  /** Issues a token pair without the login dance (for `npm start` and tests). */
  issueTokens(clientId?: string): IssuedTokens;
  /** Accepts a refresh token chosen outside (e.g. SANDBOX_REFRESH_TOKEN), good for one use like any other. */
  acceptRefreshToken(refreshToken: string, clientId?: string): void;
  /** Invalidates every access token, refresh token and authorization code. */
  revokeAll(): void;
  /** Registers one more redirect URI for a client (e.g. the facade's SMART callback). */
  registerRedirectUri(clientId: string, uri: string): void;
  /** The fault rules in force (starting as `options.faults`) and the injection counts. */
  faults: FaultControl;
}

/** Builds a sandbox: data from the seed, OAuth endpoints and the Nextech API routes. */
export function createSandbox(options: SandboxOptions = {}): Sandbox {
  const now = options.now ?? ((): Date => new Date());
  const data = buildSandboxData(options.seed ?? DEFAULT_SEED, {
    ...(options.largeCcdResultRows === undefined ? {} : { largeCcdResultRows: options.largeCcdResultRows }),
    ...(options.extraPatients === undefined ? {} : { extraPatients: options.extraPatients }),
  });
  const clients = new Map((options.clients ?? [DEFAULT_SANDBOX_CLIENT]).map((c) => [c.clientId, c]));
  const store = createTokenStore(options.accessTokenTtlSeconds ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS, now);
  const calls: RecordedCall[] = [];
  const faults = createFaultPlan(options.faults ?? [], options.random ?? Math.random);

  const app = new Hono();
  // The login form and token requests are small: refuse large bodies as they arrive.
  app.post('/oauth2/*', bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.json({ error: 'invalid_request', error_description: 'The body is too large.' }, 413) }));
  const tokenRequests: Sandbox['tokenRequests'] = [];
  app.post('/oauth2/token', async (c, next) => {
    const receivedAt = Date.now();
    const grantType = new URLSearchParams(await c.req.raw.clone().text()).get('grant_type') ?? '';
    await next();
    tokenRequests.push({ receivedAt, grantType, status: c.res.status });
  });
  app.route('/oauth2', authorizeRoutes(clients, store));
  app.route('/oauth2', tokenRoutes(clients, store, SANDBOX_RESOURCE));
  app.route(
    '/ehr/api',
    apiRoutes({
      data,
      store,
      calls,
      now,
      faults,
      ...(options.rateLimitPerSecond ? { rateLimitPerSecond: options.rateLimitPerSecond } : {}),
      ...(options.memoizeResponses ? { memoizeResponses: true } : {}),
    }),
  );
  app.notFound((c) => c.json({ message: 'Not found.' }, 404));
  // Never leak a stack trace, even from the sandbox: the facade must cope with a bare 500.
  app.onError((_err, c) => c.json({ message: 'An error has occurred.' }, 500));

  const firstClient = clients.keys().next().value;
  return {
    app,
    data,
    calls,
    resetCalls: () => void calls.splice(0, calls.length),
    tokenRequests,
    issueTokens(clientId = firstClient) {
      if (clientId === undefined || !clients.has(clientId)) throw new Error(`Unknown sandbox client: ${clientId}`);
      return store.issueTokens(clientId);
    },
    acceptRefreshToken(refreshToken, clientId = firstClient) {
      if (clientId === undefined || !clients.has(clientId)) throw new Error(`Unknown sandbox client: ${clientId}`);
      store.acceptRefreshToken(refreshToken, clientId);
    },
    revokeAll: () => store.revokeAll(),
    registerRedirectUri(clientId, uri) {
      const client = clients.get(clientId);
      if (!client) throw new Error(`Unknown sandbox client: ${clientId}`);
      if (!client.redirectUris.includes(uri)) clients.set(clientId, { ...client, redirectUris: [...client.redirectUris, uri] });
    },
    faults,
  };
}
