/**
 * Issue 18, item 8 (single-use memories): each registered client's single-use values — Backend
 * Services assertion `jti`s, SMART authorization codes — fill only that client's share of the
 * memory of them (SINGLE_USE_PER_CLIENT), here in one process without Redis. Before, the whole
 * `backend-jti` memory was one bound: a registered Backend client minting ~100k assertions in
 * five minutes filled it, and every Backend client got 503 for minutes. The share is set low
 * here (the default is 10 000) so the flood is a few dozen requests, not 100k signatures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientKeyPair, signAssertion, tokenForm, type ClientKeyPair } from './helpers/backend.ts';
import { fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { APP, signIn, tokenCall } from './helpers/smart.ts';

const SHARE = 12;
const BACKEND = ['flood', 'other'] as const;
const APPS = ['flood-app', APP.clientId] as const;

let svc: TestService;
const keys = new Map<string, ClientKeyPair>();

beforeAll(async () => {
  for (const id of BACKEND) keys.set(id, await clientKeyPair('ES384', `${id}-key`));
  svc = await startTestService({
    SMART_CLIENTS: JSON.stringify(APPS.map((id) => ({ client_id: id, redirect_uris: [APP.redirectUri] }))),
    BACKEND_CLIENTS: JSON.stringify(BACKEND.map((id) => ({ client_id: id, jwks: keys.get(id)?.jwks, practices: ['1001'], scope: 'system/Patient.rs' }))),
    SINGLE_USE_PER_CLIENT: String(SHARE),
  });
});
afterAll(() => svc.close());

interface Answer {
  status: number;
  error?: string;
  retryAfter: string | null;
  access_token?: string;
}

async function answer(res: Response): Promise<Answer> {
  const body = (await res.json()) as { error?: string; access_token?: string };
  return { status: res.status, retryAfter: res.headers.get('retry-after'), ...body };
}

/** A token request of a Backend Services client, with a fresh assertion. */
async function backendToken(clientId: (typeof BACKEND)[number]): Promise<Answer> {
  const pair = keys.get(clientId);
  if (!pair) throw new Error(clientId);
  const assertion = await signAssertion({ clientId, tokenEndpoint: `${svc.origin}/auth/token`, privateKey: pair.privateKey, kid: pair.kid, alg: 'ES384' });
  return answer(await fetch(`${svc.origin}/auth/token`, { method: 'POST', body: tokenForm(assertion, 'system/Patient.rs') }));
}

/** A SMART app's sign-in and the redemption of its code. */
async function redeemCode(clientId: (typeof APPS)[number]): Promise<Answer> {
  const { verifier, response } = await signIn(svc, 'user/Patient.rs', { clientId });
  const code = new URL(response.headers.get('location') ?? '').searchParams.get('code') ?? '';
  return answer(await tokenCall(svc, { grant_type: 'authorization_code', code, redirect_uri: APP.redirectUri, client_id: clientId, code_verifier: verifier }));
}

const FULL = { status: 503, error: 'temporarily_unavailable', retryAfter: '5' };

describe('single-use memories, one share per client', () => {
  it('refuses a Backend Services client minting assertions beyond its share, while another client keeps getting tokens', async () => {
    const flood: Answer[] = [];
    for (let i = 0; i < SHARE + 5; i++) flood.push(await backendToken('flood'));
    expect(flood.slice(0, SHARE).map((a) => a.status)).toEqual(Array<number>(SHARE).fill(200));
    for (const refused of flood.slice(SHARE)) expect(refused).toMatchObject(FULL);
    // The other client has its whole share, as if nothing had happened.
    for (let i = 0; i < SHARE; i++) expect((await backendToken('other')).status).toBe(200);
    // The flooding client's tokens already issued still read.
    const read = await fhirFetch(`${svc.fhir}/Patient?name=smith`, { headers: { authorization: `Bearer ${flood[0]?.access_token ?? ''}` } });
    expect(read.status).toBe(200);
  }, 60_000);

  it('refuses a SMART app redeeming codes beyond its share, while another app keeps redeeming', async () => {
    const flood: Answer[] = [];
    for (let i = 0; i < SHARE + 2; i++) flood.push(await redeemCode('flood-app'));
    expect(flood.slice(0, SHARE).map((a) => a.status)).toEqual(Array<number>(SHARE).fill(200));
    for (const refused of flood.slice(SHARE)) expect(refused).toMatchObject(FULL);
    expect((await redeemCode(APP.clientId)).status).toBe(200);
  }, 60_000);
});
