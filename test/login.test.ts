/**
 * `npm run login`: the authorization-code sign-in against a real sandbox over HTTP, with
 * fetch playing the browser (open the printed URL, post the login form, follow the
 * redirect to the callback). Also the failure paths, the options read from the
 * environment, and the command itself run end to end with `--sandbox`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { refreshTokenFile } from '../src/auth/token-file.ts';
import { startLoginSandbox } from '../src/dev/login-sandbox.ts';
import { loginOptionsFromEnv, runLogin, type LoginOptions } from '../src/login.ts';
import {
  SANDBOX_CLIENT_ID,
  SANDBOX_CLIENT_SECRET,
  SANDBOX_RESOURCE,
  startSandbox,
  type RunningSandbox,
} from '../src/sandbox/index.ts';

/** A port nothing listens on (free a moment ago). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };
const unescapeHtml = (s: string) => s.replace(/&(amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e] ?? e);

/** The browser's part: open the authorize URL, sign in as demo/demo, return the redirect. */
async function signIn(authorizeUrl: string): Promise<URL> {
  const page = await fetch(authorizeUrl);
  expect(page.status).toBe(200);
  const html = await page.text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  expect(action).toBeDefined();
  const fields = new URLSearchParams({ username: 'demo', password: 'demo' });
  for (const m of html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)) {
    fields.set(m[1] ?? '', unescapeHtml(m[2] ?? ''));
  }
  const posted = await fetch(new URL(action ?? '', authorizeUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: fields.toString(),
    redirect: 'manual',
  });
  expect(posted.status).toBe(302);
  return new URL(posted.headers.get('location') ?? '');
}

/** A running login (`--sandbox` available, as under `npm run login`): what it printed, the authorize URL once printed, and its outcome. */
function startLogin(opts: LoginOptions, signal?: AbortSignal) {
  const lines: string[] = [];
  let onUrl: (url: string) => void = () => undefined;
  const url = new Promise<string>((resolve) => (onUrl = resolve));
  let settled = false;
  const done = runLogin(opts, {
    print(line) {
      lines.push(line);
      if (line.includes('/oauth2/authorize?')) onUrl(line);
    },
    ...(signal ? { signal } : {}),
  }, { sandbox: startLoginSandbox }).finally(() => (settled = true));
  // Observed by the tests; this only keeps an early rejection from being "unhandled".
  done.catch(() => undefined);
  return { lines, url, done, isSettled: () => settled };
}

const rejection = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof Error ? e.message : String(e)),
  );

