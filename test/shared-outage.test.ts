/**
 * Issue 18, item 3: single use means single use. Two replicas share a real redis-server, which
 * goes away — stopped (connections refused) or paused (SIGSTOP: commands hang until the
 * replicas' timeout, and run when it resumes). While it is away, whatever must be single-use or
 * known to every replica — a SMART authorization code, a refresh token's rotation and reuse
 * detection, a Backend Services assertion's `jti` — is refused at both replicas with a retryable
 * OAuth error (503 `temporarily_unavailable`, Retry-After) instead of being decided in one
 * replica's memory (before: one code redeemed at both replicas, 200/200; a replayed refresh
 * token passed reuse detection at the second replica). Reads that need no such decision go on.
 * When Redis is back, nothing decided during the outage contradicts the shared state: the code,
 * the refresh token and the assertion each work exactly once, at either replica, and a replay
 * revokes the sign-in at both.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceProcess } from '../src/dev/soak/service-process.ts';
import { startReplicas, tokenForm, type Replicas } from './helpers/replicas.ts';
import { APP, launch, signIn, tokenCall, type TokenResponse } from './helpers/smart.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let d: Replicas;
beforeAll(async () => {
  d = await startReplicas();
}, 60_000);
afterAll(() => d?.close());

/** A GET's status (0: no answer within 30 s). */
async function status(url: string, token?: string): Promise<number> {
  try {
    const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** An authorization code for the test app, not yet redeemed (no patient picker: user/ scopes). */
async function freshCode(r: ServiceProcess): Promise<Record<string, string>> {
  const { verifier, response } = await signIn(d.svc(r), 'user/*.rs offline_access');
  expect(response.status).toBe(302);
  const code = new URL(response.headers.get('location') ?? '').searchParams.get('code') ?? '';
  expect(code).not.toBe('');
  return { grant_type: 'authorization_code', code, redirect_uri: APP.redirectUri, client_id: APP.clientId, code_verifier: verifier };
}

/** The OAuth error of a token endpoint answer, with its status and Retry-After. */
async function oauthAnswer(res: Response): Promise<{ status: number; error?: string; retryAfter: string | null; body: Record<string, unknown> }> {
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body, ...(typeof body.error === 'string' ? { error: body.error } : {}) };
}

const RETRY_LATER = { status: 503, error: 'temporarily_unavailable', retryAfter: '5' };

/** Waits until both replicas use Redis again (readiness no longer says degraded). */
async function shared(): Promise<void> {
  const until = Date.now() + 20_000;
  for (;;) {
    // An operation on the shared state is what notices Redis is back.
    // (A term not asked before: a cached answer would touch nothing shared.)
    await Promise.all([d.a, d.b].map((r) => status(`${r.origin}/fhir/Patient?name=back${randomUUID().slice(0, 6)}`)));
    const bodies = await Promise.all([d.a, d.b].map(async (r) => (await fetch(`${r.origin}/readyz`)).json() as Promise<{ degraded?: string[] }>));
    if (bodies.every((x) => x.degraded === undefined)) return;
    if (Date.now() > until) throw new Error('shared state did not resume');
    await sleep(200);
  }
}

const OUTAGES: [string, { begin(): Promise<void>; end(): Promise<void> }][] = [
  ['stopped', { begin: () => d.redis.stop(), end: () => d.redis.start() }],
  ['paused', { begin: () => Promise.resolve(d.redis.pause()), end: () => Promise.resolve(d.redis.resume()) }],
];

describe.each(OUTAGES)('two replicas while Redis is %s', (_mode, outage) => {
  it('refuses codes, refresh tokens and assertions at both replicas, keeps serving reads, and decides nothing the shared state contradicts afterwards', async () => {
    const { a, b } = d;
    // Before the outage: a signed-in app (access and refresh token), a Backend Services token, an unused assertion and code.
    const { token: signedIn } = await launch(d.svc(a), 'launch/patient patient/*.rs offline_access');
    const refresh = { grant_type: 'refresh_token', refresh_token: signedIn.refresh_token ?? '' };
    const backend = (await (await d.backendToken(a, tokenForm(await d.assertion(), 'system/Patient.rs'))).json()) as { access_token: string };
    const assertion = tokenForm(await d.assertion(), 'system/Patient.rs');
    const code = await freshCode(a);
    const patientRead = `/fhir/Patient/${signedIn.patient ?? ''}`;

    await outage.begin();
    try {
      for (const r of [a, b]) {
        // The code, at each replica: neither may redeem it alone (before: 200 at both).
        expect(await oauthAnswer(await tokenCall(d.svc(r), code))).toMatchObject(RETRY_LATER);
        // The refresh token, at each replica: a replica alone cannot tell a replay from a first use.
        expect(await oauthAnswer(await tokenCall(d.svc(r), refresh))).toMatchObject(RETRY_LATER);
        // The assertion, at each replica.
        expect(await oauthAnswer(await d.backendToken(r, assertion))).toMatchObject(RETRY_LATER);
      }
      // Reads need no such decision: anonymous, an issued Backend Services token, the app's access token.
      for (const r of [a, b]) {
        expect(await status(`${r.origin}/fhir/Patient?name=smith`)).toBe(200);
        expect(await status(`${r.origin}${patientRead}`, backend.access_token)).toBe(200);
        expect(await status(`${r.origin}${patientRead}`, signedIn.access_token)).toBe(200);
        const ready = (await (await fetch(`${r.origin}/readyz`)).json()) as { degraded?: string[] };
        expect(ready.degraded).toEqual([expect.stringMatching(/^shared-state: Redis unavailable.*refused with 503 until it is back/)]);
      }
    } finally {
      await outage.end();
    }
    await shared();

    // Nothing was decided meanwhile — not even by a paused Redis running the timed-out commands
    // when it resumed: each works once, at either replica, and a second time is refused.
    const redeemed = await tokenCall(d.svc(b), code);
    expect(redeemed.status).toBe(200);
    expect(await oauthAnswer(await tokenCall(d.svc(a), code))).toMatchObject({ status: 400, error: 'invalid_grant', body: { error_description: 'the code was already used' } });

    const renewed = await tokenCall(d.svc(b), refresh);
    expect(renewed.status).toBe(200);
    const next = (await renewed.json()) as TokenResponse;
    expect(await status(`${a.origin}${patientRead}`, next.access_token)).toBe(200);
    // The first refresh token again, at the other replica: a replay, which revokes the sign-in at both.
    expect(await oauthAnswer(await tokenCall(d.svc(a), refresh))).toMatchObject({ status: 400, error: 'invalid_grant' });
    for (const r of [a, b]) {
      expect(await status(`${r.origin}${patientRead}`, next.access_token)).toBe(401);
      expect(await status(`${r.origin}${patientRead}`, signedIn.access_token)).toBe(401);
    }
    expect(await oauthAnswer(await tokenCall(d.svc(b), { grant_type: 'refresh_token', refresh_token: next.refresh_token ?? '' }))).toMatchObject({
      status: 400,
      error: 'invalid_grant',
    });

    expect((await d.backendToken(a, assertion)).status).toBe(200);
    expect(await oauthAnswer(await d.backendToken(b, assertion))).toMatchObject({ status: 401, error: 'invalid_client' });

    // The outage and the recovery are logged as such, without Redis's own words.
    expect(d.lines.some((l) => l.includes('"sharedState":"degraded"'))).toBe(true);
    expect(d.lines.some((l) => l.includes(d.redis.url))).toBe(false);
  }, 90_000);
});
