// SMART Backend Services token endpoint (src/auth/backend/server.ts) with inline JWK Sets:
// client_credentials with a private_key_jwt assertion, every way an assertion can be
// wrong, replay, scope narrowing, and the access token it issues. Keys are real (jose),
// generated per run; the clock is fixed so expiry is exact.
import { beforeAll, describe, expect, it } from 'vitest';
import { BackendServer, backendDiscovery } from '../../src/auth/backend/server.ts';
import { OAuthError } from '../../src/auth/oauth-error.ts';
import { createSealer } from '../../src/auth/smart/sealer.ts';
import type { BackendClient } from '../../src/config.ts';
import { clientKeyPair, signAssertion, tokenForm, unsignedAssertion, type AssertionOptions, type ClientKeyPair } from '../helpers/backend.ts';

const ENDPOINT = 'https://fhir.example.com/auth/token';
const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const T0S = T0 / 1000;
const TYPES = ['Patient', 'Encounter', 'DocumentReference', 'Binary'];
const SECRET = 'a-test-secret-of-at-least-32-chars!!';

let rsa: ClientKeyPair;
let ec: ClientKeyPair;
let impostor: ClientKeyPair; // another RSA key that claims rsa's kid
let rs256: ClientKeyPair;

beforeAll(async () => {
  [rsa, ec, impostor, rs256] = await Promise.all([
    clientKeyPair('RS384', 'rsa-1'),
    clientKeyPair('ES384', 'ec-1'),
    clientKeyPair('RS384', 'rsa-1'),
    clientKeyPair('RS256', 'rs256-1'),
  ]);
});

function clients(): BackendClient[] {
  return [
    // rs256's key is registered too, so that only the algorithm rule can refuse it.
    { clientId: 'analytics', jwks: { keys: [rsa.publicJwk, ec.publicJwk, rs256.publicJwk] }, scope: 'system/*.rs', practices: ['1001'] },
    { clientId: 'patients-only', jwks: { keys: [rsa.publicJwk] }, scope: 'system/Patient.rs', practices: ['1001', '1002'] },
  ];
}

function setup(opts: { replayCapacity?: number; clients?: BackendClient[] } = {}) {
  let clock = T0;
  const now = () => clock;
  const server = new BackendServer({
    settings: { clients: opts.clients ?? clients(), accessTokenSeconds: 300 },
    sealer: createSealer(SECRET, now),
    tokenEndpoint: ENDPOINT,
    supportedTypes: TYPES,
    now,
    assertionsPerClient: 10_000,
    ...(opts.replayCapacity ? { replayCapacity: opts.replayCapacity } : {}),
  });
  return { server, advance: (ms: number) => (clock += ms), now };
}

/** An assertion from `analytics` signed with its RS384 key at T0, with `o` changed. */
function assertion(o: Partial<AssertionOptions> = {}): Promise<string> {
  return signAssertion({ clientId: 'analytics', tokenEndpoint: ENDPOINT, privateKey: rsa.privateKey, kid: rsa.kid, alg: 'RS384', nowMs: T0, ...o });
}

/** The OAuthError the request is refused with; fails if it succeeds or throws anything else. */
async function refusal(server: BackendServer, form: URLSearchParams): Promise<OAuthError> {
  const outcome = await server.token(form).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(outcome instanceof OAuthError)) throw new Error(`expected an OAuthError, got ${String(outcome)}`);
  // No part of the assertion is ever echoed back.
  for (const part of (form.get('client_assertion') ?? '').split('.')) {
    if (part.length >= 8) expect(outcome.description).not.toContain(part);
  }
  return outcome;
}

