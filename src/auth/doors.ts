/**
 * The doors: every FHIR request that can reach patient data passes exactly one, chosen from
 * what it carries, and the door it passed says who the caller is and what Nextech receives.
 *
 * - no Authorization header → **anonymous**, only when the operator enabled it;
 * - `Bearer` + one of our sealed tokens → **SMART App Launch** (the user's Nextech token
 *   sealed inside goes upstream) or **Backend Services** (the service's managed token);
 * - `Bearer` + anything else → **passthrough** (forwarded to Nextech, which verifies it) when
 *   `NEXTECH_AUTH=passthrough`, otherwise refused.
 *
 * A credential that does not verify is a 401 and is never handed to another door: a token
 * shaped like ours (in any letter case) that does not open is refused even where passthrough
 * is on; a malformed header or another scheme is refused; a bearer is never "anonymous".
 */
import { FhirError, outcome } from '../fhir/outcome.ts';
import { tokenFingerprint } from '../crypto/fingerprint.ts';
import type { UpstreamCredential } from '../source/call.ts';
import type { SmartGrant } from './smart/compartment.ts';
import { parseScopes, SYSTEM_CONTEXTS, USER_CONTEXTS } from './smart/scopes.ts';

export type DoorName = 'smart' | 'backend' | 'passthrough' | 'anonymous';

/** Who passed which door: the one owner of caller identity. */
export interface Caller {
  door: DoorName;
  /**
   * The caller's identity, for cache isolation, coalescing and audit lines:
   * `smart:{client}:{sign-in}`, `backend:{client}`, `passthrough:{token fingerprint}`,
   * `anonymous`. Never a token.
   */
  key: string;
  /** What Nextech receives for this caller's calls. */
  credential: UpstreamCredential;
  /** What the token granted (SMART, Backend Services); absent where Nextech alone decides. */
  grant?: SmartGrant;
  /** The SMART sign-in the token belongs to: still to be checked against every replica's revocations. */
  signIn?: string;
}

/** The caller key of a Backend Services client (see `Caller.key`). */
export const backendCallerKey = (clientId: string): string => `backend:${clientId}`;

/** What our sealed SMART access tokens hold, as far as the doors need it. */
export interface SmartAccess {
  cid: string;
  scope: string;
  prac: string;
  /** The Nextech access token of the user, sealed inside. */
  nat: string;
  pat?: string;
  /** One Nextech sign-in (stable across refreshes). */
  sid?: string;
}

/** What our sealed Backend Services access tokens hold. */
export interface SystemAccess {
  cid: string;
  scope: string;
  pracs: readonly string[];
}

export interface DoorConfig {
  smart?: {
    openAccess(token: string): SmartAccess | undefined;
    /** Whether no replica revoked the sign-in (shared state; see refresh-families.ts). */
    signedIn?(sid: string | undefined): Promise<boolean>;
  };
  backend?: { openAccess(token: string): SystemAccess | undefined };
  passthrough: boolean;
  anonymous: boolean;
  supportedTypes: readonly string[];
}

const REALM = 'realm="fhir"';

const unauthorized = (why: string, error?: 'invalid_token' | 'invalid_request') =>
  new FhirError(401, outcome('error', 'login', why), {
    'WWW-Authenticate': error ? `Bearer ${REALM}, error="${error}"` : `Bearer ${REALM}`,
  });

const forbidden = (why: string) => new FhirError(403, outcome('error', 'forbidden', why));

/** RFC 6750 §2.1: `Bearer` (any case), one space or more, a b64token. */
const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;
/** Our sealed tokens start `v1.`; any letter case or version counts as ours and must open. */
const OURS = /^v\d+\./i;

/** The bearer token of an Authorization header, or undefined when there is no header. Throws 401 on any other form. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = BEARER.exec(header);
  if (!m?.[1]) throw unauthorized('The Authorization header must be "Bearer" and an access token', 'invalid_request');
  return m[1];
}

/**
 * The rest of the SMART door that needs the shared state: a sign-in another replica revoked
 * (a reused refresh token) is refused here too. Throws 401.
 */
export async function confirmSignIn(caller: Caller, doors: DoorConfig): Promise<void> {
  if (caller.signIn === undefined || !doors.smart?.signedIn) return;
  if (!(await doors.smart.signedIn(caller.signIn))) throw unauthorized('The access token is invalid or expired', 'invalid_token');
}

/**
 * Authenticates one request (for `practiceId`, when the request names one: a token bound to
 * other practices is a 403); throws 401/403 FhirErrors.
 */
export function admit(authorization: string | undefined, practiceId: string | undefined, doors: DoorConfig): Caller {
  const token = bearerToken(authorization);
  if (token === undefined) {
    if (!doors.anonymous) throw unauthorized('An access token is required (Authorization: Bearer)');
    return { door: 'anonymous', key: 'anonymous', credential: { kind: 'managed' } };
  }
  if (OURS.test(token)) return sealed(token, practiceId, doors);
  if (doors.passthrough) {
    return { door: 'passthrough', key: `passthrough:${tokenFingerprint(token)}`, credential: { kind: 'bearer', token, vouched: false } };
  }
  throw unauthorized('The access token is invalid or expired', 'invalid_token');
}

function sealed(token: string, practiceId: string | undefined, doors: DoorConfig): Caller {
  const smart = doors.smart?.openAccess(token);
  if (smart) {
    if (practiceId !== undefined && smart.prac !== practiceId) throw forbidden('The access token was issued for another practice');
    return {
      door: 'smart',
      key: `smart:${smart.cid}:${smart.sid ?? tokenFingerprint(smart.nat)}`,
      credential: { kind: 'bearer', token: smart.nat, vouched: true },
      grant: {
        clientId: smart.cid,
        scopes: parseScopes(smart.scope, doors.supportedTypes, USER_CONTEXTS),
        ...(smart.pat ? { patient: smart.pat } : {}),
      },
      ...(smart.sid !== undefined ? { signIn: smart.sid } : {}),
    };
  }
  const system = doors.backend?.openAccess(token);
  if (system) {
    if (practiceId !== undefined && !system.pracs.includes(practiceId)) throw forbidden('The access token does not cover this practice');
    return {
      door: 'backend',
      key: backendCallerKey(system.cid),
      credential: { kind: 'managed' },
      grant: { clientId: system.cid, scopes: parseScopes(system.scope, doors.supportedTypes, SYSTEM_CONTEXTS) },
    };
  }
  throw unauthorized('The access token is invalid or expired', 'invalid_token');
}
