/**
 * Refresh tokens the service issued before rotation existed: with a sign-in (`sid`) but no id
 * of their own (`rjti`), or — older still — with neither. Each is good for one use, like any
 * refresh token: its first use renews the session (and starts a family the next tokens belong
 * to); presenting it again is a replay, refused before Nextech is asked, and it revokes the
 * session it started. Before, such a token restarted its family at every use and could be
 * replayed without limit.
 *
 * The old tokens are made as the old code made them: the app's own refresh token, opened with
 * SMART_KEY and sealed again without the newer fields. The sandbox is told to accept the Nextech
 * refresh token inside once more before each replay — a Nextech whose refresh tokens stay valid —
 * so that only the facade's own single-use check can refuse it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSealer } from '../src/auth/smart/sealer.ts';
import type { RefreshClaims } from '../src/auth/smart/claims.ts';
import { APP, launch, SMART_ENV, tokenCall, type TokenResponse } from './helpers/smart.ts';
import { startTestService, type TestService } from './helpers/service.ts';

const SMART_KEY = randomBytes(32).toString('base64url');
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ ...SMART_ENV, SMART_KEY });
});
afterAll(() => svc.close());

const sealer = createSealer(SMART_KEY);

/**
 * The app's refresh token sealed again as the code before rotation (or before sign-ins) sealed
 * it: without `rjti`, and with a sign-in no family was ever recorded for — or without `sid` too.
 */
function asBefore(refreshToken: string, drop: readonly ('rjti' | 'sid')[]): { token: string; nrt: string } {
  const claims = sealer.open<RefreshClaims & { exp: number }>('refresh', refreshToken);
  if (!claims) throw new Error('the refresh token does not open with SMART_KEY');
  const { exp, ...rest } = claims;
  const old: Record<string, unknown> = { ...rest, sid: randomUUID() };
  for (const field of drop) delete old[field];
  return { token: sealer.seal('refresh', old, exp - Math.floor(Date.now() / 1000)), nrt: claims.nrt };
}

const refresh = (token: string) => tokenCall(svc, { grant_type: 'refresh_token', refresh_token: token, client_id: APP.clientId });
const read = async (patient: string | undefined, token: string) =>
  (await fetch(`${svc.fhir}/Patient/${patient ?? ''}`, { headers: { authorization: `Bearer ${token}` } })).status;

describe.each([
  ['from before rotation (a sign-in, no id of its own)', ['rjti'] as const],
  ['from before sign-ins were named (neither)', ['rjti', 'sid'] as const],
])('a refresh token %s', (_name, drop) => {
  it('renews the session once; presented again it is a replay, refused without asking Nextech, that revokes what its first use started', async () => {
    const { token: signedIn } = await launch(svc, 'launch/patient patient/*.rs offline_access');
    const old = asBefore(signedIn.refresh_token ?? '', drop);

    const first = await refresh(old.token);
    expect(first.status).toBe(200);
    const renewed = (await first.json()) as TokenResponse;
    expect(await read(renewed.patient, renewed.access_token)).toBe(200);

    // A Nextech that would renew with the same refresh token again.
    svc.sandbox.acceptRefreshToken(old.nrt);
    const asked = svc.sandbox.tokenRequests.length;
    const replay = await refresh(old.token);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toEqual({ error: 'invalid_grant', error_description: 'this refresh token was already used; the session is revoked, log in again' });
    expect(svc.sandbox.tokenRequests.length).toBe(asked);

    // The session its first use renewed is revoked: its access and refresh tokens stop working.
    expect(await read(renewed.patient, renewed.access_token)).toBe(401);
    expect((await refresh(renewed.refresh_token ?? '')).status).toBe(400);
  });
});