describe('backend services token endpoint: success', () => {
  it('issues a bearer token for an RS384 assertion, with expires_in, the granted scope and no refresh token', async () => {
    const { server } = setup();
    const body = await server.token(tokenForm(await assertion(), 'system/*.rs'));
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(body).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'system/*.rs' });
    expect(body.access_token).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
  });

  it('issues a token for an ES384 assertion', async () => {
    const { server } = setup();
    const body = await server.token(tokenForm(await assertion({ privateKey: ec.privateKey, kid: ec.kid, alg: 'ES384' }), 'system/Patient.rs'));
    expect(body.scope).toBe('system/Patient.rs');
  });

  it('seals the client, its granted scope and practices into the token, which openAccess reads back', async () => {
    const { server } = setup();
    const body = await server.token(tokenForm(await assertion({ clientId: 'patients-only' }), 'system/Patient.rs'));
    expect(server.openAccess(String(body.access_token))).toEqual({ cid: 'patients-only', scope: 'system/Patient.rs', pracs: ['1001', '1002'], exp: T0S + 300 });
  });

  it('accepts an aud array that contains the token endpoint', async () => {
    const { server } = setup();
    const a = await assertion({ claims: { aud: ['https://other.example/token', ENDPOINT] } });
    expect((await server.token(tokenForm(a, 'system/*.rs'))).token_type).toBe('bearer');
  });

  it('accepts an assertion that expired within the 60 s clock-skew allowance', async () => {
    const { server } = setup();
    expect((await server.token(tokenForm(await assertion({ lifetimeSeconds: -30 }), 'system/*.rs'))).expires_in).toBe(300);
  });

  it('accepts an exp up to five minutes plus the 60 s allowance ahead', async () => {
    const { server } = setup();
    expect((await server.token(tokenForm(await assertion({ lifetimeSeconds: 360 }), 'system/*.rs'))).expires_in).toBe(300);
  });

  it('accepts typ application/jwt and an assertion without typ', async () => {
    const { server } = setup();
    for (const typ of ['application/jwt', undefined]) {
      expect((await server.token(tokenForm(await assertion({ header: { typ } }), 'system/*.rs'))).token_type, String(typ)).toBe('bearer');
    }
  });

  it('accepts a client_id parameter that names the assertion issuer', async () => {
    const { server } = setup();
    const body = await server.token(tokenForm(await assertion(), 'system/*.rs', { client_id: 'analytics' }));
    expect(body.token_type).toBe('bearer');
  });
});

