// Backend Services key sources and replay memory (src/auth/backend/keys.ts, replay.ts):
// clients whose keys live at a registered jwks_uri, served by a real HTTP server on
// 127.0.0.1 (fetch counts, Cache-Control, failures, jku), the Cache-Control reading, and
// the bounded store of used assertion ids.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cacheLifetimeMs, MAX_KEY_SET_CACHE_MS, MIN_REFETCH_MS } from '../../src/auth/backend/keys.ts';
import { ReplayStore } from '../../src/auth/backend/replay.ts';
import { MemoryStore } from '../../src/shared/memory-store.ts';
import { BackendServer } from '../../src/auth/backend/server.ts';
import { OAuthError } from '../../src/auth/oauth-error.ts';
import { createSealer } from '../../src/auth/smart/sealer.ts';
import { clientKeyPair, signAssertion, tokenForm, type AssertionOptions, type ClientKeyPair } from '../helpers/backend.ts';

const ENDPOINT = 'https://fhir.example.com/auth/token';
const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const SECRET = 'a-test-secret-of-at-least-32-chars!!';

let rsa: ClientKeyPair;
let ec: ClientKeyPair;

beforeAll(async () => {
  [rsa, ec] = await Promise.all([clientKeyPair('RS384', 'rsa-1'), clientKeyPair('ES384', 'ec-1')]);
});

