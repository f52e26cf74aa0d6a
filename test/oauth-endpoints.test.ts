/**
 * The authorization server's endpoints as clients meet them: refresh the way fhirclient
 * does it (no client_id for a public client), OpenID Connect id_tokens checked against the
 * published keys, RFC 7662 introspection, the picker's Cancel and reloads, and OAuth error
 * JSON — never a 500 or an OperationOutcome — for every bad input, oversized bodies included.
 */
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientKeyPair, signAssertion, tokenForm } from './helpers/backend.ts';
import { expectOutcome, startTestService, type TestService } from './helpers/service.ts';
import { APP, launch, pick, signIn, tokenCall, txnOf } from './helpers/smart.ts';

const CONFIDENTIAL = { clientId: 'conf-app', secret: 'a-confidential-secret-0123' };
let svc: TestService;
let backendToken: string;

beforeAll(async () => {
  const keys = await clientKeyPair('RS384');
  svc = await startTestService({
    SMART_CLIENTS: JSON.stringify([
      { client_id: APP.clientId, redirect_uris: [APP.redirectUri], name: 'Test app' },
      { client_id: CONFIDENTIAL.clientId, client_secret: CONFIDENTIAL.secret, redirect_uris: [APP.redirectUri] },
    ]),
    BACKEND_CLIENTS: JSON.stringify([{ client_id: 'hie', jwks: keys.jwks, practices: ['1001'] }]),
  });
  const assertion = await signAssertion({ clientId: 'hie', tokenEndpoint: `${svc.origin}/auth/token`, privateKey: keys.privateKey, kid: keys.kid, alg: 'RS384' });
  backendToken = ((await (await fetch(`${svc.origin}/auth/token`, { method: 'POST', body: tokenForm(assertion, 'system/*.rs') })).json()) as { access_token: string }).access_token;
});
afterAll(() => svc.close());

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

async function post(path: string, body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.origin}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
    ...(typeof body === 'string' ? {} : { duplex: 'half' }),
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as Record<string, unknown> };
}

/** A body sent in chunks with no Content-Length: `total` bytes of `x=aaaa…`. */
function chunked(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const chunk = new Uint8Array(16 * 1024).fill(0x61);
      if (sent === 0) chunk.set(new TextEncoder().encode('x='));
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
}

describe('refresh', () => {
  it('works for a public client without client_id, as fhirclient sends it', async () => {
    const { token } = await launch(svc, 'launch/patient patient/*.rs offline_access');
    const res = await tokenCall(svc, { grant_type: 'refresh_token', refresh_token: token.refresh_token ?? '' });
    expect(res.status).toBe(200);
    const next = (await res.json()) as { access_token: string; patient: string; scope: string };
    expect(next.patient).toBe(token.patient);
    expect(next.scope).toBe(token.scope);
  });

  it('lets each refresh token be used once: an old one used again revokes the whole sign-in', async () => {
    const { token } = await launch(svc, 'launch/patient patient/*.rs offline_access');
    const first = token.refresh_token ?? '';
    const next = (await (await tokenCall(svc, { grant_type: 'refresh_token', refresh_token: first })).json()) as { access_token: string; refresh_token: string };
    const replay = await tokenCall(svc, { grant_type: 'refresh_token', refresh_token: first });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');
    // The thief and the app are told apart by nobody: both lose the session.
    expect((await tokenCall(svc, { grant_type: 'refresh_token', refresh_token: next.refresh_token })).status).toBe(400);
    await expectOutcome(`${svc.fhir}/Patient/${token.patient}`, 401, { headers: { authorization: `Bearer ${next.access_token}` } });
  });

  it('needs a confidential client to authenticate, and refuses another client\'s refresh token', async () => {
    const { token } = await launch(svc, 'launch/patient patient/*.rs offline_access');
    const other = await tokenCall(svc, { grant_type: 'refresh_token', refresh_token: token.refresh_token ?? '', client_id: CONFIDENTIAL.clientId, client_secret: CONFIDENTIAL.secret });
    expect(other.status).toBe(400);
    expect(((await other.json()) as { error: string }).error).toBe('invalid_grant');
  });
});