/** Assertions refused with invalid_client (401), each with what makes it wrong. */
const BAD_ASSERTIONS: { does: string; why: RegExp; make: () => Promise<string> }[] = [
  { does: 'signed by another key with the same kid', why: /signature/, make: () => assertion({ privateKey: impostor.privateKey }) },
  { does: 'whose aud is the FHIR base, not the token endpoint', why: /aud must be/, make: () => assertion({ claims: { aud: 'https://fhir.example.com/fhir' } }) },
  { does: 'whose aud is the token endpoint with a trailing slash', why: /aud must be/, make: () => assertion({ claims: { aud: `${ENDPOINT}/` } }) },
  { does: 'whose aud is another server', why: /aud must be/, make: () => assertion({ claims: { aud: 'https://other.example/auth/token' } }) },
  { does: 'with no aud', why: /needs an aud/, make: () => assertion({ claims: { aud: undefined } }) },
  { does: 'that expired more than 60 s ago', why: /expired/, make: () => assertion({ lifetimeSeconds: -120 }) },
  { does: 'whose exp is more than five minutes (plus 60 s) ahead', why: /five minutes/, make: () => assertion({ lifetimeSeconds: 400 }) },
  { does: 'with no exp', why: /needs an exp/, make: () => assertion({ noExp: true }) },
  { does: 'with a non-numeric exp', why: /exp claim is not valid/, make: () => assertion({ claims: { exp: String(T0S + 60) } }) },
  { does: 'with no jti', why: /needs a jti/, make: () => assertion({ jti: null }) },
  { does: 'with an overlong jti', why: /jti of 1 to 256/, make: () => assertion({ jti: 'x'.repeat(257) }) },
  { does: 'with no kid', why: /needs a kid/, make: () => assertion({ kid: null }) },
  { does: 'whose kid matches no registered key', why: /no registered key/, make: () => assertion({ kid: 'rsa-2' }) },
  { does: 'whose kid names a key of another type (EC kid, RSA signature)', why: /no registered key/, make: () => assertion({ kid: ec.kid }) },
  { does: 'from an unknown client', why: /not a registered client/, make: () => assertion({ clientId: 'nobody' }) },
  { does: 'whose iss differs from sub', why: /iss and sub/, make: () => assertion({ claims: { sub: 'patients-only' } }) },
  { does: 'that is not yet valid (nbf)', why: /nbf/, make: () => assertion({ claims: { nbf: T0S + 600 } }) },
  { does: 'of another typ than JWT', why: /typ/, make: () => assertion({ header: { typ: 'at+jwt' } }) },
  {
    does: 'whose header holds a typ that is not a string',
    why: /typ/,
    make: () => Promise.resolve(`${Buffer.from(JSON.stringify({ alg: 'RS384', kid: rsa.kid, typ: 1 })).toString('base64url')}.${Buffer.from('{}').toString('base64url')}.c2ln`),
  },
  {
    does: 'whose header holds an alg that is not a string',
    why: /RS384 or ES384/,
    make: () => Promise.resolve(`${Buffer.from(JSON.stringify({ alg: ['RS384'], kid: rsa.kid })).toString('base64url')}.${Buffer.from('{}').toString('base64url')}.c2ln`),
  },
  { does: 'naming a jku when the client registered an inline key set', why: /jku/, make: () => assertion({ header: { jku: 'https://attacker.example/jwks.json' } }) },
  {
    does: 'with alg none (unsigned)',
    why: /RS384 or ES384/,
    make: () =>
      Promise.resolve(
        unsignedAssertion({ kid: rsa.kid, typ: 'JWT' }, { iss: 'analytics', sub: 'analytics', aud: ENDPOINT, exp: T0S + 60, jti: 'none-1' }),
      ),
  },
  {
    does: 'signed HS256 with the public key as the secret',
    why: /RS384 or ES384/,
    make: () => assertion({ alg: 'HS256', privateKey: new TextEncoder().encode(JSON.stringify(rsa.publicJwk)) }),
  },
  { does: 'signed RS256, even with a registered RS256 key', why: /RS384 or ES384/, make: () => assertion({ alg: 'RS256', privateKey: rs256.privateKey, kid: rs256.kid }) },
  { does: 'that is larger than 16 KiB', why: /too large/, make: () => assertion({ claims: { pad: 'x'.repeat(16_384) } }) },
  { does: 'that is not a JWT', why: /not a signed JWT/, make: () => Promise.resolve('not-a-jwt') },
  { does: 'whose signature was cut off', why: /signature/, make: async () => (await assertion()).replace(/\.[^.]+$/, '.') },
];

describe('backend services token endpoint: refused assertions', () => {
  for (const { does, why, make } of BAD_ASSERTIONS) {
    it(`refuses an assertion ${does} with invalid_client (401)`, async () => {
      const { server } = setup();
      const err = await refusal(server, tokenForm(await make(), 'system/*.rs'));
      expect(err).toMatchObject({ error: 'invalid_client', status: 401 });
      expect(err.description).toMatch(why);
    });
  }

  it('refuses a client_id parameter that differs from the assertion issuer with invalid_client (401)', async () => {
    const { server } = setup();
    const err = await refusal(server, tokenForm(await assertion(), 'system/*.rs', { client_id: 'patients-only' }));
    expect(err).toMatchObject({ error: 'invalid_client', status: 401 });
  });
});