describe('runLogin against the sandbox', () => {
  let sandbox: RunningSandbox;
  let redirectUri: string;
  let dir: string;
  let options: Exclude<LoginOptions, { sandbox: true }>;

  beforeAll(async () => {
    redirectUri = `http://127.0.0.1:${await freePort()}/callback/`;
    sandbox = await startSandbox({
      port: 0,
      clients: [{ clientId: SANDBOX_CLIENT_ID, clientSecret: SANDBOX_CLIENT_SECRET, redirectUris: [redirectUri] }],
    });
  });
  afterAll(() => sandbox.close());
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'login-'));
    options = {
      authorizeUrl: sandbox.authorizeUrl,
      tokenUrl: sandbox.tokenUrl,
      clientId: SANDBOX_CLIENT_ID,
      clientSecret: SANDBOX_CLIENT_SECRET,
      resource: SANDBOX_RESOURCE,
      redirectUri,
      refreshTokenFile: join(dir, 'token.json'),
      timeoutSeconds: 30,
    };
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const refresh = (refreshToken: string) =>
    fetch(sandbox.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: SANDBOX_CLIENT_ID, refresh_token: refreshToken }).toString(),
    });

  it('prints the authorize URL with every documented parameter and a random state', async () => {
    const first = startLogin(options);
    const url = new URL(await first.url);
    expect(`${url.origin}${url.pathname}`).toBe(sandbox.authorizeUrl);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      client_id: SANDBOX_CLIENT_ID,
      response_type: 'code',
      redirect_uri: redirectUri,
      redirect_url: redirectUri,
      resource: SANDBOX_RESOURCE,
    });
    expect(url.searchParams.get('state')).toMatch(/^[\w-]{40,}$/);
    await fetch(await signIn(url.toString()));
    await first.done;

    const second = startLogin(options);
    const again = new URL(await second.url);
    expect(again.searchParams.get('state')).not.toBe(url.searchParams.get('state'));
    await fetch(await signIn(again.toString()));
    await second.done;
  });

  it('receives the redirect, stores a working refresh token owner-only, and never prints it', async () => {
    const login = startLogin(options);
    const callback = await signIn(await login.url);
    const code = callback.searchParams.get('code') ?? '';
    expect(code).not.toBe('');

    const page = await fetch(callback);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    expect(html).toContain('close this window');
    expect(html).not.toContain(code);

    const { file } = await login.done;
    expect(file).toBe(options.refreshTokenFile);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const token = await refreshTokenFile(file).read();
    expect(token).toBeDefined();
    expect(html).not.toContain(token);
    for (const line of login.lines) {
      expect(line).not.toContain(token);
      expect(line).not.toContain(code);
    }

    const res = await refresh(token ?? '');
    expect(res.status).toBe(200);
    const rotated = (await res.json()) as { refresh_token?: string };
    expect(rotated.refresh_token).toMatch(/\S+/);
    expect(rotated.refresh_token).not.toBe(token);

    // The listener is closed once the login is done.
    await expect(fetch(callback)).rejects.toThrow();
  });

  it('answers a wrong state with an error page and keeps waiting for the right one', async () => {
    const login = startLogin(options);
    const callback = await signIn(await login.url);
    const forged = new URL(callback);
    forged.searchParams.set('state', 'not-the-state');
    const wrong = await fetch(forged);
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('does not belong to the login');
    const unstated = new URL(callback);
    unstated.searchParams.delete('state');
    expect((await fetch(unstated)).status).toBe(400);

    const elsewhere = await fetch(new URL('/other', callback));
    expect(elsewhere.status).toBe(404);
    await sleep(50);
    expect(login.isSettled()).toBe(false);
    expect(login.lines.some((l) => l.includes('state does not match'))).toBe(true);

    const right = await fetch(callback);
    expect(right.status).toBe(200);
    await login.done;
    expect(await refreshTokenFile(options.refreshTokenFile).read()).toBeDefined();
  });

  it('rejects with a clear message, without the code, when the token endpoint refuses the code', async () => {
    const login = startLogin(options);
    const callback = await signIn(await login.url);
    const code = callback.searchParams.get('code') ?? '';
    // Someone else redeems the code first: it is single-use, so the login's exchange fails.
    const stolen = await fetch(sandbox.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: SANDBOX_CLIENT_ID, redirect_uri: redirectUri, code }).toString(),
    });
    expect(stolen.status).toBe(200);

    const page = await fetch(callback);
    expect(page.status).toBe(502);
    expect(await page.text()).not.toContain(code);
    const message = await rejection(login.done);
    expect(message).toMatch(/token endpoint refused the authorization code: HTTP 400 \(invalid_grant: .+\)/);
    expect(message).not.toContain(code);
    expect(await refreshTokenFile(options.refreshTokenFile).read()).toBeUndefined();
  });

  it('rejects when the token endpoint does not answer in time', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const login = startLogin({ ...options, tokenUrl: `http://127.0.0.1:${port}/oauth2/token?x=1`, tokenTimeoutSeconds: 0.2 });
      const callback = await signIn(await login.url);
      expect((await fetch(callback)).status).toBe(502);
      expect(await rejection(login.done)).toBe(`The token endpoint http://127.0.0.1:${port}/oauth2/token did not answer within 0.2 s.`);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('rejects when the sign-in page reports an OAuth error', async () => {
    const login = startLogin(options);
    const state = new URL(await login.url).searchParams.get('state') ?? '';
    const res = await fetch(`${redirectUri}?error=access_denied&state=${state}`);
    expect(res.status).toBe(400);
    expect(await rejection(login.done)).toBe('Nextech refused the sign-in (access_denied).');
  });

  it('rejects when no redirect arrives in time', async () => {
    const login = startLogin({ ...options, timeoutSeconds: 0.2 });
    expect(await rejection(login.done)).toBe('No sign-in arrived within 0.2 s; run the login again.');
  });

  it('stops waiting when cancelled', async () => {
    const cancel = new AbortController();
    const login = startLogin(options, cancel.signal);
    await login.url;
    cancel.abort();
    expect(await rejection(login.done)).toBe('Login cancelled.');
  });

  it('rejects at once, before printing a URL, when the redirect port is in use', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const { port } = squatter.address() as AddressInfo;
    try {
      const login = startLogin({ ...options, redirectUri: `http://127.0.0.1:${port}/callback/` });
      expect(await rejection(login.done)).toMatch(new RegExp(`^Port ${port} on 127\\.0\\.0\\.1 is in use`));
      expect(login.lines).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });

  it('refuses a redirect URI it cannot serve', async () => {
    const login = startLogin({ ...options, redirectUri: 'https://app.example.org/callback' });
    expect(await rejection(login.done)).toMatch(/must be an http:\/\/ URL on this machine/);
  });
});

describe('runLogin with the embedded sandbox', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'login-sandbox-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('starts its own sandbox, registers the redirect URI and completes the sign-in', async () => {
    const redirectUri = `http://127.0.0.1:${await freePort()}/cb`;
    const file = join(dir, 'token.json');
    const login = startLogin({ sandbox: true, redirectUri, refreshTokenFile: file, timeoutSeconds: 30 });
    const url = new URL(await login.url);
    expect(url.searchParams.get('client_id')).toBe(SANDBOX_CLIENT_ID);
    expect(login.lines.some((l) => l.includes('username demo, password demo'))).toBe(true);
    expect((await fetch(await signIn(url.toString()))).status).toBe(200);
    expect(await login.done).toEqual({ file });
    expect(await refreshTokenFile(file).read()).toMatch(/\S+/);
  });
});

