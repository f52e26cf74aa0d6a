/**
 * Where a Backend Services client's public keys come from: the JWK Set registered inline, or
 * the one at its registered `jwks_uri` (SMART client-confidential-asymmetric, "Registering a
 * client"). Only the registered URL is ever fetched; the assertion's `jku` header is checked
 * against it by the caller and never followed.
 *
 * Remote key sets are fetched with jose's createRemoteJWKSet (a timeout, a cooldown between
 * refetches for unknown `kid`s, concurrent requests sharing one fetch), through a fetch that
 * refuses redirects, anything but 200, and bodies over 64 KiB, and that reads Cache-Control:
 * the spec says the server SHALL NOT cache a JWK Set longer than the client's Cache-Control
 * allows, so a set is refetched once that lifetime passes (at most five minutes either way).
 * https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html#signature-verification
 */
import { createLocalJWKSet, createRemoteJWKSet, customFetch, type FetchImplementation, type JWTVerifyGetKey } from 'jose';
import type { BackendClient } from '../../config.ts';

/** Resolves the key an assertion names (by `kid` and `alg`); jose's key-function shape. */
export interface ClientKeys {
  resolve: JWTVerifyGetKey;
  /** The registered JWK Set URL, when the keys are fetched from one. */
  jwksUri?: string;
}

/** The client's key set could not be fetched or read; authentication fails, nothing is cached. */
export class KeySetUnavailable extends Error {
  override readonly name = 'KeySetUnavailable';
}

/** Longest a fetched key set is trusted, whatever its Cache-Control says. */
export const MAX_KEY_SET_CACHE_MS = 5 * 60_000;
/** Least time between refetches triggered by an unknown `kid` (jose's cooldown). */
export const KEY_SET_COOLDOWN_MS = 30_000;
/** A key set is fetched at most this often, whatever its Cache-Control says. */
export const MIN_REFETCH_MS = 10_000;
const MAX_KEY_SET_BYTES = 64 * 1024;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/**
 * The key source of a registered client. Throws at start-up, naming the client, when an
 * inline key set holds a key without `kid`, a duplicated `kid`, a non-RSA/EC key or private
 * key material (an operator who pasted a private key should learn it now).
 */
export function clientKeys(client: BackendClient, opts: { fetchTimeoutMs: number }): ClientKeys {
  if (client.jwks) {
    checkInlineKeySet(client.clientId, client.jwks);
    return { resolve: createLocalJWKSet(client.jwks) };
  }
  if (client.jwksUri) return new RemoteKeys(client.jwksUri, opts.fetchTimeoutMs);
  throw new Error(`Backend client ${client.clientId}: neither jwks nor jwks_uri is registered`);
}

function checkInlineKeySet(clientId: string, jwks: { keys: readonly Record<string, unknown>[] }): void {
  const fail = (problem: string) => new Error(`Backend client ${clientId}: ${problem}`);
  const kids = new Set<string>();
  for (const key of jwks.keys) {
    const kid = key.kid;
    if (typeof kid !== 'string' || kid === '') throw fail('a key has no kid');
    if (kids.has(kid)) throw fail(`kid ${kid} is used twice`);
    if (key.kty !== 'RSA' && key.kty !== 'EC') throw fail(`key ${kid} is not an RSA or EC key`);
    if (PRIVATE_MEMBERS.some((m) => m in key)) throw fail(`key ${kid} holds private key material; register the public key only`);
    kids.add(kid);
  }
}

/** A key set fetched from the client's registered URL, cached as its Cache-Control allows. */
class RemoteKeys implements ClientKeys {
  readonly resolve: JWTVerifyGetKey;
  /** Date.now() after which the cached set must be fetched again (Cache-Control). */
  #staleAt = 0;
  /** When the key set was last fetched (successfully or not). */
  #fetchedAt = 0;

  constructor(
    readonly jwksUri: string,
    timeoutMs: number,
  ) {
    const set = createRemoteJWKSet(new URL(jwksUri), {
      timeoutDuration: timeoutMs,
      cooldownDuration: KEY_SET_COOLDOWN_MS,
      cacheMaxAge: MAX_KEY_SET_CACHE_MS,
      [customFetch]: this.#fetch,
    });
    // jose refetches on its own when the set is older than cacheMaxAge; a shorter
    // Cache-Control lifetime is enforced here, but never more often than every
    // MIN_REFETCH_MS: assertions are checked before their signature, so anyone naming the
    // client could otherwise make us fetch its key set on every request. (Real time, like
    // jose's own cache.)
    this.resolve = async (header, token) => {
      const now = Date.now();
      if (set.fresh && now >= this.#staleAt && now >= this.#fetchedAt + MIN_REFETCH_MS) await set.reload();
      return set(header, token);
    };
  }

  readonly #fetch: FetchImplementation = async (url, init) => {
    this.#fetchedAt = Date.now();
    try {
      const res = await fetch(url, init);
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new KeySetUnavailable(`the key set answered HTTP ${res.status}`);
      }
      const text = await readAtMost(res, MAX_KEY_SET_BYTES);
      // Trust the lifetime only of a body jose will accept as a key set.
      const json: unknown = JSON.parse(text);
      if (typeof json !== 'object' || json === null || !('keys' in json) || !Array.isArray(json.keys)) {
        throw new KeySetUnavailable('the key set is not a JWK Set');
      }
      this.#staleAt = Date.now() + cacheLifetimeMs(res.headers.get('cache-control'));
      return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (err) {
      throw err instanceof KeySetUnavailable ? err : new KeySetUnavailable('the key set could not be fetched', { cause: err });
    }
  };
}

/**
 * How long a response may be cached, in ms, from its Cache-Control header: 0 for
 * `no-store`/`no-cache`, `max-age` otherwise, never more than MAX_KEY_SET_CACHE_MS.
 */
export function cacheLifetimeMs(cacheControl: string | null): number {
  if (!cacheControl) return MAX_KEY_SET_CACHE_MS;
  const directives = cacheControl.toLowerCase().split(',').map((d) => d.trim());
  if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0;
  for (const d of directives) {
    const seconds = /^max-age="?(\d{1,10})"?$/.exec(d)?.[1];
    if (seconds !== undefined) return Math.min(MAX_KEY_SET_CACHE_MS, Number(seconds) * 1000);
  }
  return MAX_KEY_SET_CACHE_MS;
}

/** The body as text, refusing one longer than `max` bytes without reading the rest. */
async function readAtMost(res: Response, max: number): Promise<string> {
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw new KeySetUnavailable('the key set is too large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