describe('backend services token endpoint: replay', () => {
  it('accepts an assertion once and refuses it when replayed (invalid_client 401)', async () => {
    const { server } = setup();
    const form = tokenForm(await assertion(), 'system/*.rs');
    expect((await server.token(form)).token_type).toBe('bearer');
    expect(await refusal(server, form)).toMatchObject({ error: 'invalid_client', status: 401 });
  });

  it('refuses a replay after exp but within the clock-skew allowance, as a replay', async () => {
    const { server, advance } = setup();
    const form = tokenForm(await assertion({ lifetimeSeconds: 10 }), 'system/*.rs');
    await server.token(form);
    advance(50_000);
    const err = await refusal(server, form);
    expect(err).toMatchObject({ error: 'invalid_client', status: 401 });
    expect(err.description).toMatch(/already used/);
  });

  it('refuses a newly signed assertion that reuses a jti', async () => {
    const { server } = setup();
    await server.token(tokenForm(await assertion({ jti: 'once' }), 'system/*.rs'));
    const again = await assertion({ jti: 'once', privateKey: ec.privateKey, kid: ec.kid, alg: 'ES384' });
    expect(await refusal(server, tokenForm(again, 'system/*.rs'))).toMatchObject({ error: 'invalid_client', status: 401 });
  });

  it('keeps jtis apart per client', async () => {
    const { server } = setup();
    await server.token(tokenForm(await assertion({ jti: 'shared' }), 'system/*.rs'));
    const other = await server.token(tokenForm(await assertion({ jti: 'shared', clientId: 'patients-only' }), 'system/Patient.rs'));
    expect(other.token_type).toBe('bearer');
  });

  it('does not spend the jti of an assertion whose signature fails', async () => {
    const { server } = setup();
    await refusal(server, tokenForm(await assertion({ jti: 'victim', privateKey: impostor.privateKey }), 'system/*.rs'));
    expect((await server.token(tokenForm(await assertion({ jti: 'victim' }), 'system/*.rs'))).token_type).toBe('bearer');
  });

  it('answers temporarily_unavailable (503) when full of live assertions, and accepts again once they expire', async () => {
    const { server, advance } = setup({ replayCapacity: 2 });
    for (const jti of ['a', 'b']) await server.token(tokenForm(await assertion({ jti, lifetimeSeconds: 60 }), 'system/*.rs'));
    const third = await assertion({ jti: 'c', lifetimeSeconds: 200 });
    expect(await refusal(server, tokenForm(third, 'system/*.rs'))).toMatchObject({ error: 'temporarily_unavailable', status: 503 });
    // a and b are kept until exp + 60 s skew = T0 + 120 s, and never forgotten before.
    advance(120_000);
    expect(await refusal(server, tokenForm(third, 'system/*.rs'))).toMatchObject({ error: 'temporarily_unavailable', status: 503 });
    advance(1000);
    expect((await server.token(tokenForm(third, 'system/*.rs'))).token_type).toBe('bearer');
  });
});

