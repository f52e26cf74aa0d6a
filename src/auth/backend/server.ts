/**
 * SMART Backend Services: the `client_credentials` grant for registered clients that
 * authenticate with a signed JWT (private_key_jwt, SMART `client-confidential-asymmetric`),
 * and the access tokens it issues. Tokens are sealed (kind `system`) with the client id,
 * the granted scope and the client's practices, so any replica sharing the key opens them.
 * https://hl7.org/fhir/smart-app-launch/backend-services.html
 *
 * Whatever is asked, only `system/` scopes within the client's registration are granted:
 * read and search, plus create/update/delete where registered (only Group takes writes). No
 * refresh token is issued (the spec says SHOULD NOT).
 */
import type { BackendClient, BackendSettings } from '../../config.ts';
import { cannotDecideNow, OAuthError, SHARED_STATE_RETRY_SECONDS, sharedDecision } from '../oauth-error.ts';
import type { Sealer } from '../smart/sealer.ts';
import { narrow, parseScopes, SYSTEM_CONTEXTS } from '../smart/scopes.ts';
import { ASSERTION_TYPE, CLOCK_SKEW_SECONDS, SIGNING_ALGS, verifyAssertion, type RegisteredClient } from './assertion.ts';
import { asSystemClaims, type SystemClaims } from './claims.ts';
import { clientKeys } from './keys.ts';
import { DEFAULT_REPLAY_CAPACITY, ReplayStore } from './replay.ts';
import { MemoryStore } from '../../shared/memory-store.ts';
import type { SharedStore } from '../../shared/store.ts';

export interface BackendServerDeps {
  settings: BackendSettings;
  sealer: Sealer;
  /** The token endpoint's absolute URL, e.g. `https://fhir.example.com/auth/token`: the required `aud`. */
  tokenEndpoint: string;
  supportedTypes: readonly string[];
  /** Epoch milliseconds, like Date.now. */
  now: () => number;
  /** Timeout of a fetch of a client's `jwks_uri` (default 3000 ms). */
  fetchTimeoutMs?: number;
  /** How many used assertions are remembered at once in memory (default 10 000). */
  replayCapacity?: number;
  /** Where used assertions are remembered: shared by the replicas with REDIS_URL (default: this process). */
  store?: SharedStore;
  /** Live assertions one client may have used at once (SINGLE_USE_PER_CLIENT). */
  assertionsPerClient: number;
}

/** The parameters of a token request, each at most once (RFC 6749 §3.2). */
const PARAMS = ['grant_type', 'client_assertion_type', 'client_assertion', 'scope', 'client_id', 'client_secret'] as const;
type Params = Partial<Record<(typeof PARAMS)[number], string>>;

const DEFAULT_FETCH_TIMEOUT_MS = 3000;

export class BackendServer {
  readonly #clients: ReadonlyMap<string, RegisteredClient>;
  readonly #replays: ReplayStore;

  /** Throws when a client's inline key set is unusable (see keys.ts). */
  constructor(readonly deps: BackendServerDeps) {
    const fetchTimeoutMs = deps.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
    this.#clients = new Map(deps.settings.clients.map((client) => [client.clientId, { client, keys: clientKeys(client, { fetchTimeoutMs }) }]));
    this.#replays = new ReplayStore(deps.store ?? new MemoryStore(deps.now, { entries: deps.replayCapacity ?? DEFAULT_REPLAY_CAPACITY }), deps.assertionsPerClient);
  }

  /** The registered client with this id. */
  client(clientId: string): BackendClient | undefined {
    return this.#clients.get(clientId)?.client;
  }

