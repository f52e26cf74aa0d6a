/**
 * The soak's callers: one anonymous and several SMART Backend Services clients, each a
 * different caller to the service (its own door and caller key). A Backend Services client
 * holds a key pair, signs a client assertion (private_key_jwt) and renews its access token
 * before it expires, as a real HIE connector does.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ALG = 'ES384';

export interface Caller {
  name: string;
  /** The Authorization header to send, if any (renewed as needed). */
  authorization(): Promise<string | undefined>;
}

export interface BackendClientKeys {
  clientId: string;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** A Backend Services client's key pair and its registration (for BACKEND_CLIENTS). */
export async function backendClientKeys(clientId: string): Promise<BackendClientKeys> {
  const { privateKey, publicKey } = await generateKeyPair(ALG);
  const kid = `${clientId}-key`;
  return { clientId, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' } };
}

/** The BACKEND_CLIENTS value registering these clients for the practices. */
export function backendClientsEnv(clients: BackendClientKeys[], practices: string[]): string {
  return JSON.stringify(clients.map((c) => ({ client_id: c.clientId, jwks: { keys: [c.publicJwk] }, practices, scope: 'system/*.rs' })));
}

export const anonymousCaller: Caller = { name: 'anonymous', authorization: () => Promise.resolve(undefined) };

/** A Backend Services caller: client_credentials at `tokenEndpoint`, renewed at half its lifetime. */
export function backendCaller(keys: BackendClientKeys, tokenEndpoint: string): Caller {
  let current: { token: string; renewAt: number } | undefined;
  let pending: Promise<string> | undefined;
  const fetchToken = async (): Promise<string> => {
    const assertion = await new SignJWT({ iss: keys.clientId, sub: keys.clientId, aud: tokenEndpoint, jti: randomUUID() })
      .setProtectedHeader({ alg: ALG, kid: keys.kid, typ: 'JWT' })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(keys.privateKey);
    const res = await fetch(tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: assertion,
        scope: 'system/*.rs',
      }),
    });
    const body = (await res.json()) as { access_token?: unknown; expires_in?: unknown };
    if (res.status !== 200 || typeof body.access_token !== 'string') throw new Error(`${keys.clientId}: token request answered ${res.status}`);
    const lifetime = typeof body.expires_in === 'number' ? body.expires_in : 300;
    current = { token: body.access_token, renewAt: Date.now() + (lifetime * 1000) / 2 };
    return body.access_token;
  };
  return {
    name: keys.clientId,
    authorization: async () => {
      if (current && Date.now() < current.renewAt) return `Bearer ${current.token}`;
      pending ??= fetchToken().finally(() => (pending = undefined));
      return `Bearer ${await pending}`;
    },
  };
}
