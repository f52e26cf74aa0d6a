import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshTokenFile } from '../src/auth/token-file.ts';
import { SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_RESOURCE, startSandbox, type RunningSandbox } from '../src/sandbox/index.ts';
import { fhirFetch, startTestService } from './helpers/service.ts';

let upstream: RunningSandbox;
beforeAll(async () => {
  // Short-lived access tokens, so a second service run must refresh (and rotate) again.
  upstream = await startSandbox({ port: 0, accessTokenTtlSeconds: 31 });
});
afterAll(() => upstream.close());

const env = (file: string) => ({
  NEXTECH_BASE_URL: upstream.apiBaseUrl,
  NEXTECH_AUTH: 'managed',
  NEXTECH_PRACTICE_ID: '1001',
  NEXTECH_TOKEN_URL: upstream.tokenUrl,
  NEXTECH_CLIENT_ID: SANDBOX_CLIENT_ID,
  NEXTECH_CLIENT_SECRET: SANDBOX_CLIENT_SECRET,
  NEXTECH_RESOURCE: SANDBOX_RESOURCE,
  NEXTECH_REFRESH_TOKEN_FILE: file,
  ANONYMOUS_ACCESS: 'true',
});

describe('managed credentials from a refresh token file', () => {
  it('survives a restart: each rotated refresh token is written back and used next time', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'facade-token-')), 'token.json');
    const first = upstream.sandbox.issueTokens().refreshToken;
    await refreshTokenFile(file).write(first);

    const one = await startTestService(env(file));
    expect((await fhirFetch(`${one.fhir}/Patient?family=smith`)).status).toBe(200);
    await one.close();
    const rotated = await refreshTokenFile(file).read();
    expect(rotated).toBeDefined();
    expect(rotated).not.toBe(first);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    // The first refresh token is spent (the sandbox rotates): only the file's token works now.
    const two = await startTestService(env(file));
    expect((await fhirFetch(`${two.fhir}/Patient?family=smith`)).status).toBe(200);
    await two.close();
    expect(await refreshTokenFile(file).read()).not.toBe(rotated);
    expect(readFileSync(file, 'utf8')).toContain('refresh_token');
  });

  it('refuses to start when the file is missing and no token is configured', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'facade-token-')), 'absent.json');
    await expect(startTestService(env(file))).rejects.toThrow(/npm run login/);
  });
});