describe('loginOptionsFromEnv', () => {
  it('names every missing setting at once', () => {
    expect(() => loginOptionsFromEnv({}, [])).toThrow(
      /NEXTECH_AUTHORIZE_URL: required[\s\S]*NEXTECH_TOKEN_URL: required[\s\S]*NEXTECH_CLIENT_ID: required/,
    );
    expect(() => loginOptionsFromEnv({ LOGIN_TIMEOUT_SECONDS: 'soon' }, ['--sandbox', '--verbose'])).toThrow(
      /LOGIN_TIMEOUT_SECONDS[\s\S]*unknown argument --verbose/,
    );
  });

  it('reads a real client with the documented defaults', () => {
    const env = {
      NEXTECH_AUTHORIZE_URL: 'https://login.example/authorize',
      NEXTECH_TOKEN_URL: 'https://login.example/token',
      NEXTECH_CLIENT_ID: 'client',
      NEXTECH_CLIENT_SECRET: '',
      NEXTECH_RESOURCE: 'https://api.example',
    };
    expect(loginOptionsFromEnv(env, [])).toEqual({
      authorizeUrl: 'https://login.example/authorize',
      tokenUrl: 'https://login.example/token',
      clientId: 'client',
      resource: 'https://api.example',
      redirectUri: 'http://localhost:8000/callback/',
      refreshTokenFile: './.nextech-refresh-token.json',
      timeoutSeconds: 300,
    });
  });

  it('needs nothing with --sandbox or LOGIN_SANDBOX=1, and keeps sandbox tokens apart', () => {
    const expected = {
      sandbox: true,
      redirectUri: 'http://localhost:8000/callback/',
      refreshTokenFile: './.nextech-sandbox-refresh-token.json',
      timeoutSeconds: 300,
    };
    expect(loginOptionsFromEnv({}, ['--sandbox'])).toEqual(expected);
    expect(loginOptionsFromEnv({ LOGIN_SANDBOX: '1', LOGIN_TIMEOUT_SECONDS: '60' }, [])).toEqual({ ...expected, timeoutSeconds: 60 });
  });
});

describe('npm run login (the command)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'login-cli-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** The command (`npm run login` runs src/dev/login.ts) with a clean environment (no NEXTECH_* or LOGIN_* from the test run). */
  function command(args: string[], env: Record<string, string>, entry = 'src/dev/login.ts') {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(NEXTECH_|LOGIN_)/.test(k)));
    const child = spawn(join('node_modules', '.bin', 'tsx'), [entry, ...args], { env: { ...base, ...env } });
    let stdout = '';
    let stderr = '';
    let onUrl: (url: string) => void = () => undefined;
    const url = new Promise<string>((resolve) => (onUrl = resolve));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const found = /^(http\S+\/oauth2\/authorize\?\S+)$/m.exec(stdout)?.[1];
      if (found) onUrl(found);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exit = new Promise<number | null>((resolve) => child.on('close', resolve));
    return { url, exit, output: () => ({ stdout, stderr }), kill: () => child.kill() };
  }

  it('signs in end to end with --sandbox and prints only where the token went', async () => {
    const redirectUri = `http://127.0.0.1:${await freePort()}/callback/`;
    const file = join(dir, 'token.json');
    const cli = command(['--sandbox'], { NEXTECH_REDIRECT_URI: redirectUri, NEXTECH_REFRESH_TOKEN_FILE: file });
    try {
      const callback = await signIn(await cli.url);
      expect((await fetch(callback)).status).toBe(200);
      expect(await cli.exit).toBe(0);
    } finally {
      cli.kill();
    }
    const { stdout } = cli.output();
    expect(stdout).toContain(`Refresh token stored in ${file}`);
    const token = await refreshTokenFile(file).read();
    expect(token).toMatch(/\S+/);
    expect(stdout).not.toContain(token);
  });

  it('exits 2 naming the missing settings when not configured', async () => {
    const cli = command([], {});
    expect(await cli.exit).toBe(2);
    expect(cli.output().stderr).toMatch(/NEXTECH_AUTHORIZE_URL: required/);
  });

  it('refuses --sandbox as the production command (src/login.ts), which has no sandbox', async () => {
    const cli = command(['--sandbox'], { NEXTECH_REDIRECT_URI: `http://127.0.0.1:${await freePort()}/callback/` }, 'src/login.ts');
    expect(await cli.exit).toBe(1);
    expect(cli.output().stderr).toMatch(/--sandbox is a development command: run npm run login -- --sandbox/);
    expect(cli.output().stdout).toBe('');
  });
});
