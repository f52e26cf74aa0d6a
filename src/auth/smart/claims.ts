/**
 * What the facade's sealed SMART strings carry. Short keys keep tokens compact (they travel
 * in URLs and headers). The user's Nextech tokens live only inside these, encrypted.
 */

/** What was granted, to whom, where: common to codes, access and refresh tokens. */
export interface GrantClaims {
  /** SMART client id. */
  cid: string;
  /** Granted scopes (SMART v2 text). */
  scope: string;
  /** Practice the token is bound to, and the FHIR base (`aud`) it was issued for. */
  prac: string;
  aud: string;
  /** Patient in context (FHIR id), with launch/patient. */
  pat?: string;
  /** The Nextech sign-in this grant came from (random; kept across refreshes): the caller's identity. */
  sid?: string;
}

/** The login in progress, carried through Nextech's login as its `state`. */
export interface PendingClaims {
  cid: string;
  ruri: string;
  /** The app's own state, returned to it unchanged. */
  st?: string;
  /** PKCE S256 challenge. */
  cc: string;
  scope: string;
  aud: string;
  prac: string;
  /** OpenID Connect `nonce`, echoed in the id_token. */
  nonce?: string;
  /** This login, so a reloaded callback or a second pick can tell it was already used. */
  jti: string;
  /** Hash of the browser cookie set at authorize: only that browser may continue the login. */
  bh: string;
}

export interface NextechTokenClaims {
  /** Nextech access token, its expiry (epoch s), and refresh token. */
  nat: string;
  nexp: number;
  nrt?: string;
}

export type PickerClaims = PendingClaims & NextechTokenClaims & { sid: string };
export type CodeClaims = GrantClaims & NextechTokenClaims & { ruri: string; cc: string; jti: string; nonce?: string };
/** `exp` is the sealer's authenticated expiry, set when the token is opened. */
export type AccessClaims = GrantClaims & { nat: string; exp?: number };
/** `rjti` names this refresh token: each is good for one use (see SmartServer, rotation). */
export type RefreshClaims = GrantClaims & { nrt: string; rjti?: string };
