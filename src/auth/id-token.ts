/**
 * OpenID Connect id_tokens for SMART's `openid` scope: RS256 JWTs signed with one RSA key
 * (SMART_SIGNING_KEY, or one generated per process on the embedded sandbox), whose public
 * half is published at the JWKS URL that discovery lists. Signing and JWK export are jose's.
 * https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#scopes-for-requesting-identity-data
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, SignJWT, type JWK } from 'jose';

export const ID_TOKEN_ALG = 'RS256';
const ID_TOKEN_SECONDS = 3600;

export interface IdTokenClaims {
  /** Who signed in (see README: Nextech does not say, so this names the sign-in). */
  sub: string;
  /** The app (client_id). */
  aud: string;
  nonce?: string;
}

export class IdTokens {
  readonly #key: KeyObject;
  #jwk?: Promise<JWK & { kid: string }>;

  constructor(
    /** The OpenID issuer (`iss`), whose `/.well-known/openid-configuration` we serve. */
    readonly issuer: string,
    privateKeyPem: string | undefined,
    private readonly now: () => number,
  ) {
    this.#key = privateKeyPem ? createPrivateKey(privateKeyPem) : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  }

  /** The public key as a JWK with its thumbprint as `kid`. */
  publicJwk(): Promise<JWK & { kid: string }> {
    this.#jwk ??= (async () => {
      const jwk = await exportJWK(createPublicKey(this.#key));
      return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: ID_TOKEN_ALG, use: 'sig' };
    })();
    return this.#jwk;
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: [await this.publicJwk()] };
  }

  async sign(claims: IdTokenClaims): Promise<string> {
    const { kid } = await this.publicJwk();
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ ...(claims.nonce !== undefined ? { nonce: claims.nonce } : {}) })
      .setProtectedHeader({ alg: ID_TOKEN_ALG, kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(claims.sub)
      .setAudience(claims.aud)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ID_TOKEN_SECONDS)
      .sign(this.#key);
  }
}