  /**
   * The token endpoint for `grant_type=client_credentials`: authenticates the client's
   * assertion, refuses a replayed one, narrows the scope and issues an access token
   * (RFC 6749 §5.1). Throws OAuthError: invalid_request, unsupported_grant_type,
   * invalid_client (401), invalid_scope, or temporarily_unavailable (503).
   */
  async token(form: URLSearchParams): Promise<Record<string, unknown>> {
    const p = readParams(form);
    if (p.grant_type === undefined) throw new OAuthError('invalid_request', 'grant_type is required');
    if (p.grant_type !== 'client_credentials') throw new OAuthError('unsupported_grant_type', 'grant_type must be client_credentials');
    if (p.client_secret !== undefined) throw new OAuthError('invalid_request', 'use one client authentication method: client_assertion, not client_secret');
    if (p.client_assertion_type !== ASSERTION_TYPE || !p.client_assertion) {
      throw new OAuthError('invalid_client', `client authentication is required: client_assertion_type=${ASSERTION_TYPE} with a signed client_assertion`, 401);
    }
    if (!p.scope?.trim()) throw new OAuthError('invalid_request', 'scope is required');
    const nowSeconds = Math.floor(this.deps.now() / 1000);
    const { client, jti, exp } = await verifyAssertion(p.client_assertion, {
      clients: this.#clients,
      tokenEndpoint: this.deps.tokenEndpoint,
      nowSeconds,
      ...(p.client_id !== undefined ? { clientId: p.client_id } : {}),
    });
    // Recorded only now that the signature verified (the client is one of ours); kept as long as the assertion could pass.
    const spent = await sharedDecision(
      () => this.#replays.spend(client.clientId, jti, exp + CLOCK_SKEW_SECONDS, nowSeconds),
      () => cannotDecideNow('The client assertion'),
    );
    if (spent === 'replayed') throw new OAuthError('invalid_client', 'this client assertion was already used (jti)', 401);
    if (spent === 'full') throw new OAuthError('temporarily_unavailable', 'too many client assertions in flight for this client; retry shortly', 503, SHARED_STATE_RETRY_SECONDS);
    const scope = this.#grant(client, p.scope);
    const ttl = this.deps.settings.accessTokenSeconds;
    const claims: Omit<SystemClaims, 'exp'> = { cid: client.clientId, scope, pracs: [...client.practices] };
    return {
      access_token: this.deps.sealer.seal('system', { ...claims }, ttl),
      token_type: 'bearer',
      expires_in: ttl,
      scope,
    };
  }

  /**
   * The claims of a Backend Services access token, or undefined when it is not one, has
   * expired, was tampered with, or its client is no longer registered. Never throws.
   */
  openAccess(token: string): SystemClaims | undefined {
    const claims = asSystemClaims(this.deps.sealer.open('system', token));
    return claims && this.#clients.has(claims.cid) ? claims : undefined;
  }

  /** The requested scope narrowed to the client's registration; invalid_scope when nothing remains. */
  #grant(client: BackendClient, requested: string): string {
    const types = this.deps.supportedTypes;
    const granted = narrow(parseScopes(client.scope, types, SYSTEM_CONTEXTS), parseScopes(requested, types, SYSTEM_CONTEXTS));
    if (granted.resources.length === 0) {
      throw new OAuthError('invalid_scope', 'nothing requested can be granted: this server grants system/ scopes within the client\'s registration');
    }
    return granted.text;
  }
}

/** The token request's parameters; invalid_request when one is given more than once. */
function readParams(form: URLSearchParams): Params {
  const params: Params = {};
  for (const name of PARAMS) {
    const values = form.getAll(name);
    if (values.length > 1) throw new OAuthError('invalid_request', `${name} must be given once`);
    if (values[0] !== undefined) params[name] = values[0];
  }
  return params;
}

/**
 * What Backend Services adds to `.well-known/smart-configuration` (SMART App Launch 2.x
 * §Conformance; client-confidential-asymmetric "Advertising server support"). Merge each
 * array into the SMART server's, without duplicates.
 */
export function backendDiscovery(supportedTypes: readonly string[]): Record<string, string[]> {
  return {
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...SIGNING_ALGS],
    grant_types_supported: ['client_credentials'],
    scopes_supported: ['system/*.rs', ...supportedTypes.map((t) => `system/${t}.rs`)],
    capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'],
  };
}
