/**
 * A SMART Backend Services client for tests and the README: key pairs generated with jose,
 * their public JWK Set (what an operator registers), and signed client assertions, plus
 * the deliberately broken assertions the refusal tests need.
 */
import { randomUUID } from 'node:crypto';
import { base64url, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export type ClientAlg = 'RS384' | 'ES384' | 'RS256';

export interface ClientKeyPair {
  alg: ClientAlg;
  kid: string;
  privateKey: CryptoKey;
  /** The public key as registered: kty and key material, kid, alg, use=sig. */
  publicJwk: JWK;
  /** `{ keys: [publicJwk] }`: the inline JWK Set, or what a jwks_uri serves. */
  jwks: { keys: JWK[] };
}

/** A fresh key pair for `alg` (RS* are 2048-bit RSA, ES384 is P-384). */
export async function clientKeyPair(alg: ClientAlg, kid = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`): Promise<ClientKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicJwk, jwks: { keys: [publicJwk] } };
}

export interface AssertionOptions {
  clientId: string;
  tokenEndpoint: string;
  /** A private key, or (for the HS256 attack) raw secret bytes. */
  privateKey: CryptoKey | Uint8Array;
  /** The header's kid; `null` leaves it out. */
  kid: string | null;
  /** The header's alg (the key must be able to sign with it). */
  alg: string;
  /** Seconds from `nowMs` to exp (default 300). */
  lifetimeSeconds?: number;
  /** Default: a random UUID; `null` leaves it out. */
  jti?: string | null;
  /** Epoch ms the assertion is made at (default Date.now()). */
  nowMs?: number;
  /** Leave exp out. */
  noExp?: boolean;
  /** Claims that replace the defaults (iss, sub, aud, ...). */
  claims?: Record<string, unknown>;
  /** Extra protected header parameters (e.g. jku). */
  header?: Record<string, unknown>;
}

/** A signed client assertion (private_key_jwt), as a Backend Services client makes one. */
export async function signAssertion(o: AssertionOptions): Promise<string> {
  const nowS = Math.floor((o.nowMs ?? Date.now()) / 1000);
  const claims: Record<string, unknown> = {
    iss: o.clientId,
    sub: o.clientId,
    aud: o.tokenEndpoint,
    iat: nowS,
    ...(o.noExp ? {} : { exp: nowS + (o.lifetimeSeconds ?? 300) }),
    ...(o.jti === null ? {} : { jti: o.jti ?? randomUUID() }),
    ...o.claims,
  };
  const header = { typ: 'JWT', ...o.header, alg: o.alg, ...(o.kid === null ? {} : { kid: o.kid }) };
  return new SignJWT(claims).setProtectedHeader(header).sign(o.privateKey);
}

/** An unsigned JWT (`alg: none`), written by hand: jose refuses to make one for a signer. */
export function unsignedAssertion(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const part = (v: Record<string, unknown>) => base64url.encode(JSON.stringify(v));
  return `${part({ ...header, alg: 'none' })}.${part(claims)}.`;
}

/** The form of a client_credentials token request. */
export function tokenForm(assertion: string, scope: string, extra: Record<string, string> = {}): URLSearchParams {
  return new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: assertion,
    scope,
    ...extra,
  });
}
