// Refresh tokens of the SMART server: one use each (rotation with reuse detection), a
// Nextech outage that leaves the app its refresh token, and clients that are gone.
import { describe, expect, it } from 'vitest';
import { OAuthError } from '../../src/auth/oauth-error.ts';
import { RefreshFamilies } from '../../src/auth/smart/refresh-families.ts';
import { MemoryStore } from '../../src/shared/memory-store.ts';
import { createSealer } from '../../src/auth/smart/sealer.ts';
import { SmartServer } from '../../src/auth/smart/server.ts';
import type { EhrSource } from '../../src/source/ehr-source.ts';

const refused = async (f: () => Promise<void>) => {
  try {
    await f();
  } catch (err) {
    return err instanceof OAuthError ? err.error : 'other';
  }
  return 'accepted';
};

describe('RefreshFamilies', () => {
  const now = () => 1_000_000;
  const families = (entries = 10) => new RefreshFamilies(new MemoryStore(now, { entries }), entries, now, 3_600_000);

  it('lets each refresh token be used once and revokes the sign-in when an older one comes back', async () => {
    const f = families();
    const first = { sid: 's1', rjti: await f.issue('s1', 60), exp: 2000 };
    const second = { sid: 's1', rjti: await f.rotate(first, 60), exp: 2000 };
    expect(await refused(() => f.rotate(first, 60).then(() => undefined))).toBe('invalid_grant');
    expect(await f.revoked('s1')).toBe(true);
    expect(f.revokedHere('s1')).toBe(true);
    expect(await refused(() => f.rotate(second, 60).then(() => undefined))).toBe('invalid_grant');
    expect(await f.revoked('s2')).toBe(false);
  });

  it('refuses the same token spent twice, unless it was given back after an outage', async () => {
    const f = families();
    const t = { sid: 's1', rjti: await f.issue('s1', 60), exp: 2000 };
    await f.restore(t, await f.rotate(t, 60));
    expect(await refused(() => f.rotate(t, 60).then(() => undefined))).toBe('accepted');
    expect(await refused(() => f.rotate(t, 60).then(() => undefined))).toBe('invalid_grant');
  });

  it('takes a sign-in it does not remember on trust, and stays within its bound', async () => {
    const f = families(2);
    for (const sid of ['a', 'b', 'c']) await f.issue(sid, 60);
    expect(await refused(() => f.rotate({ sid: 'a', rjti: 'forgotten', exp: 2000 }, 60).then(() => undefined))).toBe('accepted');
  });

  it('spends a token issued before rotation existed (no id of its own) once: its first use starts the family, a second is a replay', async () => {
    const f = families();
    const legacy = { sid: 's1', exp: 2000 };
    const next = { sid: 's1', rjti: await f.rotate(legacy, 60), exp: 2000 };
    // Before: each use of it started the family anew, without limit.
    expect(await refused(() => f.rotate(legacy, 60).then(() => undefined))).toBe('invalid_grant');
    expect(await f.revoked('s1')).toBe(true);
    expect(await refused(() => f.rotate(next, 60).then(() => undefined))).toBe('invalid_grant');
  });

  it('gives a token from before rotation back for a retry after a failed renewal, once', async () => {
    const f = families();
    const legacy = { sid: 's1', exp: 2000 };
    await f.restore(legacy, await f.rotate(legacy, 60));
    expect(await refused(() => f.rotate(legacy, 60).then(() => undefined))).toBe('accepted');
    expect(await refused(() => f.rotate(legacy, 60).then(() => undefined))).toBe('invalid_grant');
  });

  it('shares what it knows through the store: a replay at another replica revokes the sign-in on both', async () => {
    const store = new MemoryStore(now);
    const [a, b] = [new RefreshFamilies(store, 10, now, 3_600_000), new RefreshFamilies(store, 10, now, 3_600_000)];
    const first = { sid: 's1', rjti: await a.issue('s1', 60), exp: 2000 };
    await a.rotate(first, 60);
    expect(await refused(() => b.rotate(first, 60).then(() => undefined))).toBe('invalid_grant');
    // Replica a did not revoke it itself, but learns it from the store.
    expect(a.revokedHere('s1')).toBe(false);
    expect(await a.revoked('s1')).toBe(true);
  });
});

describe('SmartServer refresh', () => {
  const sealer = createSealer('k'.repeat(32), Date.now);
  const server = new SmartServer({
    settings: { clients: [{ clientId: 'app', redirectUris: ['http://127.0.0.1:9/cb'] }], accessTokenSeconds: 3600 },
    sealer,
    // Nothing listens on port 1: Nextech is unreachable.
    oauth: { tokenUrl: 'http://127.0.0.1:1/oauth2/token', clientId: 'facade', timeoutMs: 2000 },
    nextechAuthorizeUrl: 'http://127.0.0.1:1/oauth2/authorize',
    publicBaseUrl: 'http://localhost:8080',
    supportedTypes: ['Patient'],
    patientTypes: ['Patient'],
    source: {} as EhrSource,
    patientIds: { issue: () => undefined, open: () => undefined },
    now: Date.now,
    codesPerClient: 10_000,
  });
  const grant = { cid: 'app', scope: 'patient/Patient.rs offline_access', prac: '1001', aud: 'http://localhost:8080/fhir', sid: 'sign-in-1' };

  it('answers temporarily_unavailable (503) when Nextech cannot be reached, and the same refresh token works again later', async () => {
    const refresh = sealer.seal('refresh', { ...grant, nrt: 'nextech-refresh', rjti: 'r1' }, 600);
    for (let i = 0; i < 2; i++) {
      const err = await server.token(undefined, new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OAuthError);
      expect(err).toMatchObject({ error: 'temporarily_unavailable', status: 503 });
    }
  });

  it('refuses access tokens of a client that is no longer registered', () => {
    expect(server.openAccess(sealer.seal('access', { ...grant, nat: 'x' }, 600))).toBeDefined();
    expect(server.openAccess(sealer.seal('access', { ...grant, cid: 'removed', nat: 'x' }, 600))).toBeUndefined();
  });
});
