/**
 * The doors, tried as an attacker would: every FHIR request passes exactly one door, a
 * credential that does not verify is a 401 (never served by another door), and nothing
 * that fails a door reaches Nextech. Each door's token is tried at the others, in other
 * letter cases and with prefixes, expired, and for another practice.
 */
import type { Bundle } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientKeyPair, signAssertion, tokenForm, unsignedAssertion, type ClientKeyPair } from './helpers/backend.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { launch, SMART_ENV, tokenCall } from './helpers/smart.ts';

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const auth = (value: string) => ({ headers: { authorization: value } });

/** The service's clock, moved by the expiry tests. */
let clock = Date.now();
let svc: TestService;
let keys: ClientKeyPair;

async function systemToken(s: TestService, scope = 'system/*.rs', extra: { jti?: string; aud?: string } = {}): Promise<Response> {
  const assertion = await signAssertion({
    clientId: 'hie',
    tokenEndpoint: extra.aud ?? `${s.origin}/auth/token`,
    privateKey: keys.privateKey,
    kid: keys.kid,
    alg: keys.alg,
    nowMs: clock,
    ...(extra.jti ? { jti: extra.jti } : {}),
  });
  return fetch(`${s.origin}/auth/token`, { method: 'POST', body: tokenForm(assertion, scope) });
}

beforeAll(async () => {
  keys = await clientKeyPair('ES384');
  svc = await startTestService(
    {
      ...SMART_ENV,
      BACKEND_CLIENTS: JSON.stringify([{ client_id: 'hie', jwks: keys.jwks, practices: ['1001'], scope: 'system/Patient.rs system/Encounter.rs' }]),
    },
    { now: () => clock },
  );
});
afterAll(() => svc.close());

