/**
 * Verifies a Backend Services client assertion (private_key_jwt): a JWT the client signs
 * with its private key to authenticate at the token endpoint.
 * https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html
 * https://www.rfc-editor.org/rfc/rfc7523#section-3
 *
 * Every failure is `invalid_client` (401), as the SMART profile requires. Descriptions say
 * what is wrong in general terms and never echo the assertion or any value from it.
 * Whether the `jti` was seen before is the caller's business (replay.ts), once this passes.
 */
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { BackendClient } from '../../config.ts';
import { OAuthError } from '../oauth-error.ts';
import { KeySetUnavailable, type ClientKeys } from './keys.ts';

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The algorithms SMART names; `none`, HMAC (HS*) and everything else are refused. */
export const SIGNING_ALGS: readonly string[] = ['RS384', 'ES384'];
/** SMART: the assertion's `exp` SHALL be no more than five minutes in the future. */
export const MAX_ASSERTION_SECONDS = 300;
/**
 * Allowance for the client's clock, both ways: an assertion is accepted up to 60 s after its
 * `exp` and with an `exp` up to 60 s beyond the five minutes. Client clocks drift; a minute
 * is the usual allowance (and jose's `nbf` check gets the same). The replay store keeps each
 * `jti` until `exp` plus this, so the allowance never opens a replay window.
 */
export const CLOCK_SKEW_SECONDS = 60;
const MAX_JTI_LENGTH = 256;
/** Far above any real assertion (an RS384 one with a 4096-bit key is under 1 KiB). */
const MAX_ASSERTION_LENGTH = 16_384;

/** A registered client with its key source. */
export interface RegisteredClient {
  client: BackendClient;
  keys: ClientKeys;
}

/** What a verified assertion establishes. */
export interface VerifiedAssertion {
  client: BackendClient;
  jti: string;
  /** The assertion's expiry, epoch seconds. */
  exp: number;
}

export interface AssertionCheck {
  clients: ReadonlyMap<string, RegisteredClient>;
  /** The token endpoint's absolute URL: the only accepted `aud`. */
  tokenEndpoint: string;
  nowSeconds: number;
  /** The request's `client_id` parameter, if it sent one (it must then name the issuer). */
  clientId?: string;
}

const refuse = (why: string) => new OAuthError('invalid_client', why, 401);

/** Verifies `assertion` and returns the client it authenticates; throws invalid_client otherwise. */
export async function verifyAssertion(assertion: string, check: AssertionCheck): Promise<VerifiedAssertion> {
  const { header, claims } = peek(assertion);
  checkHeader(header);
  const { iss, sub } = claims;
  if (typeof iss !== 'string' || iss !== sub) throw refuse('the client assertion\'s iss and sub must both be the client_id');
  const registered = check.clients.get(iss);
  if (!registered) throw refuse('the client assertion\'s issuer is not a registered client');
  if (check.clientId !== undefined && check.clientId !== iss) throw refuse('client_id does not match the client assertion\'s issuer');
  // SMART: a jku must match the registered JWK Set URL. It is checked, never followed.
  if (header.jku !== undefined && header.jku !== registered.keys.jwksUri) {
    throw refuse('the client assertion\'s jku is not the key set URL registered for this client');
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, registered.keys.resolve, {
      algorithms: [...SIGNING_ALGS],
      issuer: iss,
      subject: iss,
      // Exactly the token endpoint; an aud array is accepted when it contains it (RFC 7519 §4.1.3).
      audience: check.tokenEndpoint,
      requiredClaims: ['exp', 'jti'],
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: new Date(check.nowSeconds * 1000),
    }));
  } catch (err) {
    throw describeFailure(err);
  }
  const { exp, jti } = payload;
  if (typeof exp !== 'number') throw refuse('the client assertion needs an exp');
  if (exp > check.nowSeconds + MAX_ASSERTION_SECONDS + CLOCK_SKEW_SECONDS) {
    throw refuse('the client assertion\'s exp is more than five minutes in the future');
  }
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) {
    throw refuse(`the client assertion needs a jti of 1 to ${MAX_JTI_LENGTH} characters`);
  }
  return { client: registered.client, jti, exp };
}

/** The header rules checked before any key is looked up: algorithm, kid, typ. */
function checkHeader(header: ProtectedHeaderParameters): void {
  // The header is attacker-written JSON: check every type before using a value.
  if (typeof header.alg !== 'string' || !SIGNING_ALGS.includes(header.alg)) throw refuse('the client assertion must be signed with RS384 or ES384');
  if (typeof header.kid !== 'string' || header.kid === '') throw refuse('the client assertion header needs a kid naming one of the client\'s registered keys');
  // SMART makes typ JWT required of clients; tolerate its absence, refuse any other type
  // (a JWT minted for another purpose, e.g. an access token, is not a client assertion).
  const typ: unknown = header.typ;
  if (typ !== undefined && (typeof typ !== 'string' || typ.toLowerCase().replace(/^application\//, '') !== 'jwt')) {
    throw refuse('the client assertion typ must be JWT');
  }
}

/** The header and claims, unverified: only to find the client and refuse early. */
function peek(assertion: string): { header: ProtectedHeaderParameters; claims: JWTPayload } {
  if (assertion.length > MAX_ASSERTION_LENGTH) throw refuse('the client assertion is too large');
  try {
    return { header: decodeProtectedHeader(assertion), claims: decodeJwt(assertion) };
  } catch {
    throw refuse('the client assertion is not a signed JWT');
  }
}

/** The OAuth error for a jose failure; anything that is not a JOSE or key set failure is a bug and is rethrown. */
function describeFailure(err: unknown): Error {
  if (err instanceof KeySetUnavailable) return refuse('the client\'s registered key set could not be fetched or read');
  if (err instanceof errors.JWTExpired) return refuse('the client assertion has expired');
  if (err instanceof errors.JWTClaimValidationFailed) return refuse(claimProblem(err.claim, err.reason));
  if (err instanceof errors.JWSSignatureVerificationFailed) return refuse('the client assertion\'s signature does not verify');
  if (err instanceof errors.JWKSNoMatchingKey) return refuse('no registered key of the client matches the assertion\'s kid and alg');
  if (err instanceof errors.JWKSMultipleMatchingKeys) return refuse('more than one registered key matches the assertion\'s kid');
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) {
    return refuse('the client\'s registered key set could not be fetched or read');
  }
  if (err instanceof errors.JOSEError) return refuse('the client assertion is not valid');
  return err instanceof Error ? err : new Error(String(err));
}

function claimProblem(claim: string, reason: string): string {
  if (reason === 'missing') return `the client assertion needs a${/^[aeiou]/.test(claim) ? 'n' : ''} ${claim} claim`;
  switch (claim) {
    case 'aud':
      return 'the client assertion\'s aud must be this server\'s token endpoint URL';
    case 'nbf':
      return 'the client assertion is not valid yet (nbf)';
    default:
      return `the client assertion's ${claim} claim is not valid`;
  }
}