/** What the key set server answers; `hang` never answers. */
interface KeySetReply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  hang?: boolean;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A JWK Set host on 127.0.0.1, port 0, counting the requests it gets. */
async function keySetHost(reply: () => KeySetReply): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    const r = reply();
    if (r.hang) return;
    res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...r.headers });
    res.end(JSON.stringify(r.body ?? { keys: [rsa.publicJwk, ec.publicJwk] }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/jwks.json`, hits: () => hits };
}

function backend(jwksUri: string, fetchTimeoutMs = 2000): BackendServer {
  const now = () => T0;
  return new BackendServer({
    settings: { clients: [{ clientId: 'remote', jwksUri, scope: 'system/*.rs', practices: ['1001'] }], accessTokenSeconds: 300 },
    sealer: createSealer(SECRET, now),
    tokenEndpoint: ENDPOINT,
    supportedTypes: ['Patient'],
    now,
    fetchTimeoutMs,
    assertionsPerClient: 10_000,
  });
}

function assertion(o: Partial<AssertionOptions> = {}): Promise<string> {
  return signAssertion({ clientId: 'remote', tokenEndpoint: ENDPOINT, privateKey: rsa.privateKey, kid: rsa.kid, alg: 'RS384', nowMs: T0, ...o });
}

async function refusal(server: BackendServer, form: URLSearchParams): Promise<OAuthError> {
  const outcome = await server.token(form).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(outcome instanceof OAuthError)) throw new Error(`expected an OAuthError, got ${String(outcome)}`);
  return outcome;
}

describe('backend services with a jwks_uri', () => {
  it('issues tokens for RS384 and ES384 assertions verified with keys fetched from the registered URL', async () => {
    const host = await keySetHost(() => ({}));
    const server = backend(host.url);
    expect((await server.token(tokenForm(await assertion(), 'system/*.rs'))).token_type).toBe('bearer');
    const es = await assertion({ privateKey: ec.privateKey, kid: ec.kid, alg: 'ES384' });
    expect((await server.token(tokenForm(es, 'system/Patient.read'))).scope).toBe('system/Patient.rs');
  });

  it('fetches the key set once and reuses it while its Cache-Control allows', async () => {
    const host = await keySetHost(() => ({ headers: { 'cache-control': 'public, max-age=300' } }));
    const server = backend(host.url);
    for (let i = 0; i < 3; i++) await server.token(tokenForm(await assertion(), 'system/*.rs'));
    expect(host.hits()).toBe(1);
  });

  it('fetches a no-store key set again, but at most once per MIN_REFETCH_MS however many assertions name the client', async () => {
    const host = await keySetHost(() => ({ headers: { 'cache-control': 'no-store' } }));
    const server = backend(host.url);
    for (let i = 0; i < 3; i++) await server.token(tokenForm(await assertion(), 'system/*.rs'));
    expect(host.hits()).toBe(1);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + MIN_REFETCH_MS + 1 });
    try {
      await server.token(tokenForm(await assertion(), 'system/*.rs'));
    } finally {
      vi.useRealTimers();
    }
    expect(host.hits()).toBe(2);
  });

  it('does not refetch the key set for an unknown kid within the cooldown after a fetch', async () => {
    const host = await keySetHost(() => ({}));
    const server = backend(host.url);
    await server.token(tokenForm(await assertion(), 'system/*.rs'));
    for (let i = 0; i < 3; i++) {
      const err = await refusal(server, tokenForm(await assertion({ kid: 'rotated-2' }), 'system/*.rs'));
      expect(err).toMatchObject({ error: 'invalid_client', status: 401 });
    }
    expect(host.hits()).toBe(1);
  });

  const FAILURES: { does: string; reply: KeySetReply }[] = [
    { does: 'answers 500', reply: { status: 500, body: { error: 'down' } } },
    { does: 'redirects elsewhere', reply: { status: 302, headers: { location: 'http://127.0.0.1:1/jwks.json' } } },
    { does: 'is not a JWK Set', reply: { body: { not: 'keys' } } },
    { does: 'is larger than 64 KiB', reply: { body: { keys: [], pad: 'x'.repeat(70_000) } } },
    { does: 'does not answer within the timeout', reply: { hang: true } },
  ];
  for (const { does, reply } of FAILURES) {
    it(`refuses with invalid_client (401) when the key set ${does}`, async () => {
      const host = await keySetHost(() => reply);
      const err = await refusal(backend(host.url, 300), tokenForm(await assertion(), 'system/*.rs'));
      expect(err).toMatchObject({ error: 'invalid_client', status: 401 });
      expect(err.description).toMatch(/key set could not be fetched/);
    });
  }

  it('refuses with invalid_client when nothing listens at the registered URL', async () => {
    const err = await refusal(backend('http://127.0.0.1:1/jwks.json', 500), tokenForm(await assertion(), 'system/*.rs'));
    expect(err).toMatchObject({ error: 'invalid_client', status: 401 });
  });

  it('refuses a jku other than the registered URL and never fetches it', async () => {
    const registered = await keySetHost(() => ({}));
    const attacker = await keySetHost(() => ({}));
    const server = backend(registered.url);
    const err = await refusal(server, tokenForm(await assertion({ header: { jku: attacker.url } }), 'system/*.rs'));
    expect(err).toMatchObject({ error: 'invalid_client', status: 401 });
    expect(attacker.hits()).toBe(0);
    expect(registered.hits()).toBe(0);
  });

  it('accepts a jku that is the registered URL', async () => {
    const host = await keySetHost(() => ({}));
    const server = backend(host.url);
    expect((await server.token(tokenForm(await assertion({ header: { jku: host.url } }), 'system/*.rs'))).token_type).toBe('bearer');
  });
});

describe('key set cache lifetime', () => {
  const CASES: [string | null, number][] = [
    [null, MAX_KEY_SET_CACHE_MS],
    ['max-age=60', 60_000],
    ['public, max-age=30, must-revalidate', 30_000],
    ['Max-Age="45"', 45_000],
    ['max-age=86400', MAX_KEY_SET_CACHE_MS],
    ['max-age=0', 0],
    ['no-store', 0],
    ['no-cache, max-age=600', 0],
    ['private', MAX_KEY_SET_CACHE_MS],
    ['max-age=abc', MAX_KEY_SET_CACHE_MS],
  ];
  for (const [header, ms] of CASES) {
    it(`caches a key set served with Cache-Control ${JSON.stringify(header)} for ${ms} ms`, () => {
      expect(cacheLifetimeMs(header)).toBe(ms);
    });
  }
});

describe('replay store', () => {
  /** A store on a clock the test moves (epoch seconds). */
  function storeAt(capacity: number) {
    let seconds = 100;
    const store = new ReplayStore(new MemoryStore(() => seconds * 1000, { entries: capacity }), 10_000);
    return { store, at: (s: number) => void (seconds = s) };
  }

  it('reports a jti fresh once, then replayed while it is kept', async () => {
    const { store, at } = storeAt(10);
    expect(await store.spend('a', 'j1', 200, 100)).toBe('fresh');
    at(150);
    expect(await store.spend('a', 'j1', 200, 150)).toBe('replayed');
    at(200);
    expect(await store.spend('a', 'j1', 200, 200)).toBe('replayed');
  });

  it('keeps clients apart, even when a client id and jti could run together', async () => {
    const { store } = storeAt(10);
    expect(await store.spend('a', 'b c', 200, 100)).toBe('fresh');
    expect(await store.spend('a b', 'c', 200, 100)).toBe('fresh');
    expect(await store.spend('b', 'b c', 200, 100)).toBe('fresh');
  });

  it('refuses new entries when full of live ones, without forgetting any', async () => {
    const { store, at } = storeAt(2);
    await store.spend('a', 'j1', 200, 100);
    await store.spend('a', 'j2', 300, 100);
    at(150);
    expect(await store.spend('a', 'j3', 300, 150)).toBe('full');
    expect(await store.spend('a', 'j1', 200, 150)).toBe('replayed');
    expect(await store.spend('a', 'j2', 300, 150)).toBe('replayed');
  });

  it('makes room by forgetting entries whose time has passed', async () => {
    const { store, at } = storeAt(2);
    await store.spend('a', 'j1', 200, 100);
    await store.spend('a', 'j2', 300, 100);
    at(202);
    expect(await store.spend('a', 'j3', 400, 202)).toBe('fresh');
    expect(await store.spend('a', 'j2', 300, 202)).toBe('replayed');
  });
});