describe('the SMART door', () => {
  it('refuses every altered, re-cased or re-prefixed form of a valid token with 401 and no upstream call', async () => {
    const { token } = await launch(svc, 'launch/patient patient/*.rs');
    const t = token.access_token;
    const flip = (s: string, i: number) => `${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
    const variants = [
      `V1.${t.slice(3)}`,
      `v2.${t.slice(3)}`,
      `x${t}`,
      `${t}A`,
      t.slice(0, -1),
      flip(t, 10),
      flip(t, t.length - 5),
      t.toUpperCase(),
      'v1.AAAA',
      'v1.',
      'not-a-token-of-ours',
    ];
    svc.sandbox.resetCalls();
    for (const v of variants) {
      const { headers, issue } = await expectOutcome(`${svc.fhir}/Patient/${token.patient}`, 401, bearer(v));
      expect(issue.code).toBe('login');
      expect(headers.get('www-authenticate')).toMatch(/^Bearer realm="fhir", error="invalid_token"/);
    }
    expect(svc.sandbox.calls).toHaveLength(0);
    // The scheme's letter case is free (RFC 7235), the token's is not.
    expect((await fhirFetch(`${svc.fhir}/Patient/${token.patient}`, auth(`bearer ${t}`))).status).toBe(200);
  });

  it('refuses malformed Authorization headers and other schemes with 401, never anonymously', async () => {
    svc.sandbox.resetCalls();
    for (const value of ['Bearer', 'Bearer ', 'Basic ZGVtbzpkZW1v', 'Token abc', 'Bearer a b', 'Bearer\u00e9', '']) {
      const { issue } = await expectOutcome(`${svc.fhir}/Patient?family=smith`, 401, auth(value));
      expect(issue.code).toBe('login');
    }
    expect(svc.sandbox.calls).toHaveLength(0);
  });

  it('refuses a refresh token, a code or a Nextech token in place of an access token', async () => {
    const { token, code } = await launch(svc, 'launch/patient patient/*.rs offline_access');
    const nextech = svc.sandbox.issueTokens().accessToken;
    svc.sandbox.resetCalls();
    for (const wrong of [token.refresh_token ?? '', code, nextech]) {
      await expectOutcome(`${svc.fhir}/Patient/${token.patient}`, 401, bearer(wrong));
    }
    expect(svc.sandbox.calls).toHaveLength(0);
    // …and an access token where a refresh token belongs.
    const swapped = await tokenCall(svc, { grant_type: 'refresh_token', refresh_token: token.access_token });
    expect(swapped.status).toBe(400);
    expect(((await swapped.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('refuses an expired token, and a token of another practice', async () => {
    const { token } = await launch(svc, 'user/*.rs');
    await expectOutcome(`${svc.origin}/practices/1002/fhir/Patient?family=smith`, 403, bearer(token.access_token));
    const saved = clock;
    clock += (token.expires_in + 1) * 1000;
    try {
      await expectOutcome(`${svc.fhir}/Patient?family=smith`, 401, bearer(token.access_token));
    } finally {
      clock = saved;
    }
  });

  it('sends Nextech the user\'s own token, not the service\'s, even in managed mode', async () => {
    const { token } = await launch(svc, 'user/*.rs');
    svc.sandbox.resetCalls();
    await fhirFetch(`${svc.fhir}/Patient?family=smith`, bearer(token.access_token));
    await fhirFetch(`${svc.fhir}/Patient?family=smith`);
    const [user, service] = svc.sandbox.calls;
    expect(user?.credential).toBeTruthy();
    expect(user?.credential).not.toBe(service?.credential);
  });
});

describe('the Backend Services door', () => {
  it('issues a system token for a signed assertion and serves the scopes it grants, for its practices only', async () => {
    const res = await systemToken(svc);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; scope: string; expires_in: number; token_type: string };
    expect(body.scope).toBe('system/Encounter.rs system/Patient.rs');
    expect(body.token_type.toLowerCase()).toBe('bearer');
    expect(body.expires_in).toBe(300);
    const patients = await fhirFetch<Bundle>(`${svc.fhir}/Patient?family=smith`, bearer(body.access_token));
    expect(patients.status).toBe(200);
    expect(patients.body.total).toBeGreaterThan(1);
    await expectOutcome(`${svc.fhir}/DocumentReference?patient=x`, 403, bearer(body.access_token));
    await expectOutcome(`${svc.origin}/practices/1002/fhir/Patient?family=smith`, 403, bearer(body.access_token));
  });

  it('refuses replayed, mis-addressed and unsigned assertions', async () => {
    const jti = `once-${Date.now()}`;
    expect((await systemToken(svc, 'system/*.rs', { jti })).status).toBe(200);
    const replay = await systemToken(svc, 'system/*.rs', { jti });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_client');
    const elsewhere = await systemToken(svc, 'system/*.rs', { aud: 'https://other.example/auth/token' });
    expect(elsewhere.status).toBe(401);
    const none = unsignedAssertion({ kid: keys.kid, typ: 'JWT' }, { iss: 'hie', sub: 'hie', aud: `${svc.origin}/auth/token`, exp: Math.floor(clock / 1000) + 60, jti: 'x1' });
    const unsigned = await fetch(`${svc.origin}/auth/token`, { method: 'POST', body: tokenForm(none, 'system/*.rs') });
    expect(unsigned.status).toBe(401);
  });

  it('refuses its token after expiry, re-cased, and where only SMART tokens are known', async () => {
    const { access_token: t } = (await (await systemToken(svc)).json()) as { access_token: string };
    svc.sandbox.resetCalls();
    await expectOutcome(`${svc.fhir}/Patient?family=smith`, 401, bearer(`V1.${t.slice(3)}`));
    const saved = clock;
    clock += 301_000;
    try {
      await expectOutcome(`${svc.fhir}/Patient?family=smith`, 401, bearer(t));
    } finally {
      clock = saved;
    }
    const smartOnly = await startTestService(SMART_ENV);
    try {
      await expectOutcome(`${smartOnly.fhir}/Patient?family=smith`, 401, bearer(t));
      expect(smartOnly.sandbox.calls).toHaveLength(0);
    } finally {
      await smartOnly.close();
    }
    expect(svc.sandbox.calls).toHaveLength(0);
  });
});

describe('the anonymous door', () => {
  it('is refused unless enabled, before any upstream call or practice check', async () => {
    const closed = await startTestService({ ANONYMOUS_ACCESS: 'false' });
    try {
      const { headers, issue } = await expectOutcome(`${closed.fhir}/Patient?family=smith`, 401);
      expect(issue.code).toBe('login');
      expect(headers.get('www-authenticate')).toBe('Bearer realm="fhir"');
      await expectOutcome(`${closed.origin}/practices/9999/fhir/Patient/abc`, 401);
      expect(closed.sandbox.calls).toHaveLength(0);
      // Conformance needs no door.
      expect((await fhirFetch(`${closed.fhir}/metadata`)).status).toBe(200);
    } finally {
      await closed.close();
    }
  });

  it('serves requests without a token where it is enabled, and says so in the CapabilityStatement', async () => {
    expect((await fhirFetch(`${svc.fhir}/Patient?family=smith`)).status).toBe(200);
    const { body } = await fhirFetch<{ rest: { security: { description: string } }[] }>(`${svc.fhir}/metadata`);
    expect(body.rest[0]?.security.description).toMatch(/Anonymous access is enabled/);
  });

  it('never serves a request that carries a token it cannot verify', async () => {
    svc.sandbox.resetCalls();
    await expectOutcome(`${svc.fhir}/Patient?family=smith`, 401, bearer('made-up'));
    expect(svc.sandbox.calls).toHaveLength(0);
  });
});

describe('the passthrough door', () => {
  let pt: TestService;
  beforeAll(async () => {
    pt = await startTestService({ NEXTECH_AUTH: 'passthrough', ...SMART_ENV });
  });
  afterAll(() => pt.close());

  it('forwards a Nextech token, which Nextech checks', async () => {
    const good = pt.sandbox.issueTokens().accessToken;
    expect((await fhirFetch(`${pt.fhir}/Patient?family=smith`, bearer(good))).status).toBe(200);
    await expectOutcome(`${pt.fhir}/Patient?family=smith`, 401, bearer('not-a-nextech-token'));
    await expectOutcome(`${pt.fhir}/Patient?family=smith`, 401);
  });

  it('keeps tokens shaped like ours at our door: an altered one is refused without reaching Nextech', async () => {
    const { token } = await launch(pt, 'user/*.rs');
    expect((await fhirFetch(`${pt.fhir}/Patient?family=smith`, bearer(token.access_token))).status).toBe(200);
    pt.sandbox.resetCalls();
    for (const v of [`V1.${token.access_token.slice(3)}`, `${token.access_token.slice(0, -2)}AA`, 'v9.anything']) {
      await expectOutcome(`${pt.fhir}/Patient?family=smith`, 401, bearer(v));
    }
    expect(pt.sandbox.calls).toHaveLength(0);
  });
});