describe('backend services token endpoint: request parameters', () => {
  it('refuses a client_assertion_type other than jwt-bearer with invalid_client (401)', async () => {
    const { server } = setup();
    const form = tokenForm(await assertion(), 'system/*.rs', { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' });
    expect(await refusal(server, form)).toMatchObject({ error: 'invalid_client', status: 401 });
  });

  it('refuses a request without client_assertion with invalid_client (401)', async () => {
    const { server } = setup();
    const form = tokenForm('', 'system/*.rs');
    form.delete('client_assertion');
    expect(await refusal(server, form)).toMatchObject({ error: 'invalid_client', status: 401 });
  });

  it('refuses a request without scope with invalid_request (400)', async () => {
    const { server } = setup();
    const form = tokenForm(await assertion(), '');
    expect(await refusal(server, form)).toMatchObject({ error: 'invalid_request', status: 400 });
    form.delete('scope');
    expect(await refusal(server, form)).toMatchObject({ error: 'invalid_request', status: 400 });
  });

  it('refuses a parameter given twice with invalid_request (400)', async () => {
    const { server } = setup();
    for (const name of ['scope', 'client_assertion', 'grant_type']) {
      const form = tokenForm(await assertion(), 'system/*.rs');
      form.append(name, form.get(name) ?? '');
      expect(await refusal(server, form), name).toMatchObject({ error: 'invalid_request', status: 400 });
    }
  });

  it('refuses a client_secret alongside the assertion with invalid_request (400)', async () => {
    const { server } = setup();
    const form = tokenForm(await assertion(), 'system/*.rs', { client_secret: 'also-this' });
    expect(await refusal(server, form)).toMatchObject({ error: 'invalid_request', status: 400 });
  });

  it('refuses another grant_type with unsupported_grant_type (400), and a missing one with invalid_request', async () => {
    const { server } = setup();
    const form = tokenForm(await assertion(), 'system/*.rs', { grant_type: 'authorization_code' });
    expect(await refusal(server, form)).toMatchObject({ error: 'unsupported_grant_type', status: 400 });
    form.delete('grant_type');
    expect(await refusal(server, form)).toMatchObject({ error: 'invalid_request', status: 400 });
  });
});

describe('backend services token endpoint: scope', () => {
  const GRANTS: { client: string; asks: string; grants: string }[] = [
    { client: 'analytics', asks: 'system/Patient.read', grants: 'system/Patient.rs' },
    { client: 'analytics', asks: 'system/*.read', grants: 'system/*.rs' },
    { client: 'analytics', asks: 'system/Patient.cruds system/Encounter.s', grants: 'system/Encounter.s system/Patient.rs' },
    { client: 'analytics', asks: 'system/Patient.rs patient/*.rs openid launch/patient', grants: 'system/Patient.rs' },
    { client: 'patients-only', asks: 'system/*.rs', grants: 'system/Patient.rs' },
    { client: 'patients-only', asks: 'system/Patient.r system/Encounter.rs', grants: 'system/Patient.r' },
  ];
  for (const { client, asks, grants } of GRANTS) {
    it(`grants ${client} "${grants}" when it asks "${asks}"`, async () => {
      const { server } = setup();
      expect((await server.token(tokenForm(await assertion({ clientId: client }), asks))).scope).toBe(grants);
    });
  }

  const NOTHING: { client: string; asks: string }[] = [
    { client: 'analytics', asks: 'system/Observation.rs' },
    { client: 'analytics', asks: 'patient/*.rs user/*.rs' },
    { client: 'analytics', asks: 'system/*.cud system/Patient.write' },
    { client: 'analytics', asks: 'system/Patient.rs?name=x' },
    { client: 'patients-only', asks: 'system/Encounter.rs' },
  ];
  for (const { client, asks } of NOTHING) {
    it(`refuses ${client} asking only "${asks}" with invalid_scope (400)`, async () => {
      const { server } = setup();
      expect(await refusal(server, tokenForm(await assertion({ clientId: client }), asks))).toMatchObject({ error: 'invalid_scope', status: 400 });
    });
  }
});

describe('backend services access tokens', () => {
  it('opens nothing that is not a live system token of a registered client', async () => {
    const { server, advance, now } = setup();
    const token = String((await server.token(tokenForm(await assertion(), 'system/*.rs'))).access_token);
    expect(server.openAccess('')).toBeUndefined();
    expect(server.openAccess('v1.garbage')).toBeUndefined();
    // A SMART app's access token, sealed with the same key, is another kind.
    expect(server.openAccess(createSealer(SECRET, now).seal('access', { cid: 'analytics', scope: 'system/*.rs', pracs: ['1001'] }, 300))).toBeUndefined();
    // A client removed from the configuration loses its tokens.
    const { server: without } = setup({ clients: clients().filter((c) => c.clientId !== 'analytics') });
    expect(without.openAccess(token)).toBeUndefined();
    expect(server.openAccess(token)).toBeDefined();
    advance(300_000);
    expect(server.openAccess(token)).toBeUndefined();
  });

  it('refuses at start-up an inline key set holding private key material, or a key without kid', () => {
    const make = (keys: Record<string, unknown>[]) => () => setup({ clients: [{ clientId: 'c', jwks: { keys }, scope: 'system/*.rs', practices: ['1001'] }] });
    expect(make([{ ...rsa.publicJwk, d: 'secret' }])).toThrow(/private key material/);
    expect(make([{ ...rsa.publicJwk, kid: undefined }])).toThrow(/no kid/);
    expect(make([rsa.publicJwk, { ...ec.publicJwk, kid: rsa.kid }])).toThrow(/used twice/);
  });
});

describe('backend services discovery', () => {
  it('advertises private_key_jwt with RS384 and ES384, client_credentials and system read/search scopes', () => {
    expect(backendDiscovery(['Patient', 'Encounter'])).toEqual({
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: ['client_credentials'],
      scopes_supported: ['system/*.rs', 'system/Patient.rs', 'system/Encounter.rs'],
      capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'],
    });
  });
});