describe('OpenID Connect', () => {
  it('issues an RS256 id_token that verifies against the published keys, and never grants fhirUser', async () => {
    const { token } = await launch(svc, 'launch/patient patient/*.rs openid fhirUser', { extra: { nonce: 'n-0S6_WzA2Mj' } });
    expect(token.scope.split(' ')).toContain('openid');
    expect(token.scope.split(' ')).not.toContain('fhirUser');
    const conf = (await (await fetch(`${svc.fhir}/.well-known/smart-configuration`)).json()) as { issuer: string; jwks_uri: string; capabilities: string[] };
    expect(conf.capabilities).toContain('sso-openid-connect');
    const oidc = (await (await fetch(`${conf.issuer}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
    expect(oidc).toMatchObject({ issuer: conf.issuer, jwks_uri: conf.jwks_uri });
    const { payload, protectedHeader } = await jwtVerify(token.id_token ?? '', createRemoteJWKSet(new URL(conf.jwks_uri)), {
      issuer: conf.issuer,
      audience: APP.clientId,
    });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.nonce).toBe('n-0S6_WzA2Mj');
    expect(payload.fhirUser).toBeUndefined();
    expect(typeof payload.sub).toBe('string');
  });
});

describe('introspection', () => {
  it('describes a live SMART token to a caller holding one, with the fields SMART requires', async () => {
    const { token } = await launch(svc, 'launch/patient patient/*.rs openid');
    const res = await post('/auth/introspect', form({ token: token.access_token }), { authorization: `Bearer ${token.access_token}` });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ active: true, scope: token.scope, client_id: APP.clientId, patient: token.patient });
    expect(res.body.exp).toBeGreaterThan(Date.now() / 1000);
    expect(res.body.sub).toBe(decodeJwt(token.id_token ?? '').sub);
    expect(res.body.iss).toBe(`${svc.origin}/auth`);
  });

  it('answers active:false for tokens that are not live, and introspects Backend Services tokens', async () => {
    const asHie = { authorization: `Bearer ${backendToken}` };
    expect((await post('/auth/introspect', form({ token: 'v1.AAAA' }), asHie)).body).toEqual({ active: false });
    expect((await post('/auth/introspect', form({ token: `${backendToken.slice(0, -2)}AA` }), asHie)).body).toEqual({ active: false });
    const self = await post('/auth/introspect', form({ token: backendToken }), { authorization: basic(CONFIDENTIAL.clientId, CONFIDENTIAL.secret) });
    expect(self.body).toMatchObject({ active: true, client_id: 'hie', scope: 'system/*.rs' });
  });

  it('refuses callers with no credentials, a public client id, or a token that is not ours', async () => {
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer made-up' }, { authorization: basic(CONFIDENTIAL.clientId, 'wrong-secret-000000') }];
    for (const headers of attempts) {
      const res = await post('/auth/introspect', form({ token: backendToken }), headers);
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_client');
    }
    const publicClient = await post('/auth/introspect', form({ token: backendToken, client_id: APP.clientId }));
    expect(publicClient.status).toBe(401);
  });
});

describe('the patient picker', () => {
  it('lets the browser follow its forms to the app (CSP form-action) and says in plain words what the app asks for', async () => {
    const { response } = await signIn(svc, 'launch/patient patient/*.rs offline_access');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain(`form-action 'self' ${new URL(APP.redirectUri).origin}`);
    const html = await response.text();
    expect(html).toContain('Test app');
    expect(html).toContain('Read patient details, visits and visit documents (CCDs) of the one patient you choose below.');
    expect(html).toContain('It can only read: nothing in Nextech is changed.');
    expect(html).toContain('Keep this access after you close it');
    expect(html).toMatch(/<button[^>]*value="cancel"[^>]*>Cancel<\/button>/);
    expect(html).toContain('name="viewport"');
  });

  it('sends access_denied to the app on Cancel, and says the request is finished when the page is used again', async () => {
    const { callbackUrl, response, cookie } = await signIn(svc, 'launch/patient patient/*.rs');
    const txn = txnOf(await response.text());
    const cancelled = await pick(svc, { txn, action: 'cancel' }, cookie);
    expect(cancelled.status).toBe(302);
    const back = new URL(cancelled.headers.get('location') ?? '');
    expect(`${back.origin}${back.pathname}`).toBe(APP.redirectUri);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('app-state');
    for (const again of [await pick(svc, { txn, action: 'choose', patient: 'x' }, cookie), await fetch(callbackUrl, { redirect: 'manual', headers: { cookie } })]) {
      expect(again.status).toBe(200);
      expect(await again.text()).toContain('You cancelled this request from Test app. It received no access.');
    }
  });

  it('shows the same picker when the callback is reloaded, and says access was given once a patient is chosen', async () => {
    const { callbackUrl, response, cookie } = await signIn(svc, 'launch/patient patient/*.rs');
    const txn = txnOf(await response.text());
    const reloaded = await fetch(callbackUrl, { redirect: 'manual', headers: { cookie } });
    expect(reloaded.status).toBe(200);
    expect(txnOf(await reloaded.text())).toBe(txn);
    const results = await (await pick(svc, { txn, q: 'smith', action: 'search' }, cookie)).text();
    const patient = /name="patient" value="([^"]+)"/.exec(results)?.[1] ?? '';
    expect((await pick(svc, { txn, action: 'choose', patient }, cookie)).status).toBe(302);
    const after = await fetch(callbackUrl, { redirect: 'manual', headers: { cookie } });
    expect(await after.text()).toContain('You already chose a patient for Test app, and it received its access.');
  });

  it('refuses a patient that is not one of the search results\' kind (an altered id) without issuing a code', async () => {
    const { response, cookie } = await signIn(svc, 'launch/patient patient/*.rs');
    const txn = txnOf(await response.text());
    const res = await pick(svc, { txn, action: 'choose', patient: '10002-E10050' }, cookie);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  it('serves the callback and the picker only to the browser that started the login: a leaked state or txn is useless', async () => {
    const { callbackUrl, response, cookie } = await signIn(svc, 'launch/patient patient/*.rs');
    const txn = txnOf(await response.text());
    const state = new URL(callbackUrl).searchParams.get('state') ?? '';
    const stranger = 'nxf_login=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const attempts = [
      await fetch(`${svc.origin}/auth/callback?state=${encodeURIComponent(state)}`, { redirect: 'manual' }),
      await fetch(`${svc.origin}/auth/callback?state=${encodeURIComponent(state)}`, { redirect: 'manual', headers: { cookie: stranger } }),
      await fetch(callbackUrl, { redirect: 'manual' }),
      await pick(svc, { txn, q: 'smith', action: 'search' }),
      await pick(svc, { txn, q: 'smith', action: 'search' }, stranger),
      await pick(svc, { txn, action: 'cancel' }, stranger),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      const html = await res.text();
      expect(html).toContain('started in another browser');
      expect(html).not.toContain('name="txn"');
      expect(html).not.toMatch(/Smith/);
    }
    // The right browser still can.
    expect((await pick(svc, { txn, q: 'smith', action: 'search' }, cookie)).status).toBe(200);
  });

  it('answers an oversized or chunked form with 413 before reading it whole', async () => {
    const big = await fetch(`${svc.origin}/auth/pick`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: chunked(5 * 1024 * 1024), duplex: 'half' });
    expect(big.status).toBe(413);
    expect(big.headers.get('content-type')).toContain('text/html');
  });
});

describe('OAuth errors', () => {
  const cases: Array<{ name: string; body: string; headers?: Record<string, string>; status: number; error: string }> = [
    { name: 'Basic credentials with bad percent-encoding', body: form({ grant_type: 'refresh_token', refresh_token: 'x' }), headers: { authorization: basic('%E0%A4%A', 'x') }, status: 401, error: 'invalid_client' },
    { name: 'Basic credentials without a colon', body: form({ grant_type: 'refresh_token', refresh_token: 'x' }), headers: { authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` }, status: 401, error: 'invalid_client' },
    { name: 'Basic credentials that are not base64', body: form({ grant_type: 'refresh_token', refresh_token: 'x' }), headers: { authorization: 'Basic ***' }, status: 401, error: 'invalid_client' },
    { name: 'a wrong client secret', body: form({ grant_type: 'refresh_token', refresh_token: 'x' }), headers: { authorization: basic(CONFIDENTIAL.clientId, 'nope-nope-nope-nope') }, status: 401, error: 'invalid_client' },
    { name: 'an unknown client', body: form({ grant_type: 'authorization_code', code: 'x', client_id: 'nobody' }), status: 401, error: 'invalid_client' },
    { name: 'no grant_type', body: form({ code: 'x' }), status: 400, error: 'invalid_request' },
    { name: 'a repeated grant_type', body: 'grant_type=refresh_token&grant_type=refresh_token&refresh_token=x', status: 400, error: 'invalid_request' },
    { name: 'an unknown grant_type', body: form({ grant_type: 'password', client_id: APP.clientId }), status: 400, error: 'unsupported_grant_type' },
    { name: 'a JSON body', body: '{"grant_type":"refresh_token"}', headers: { 'content-type': 'application/json' }, status: 400, error: 'invalid_request' },
    { name: 'a code with no client', body: form({ grant_type: 'authorization_code', code: 'x' }), status: 401, error: 'invalid_client' },
    { name: 'a garbage refresh token', body: form({ grant_type: 'refresh_token', refresh_token: '\u0000\uffff' }), status: 400, error: 'invalid_grant' },
    { name: 'client_credentials with a client secret', body: form({ grant_type: 'client_credentials', client_id: 'hie', client_secret: 'x', scope: 'system/*.rs' }), status: 400, error: 'invalid_request' },
    { name: 'a body over 64 KiB', body: `grant_type=refresh_token&refresh_token=${'a'.repeat(70_000)}`, status: 413, error: 'invalid_request' },
  ];
  for (const c of cases) {
    it(`answers ${c.name} with ${c.status} ${c.error} as OAuth JSON`, async () => {
      const res = await post('/auth/token', c.body, c.headers);
      expect(res.status).toBe(c.status);
      expect(res.type).toContain('application/json');
      expect(res.body.error).toBe(c.error);
    });
  }

  it('answers a chunked body of megabytes with 413 as OAuth JSON', async () => {
    const res = await post('/auth/token', chunked(8 * 1024 * 1024));
    expect(res.status).toBe(413);
    expect(res.body.error).toBe('invalid_request');
  });

  it('answers 300 random requests with OAuth JSON errors and never a 500', async () => {
    const pickOne = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;
    const noise = () => Array.from({ length: Math.floor(Math.random() * 40) }, () => String.fromCharCode(Math.floor(Math.random() * 0x3000))).join('');
    for (let i = 0; i < 300; i++) {
      const fields = ['grant_type', 'code', 'refresh_token', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'scope', 'redirect_uri', 'code_verifier', 'token'];
      const body = Array.from({ length: 1 + Math.floor(Math.random() * 5) }, () => `${encodeURIComponent(pickOne(fields))}=${encodeURIComponent(pickOne(['refresh_token', 'authorization_code', 'client_credentials', noise()]))}`).join('&');
      const headers = pickOne<Record<string, string>>([{}, { authorization: `Basic ${Buffer.from(noise()).toString('base64')}` }, { authorization: `Bearer ${encodeURIComponent(noise())}` }]);
      const res = await post(pickOne(['/auth/token', '/auth/introspect']), body, headers);
      expect(res.status, body).toBeGreaterThanOrEqual(400);
      expect(res.status, body).toBeLessThan(500);
      expect(typeof res.body.error).toBe('string');
    }
  });
});

describe('FHIR bodies', () => {
  it('answers a chunked POST _search of megabytes with 413 OperationOutcome', async () => {
    const { issue } = await expectOutcome(`${svc.fhir}/Patient/_search`, 413, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: chunked(8 * 1024 * 1024),
      duplex: 'half',
    });
    expect(issue.code).toBe('too-costly');
  });
});
