/**
 * The service's OAuth 2.0 authorization server, as its clients see it: SMART App Launch for
 * browser apps (smart/), SMART Backend Services for unattended integrations (backend/),
 * id_tokens for `openid`, one token endpoint, token introspection (RFC 7662) and the
 * discovery documents. Each part is present only when configured.
 */
import type { BackendServer } from './backend/server.ts';
import type { SystemAccess } from './doors.ts';
import type { IdTokens } from './id-token.ts';
import type { SmartServer } from './smart/server.ts';

export interface AuthorizationServer {
  smart?: SmartServer;
  backend?: BackendServer;
  idTokens?: IdTokens;
  /** The absolute URLs of its endpoints. */
  urls: AuthUrls;
  /** The resource types scopes may name. */
  supportedTypes: readonly string[];
  /** The types a `patient/` scope may name (not Group, whose resources name many patients). */
  patientTypes: readonly string[];
}

export interface AuthUrls {
  authorize: string;
  token: string;
  introspect: string;
  jwks: string;
  /** The OpenID Connect issuer (id_token `iss`); its discovery is at `{issuer}/.well-known/openid-configuration`. */
  issuer: string;
}

export function authUrls(publicBaseUrl: string): AuthUrls {
  const auth = `${publicBaseUrl}/auth`;
  return { authorize: `${auth}/authorize`, token: `${auth}/token`, introspect: `${auth}/introspect`, jwks: `${auth}/jwks`, issuer: auth };
}

/** Opens one of our Backend Services access tokens (the doors and introspection use it). */
export type OpenSystemAccess = (token: string) => SystemAccess | undefined;
