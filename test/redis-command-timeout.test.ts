/**
 * REDIS_COMMAND_TIMEOUT_MS: how long the service waits for Redis before it counts as
 * unavailable — and so how long a stall may last before the decisions only Redis makes (a
 * SMART code, a refresh token) are answered 503. With the fixed 250 ms before (its decision
 * deadline half of that), a Redis that stalled for a second — a failover, a fork for a snapshot
 * on a big instance — made every token request in that second a 503. With the timeout raised,
 * the same stall only makes them slower.
 *
 * The stall is real: redis-server's own CLIENT PAUSE holds every command for a second.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RealRedis } from './helpers/real-servers.ts';
import { startTestService, type TestService } from './helpers/service.ts';
import { APP, signIn, SMART_ENV, tokenCall, type TokenResponse } from './helpers/smart.ts';

/** How long Redis holds every command: four times the old timeout. */
const STALL_MS = 1_000;

let redis: RealRedis;
let admin: Redis;
let svc: TestService;
beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  svc = await startTestService({
    ...SMART_ENV,
    REDIS_URL: redis.url,
    SHARED_STATE_KEY: randomBytes(32).toString('base64url'),
    REDIS_COMMAND_TIMEOUT_MS: String(STALL_MS * 4),
  });
  // Connected: readiness no longer says the shared state is degraded.
  for (let tries = 0; ; tries++) {
    const body = (await (await fetch(`${svc.origin}/readyz`)).json()) as { degraded?: string[] };
    if (body.degraded === undefined) break;
    if (tries > 400) throw new Error('the service did not connect to Redis');
    await new Promise((r) => setTimeout(r, 50));
  }
});
afterAll(async () => {
  admin?.disconnect();
  await svc?.close();
  await redis?.close();
});

/** Holds every Redis command for STALL_MS from now. */
const stall = () => admin.call('CLIENT', 'PAUSE', String(STALL_MS), 'ALL');

describe('a Redis that stalls longer than 250 ms, with REDIS_COMMAND_TIMEOUT_MS above the stall', () => {
  it('redeems a code and renews with a refresh token during the stall instead of answering 503', async () => {
    const { verifier, response } = await signIn(svc, 'user/*.rs offline_access');
    expect(response.status).toBe(302);
    const code = new URL(response.headers.get('location') ?? '').searchParams.get('code') ?? '';

    await stall();
    const redeemed = await tokenCall(svc, { grant_type: 'authorization_code', code, redirect_uri: APP.redirectUri, client_id: APP.clientId, code_verifier: verifier });
    expect(redeemed.status).toBe(200);
    const token = (await redeemed.json()) as TokenResponse;

    await stall();
    const renewed = await tokenCall(svc, { grant_type: 'refresh_token', refresh_token: token.refresh_token ?? '', client_id: APP.clientId });
    expect(renewed.status).toBe(200);
    // Decided once, in Redis: the code again is refused as used.
    const again = await tokenCall(svc, { grant_type: 'authorization_code', code, redirect_uri: APP.redirectUri, client_id: APP.clientId, code_verifier: verifier });
    expect(await again.json()).toMatchObject({ error: 'invalid_grant', error_description: 'the code was already used' });
  }, 60_000);
});
