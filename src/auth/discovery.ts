/**
 * `.well-known/smart-configuration` (SMART App Launch 2.x, Conformance), served at every
 * FHIR base: the endpoints, grants, client authentication methods, scopes and capabilities
 * of whichever doors are configured — SMART App Launch, Backend Services, or both.
 */
import type { AuthorizationServer } from './authorization-server.ts';
import { backendDiscovery } from './backend/server.ts';

const SMART_CAPABILITIES = [
  'launch-standalone',
  'client-public',
  'client-confidential-symmetric',
  'context-standalone-patient',
  'permission-offline',
  'permission-online',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
];

/** Lists merged without duplicates, in first-seen order. */
const merge = (...lists: ReadonlyArray<readonly string[] | undefined>) => [...new Set(lists.flatMap((l) => l ?? []))];

export function smartConfiguration(auth: AuthorizationServer): Record<string, unknown> {
  const types = auth.supportedTypes;
  const smart = auth.smart !== undefined;
  const openid = smart && auth.idTokens !== undefined;
  const backend = auth.backend ? backendDiscovery(types) : undefined;
  return {
    ...(openid ? { issuer: auth.urls.issuer, jwks_uri: auth.urls.jwks } : {}),
    ...(smart ? { authorization_endpoint: auth.urls.authorize } : {}),
    token_endpoint: auth.urls.token,
    introspection_endpoint: auth.urls.introspect,
    token_endpoint_auth_methods_supported: merge(smart ? ['client_secret_basic', 'client_secret_post', 'none'] : [], backend?.token_endpoint_auth_methods_supported),
    ...(backend ? { token_endpoint_auth_signing_alg_values_supported: backend.token_endpoint_auth_signing_alg_values_supported } : {}),
    grant_types_supported: merge(smart ? ['authorization_code', 'refresh_token'] : [], backend?.grant_types_supported),
    ...(smart ? { response_types_supported: ['code'] } : {}),
    code_challenge_methods_supported: ['S256'],
    scopes_supported: merge(
      smart
        ? [
            'launch/patient',
            ...(openid ? ['openid'] : []),
            'offline_access',
            'online_access',
            'patient/*.rs',
            'user/*.rs',
            ...types.flatMap((t) => [...(auth.patientTypes.includes(t) ? [`patient/${t}.rs`] : []), `user/${t}.rs`]),
          ]
        : [],
      backend?.scopes_supported,
    ),
    capabilities: merge(smart ? SMART_CAPABILITIES : [], openid ? ['sso-openid-connect'] : [], backend?.capabilities),
  };
}
