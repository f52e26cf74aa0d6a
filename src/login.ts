/**
 * `npm run login`: the one-time interactive sign-in that gives managed mode its refresh
 * token. Nextech issues tokens only after an authorization-code login in a browser
 * (nextech-ehr-api.txt, "Request Authorization Code"), so this command prints the
 * authorize URL, listens on the registered redirect URI for the code, exchanges it at the
 * token endpoint and stores the refresh token with `refreshTokenFile`. `--sandbox` runs the
 * same dance against the embedded sandbox (login demo / demo) with no configuration; the
 * sandbox is supplied by the development entry `npm run login` runs (src/dev/login.ts),
 * never imported here. Run directly (`tsx src/login.ts`) this is the production command.
 *
 * Neither the code nor a token is ever printed, shown in the browser or put in a message.
 * One file on purpose: options, the callback listener and the exchange only make sense
 * together, and only the development entry imports them (to add the sandbox).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { exchangeCode, NextechOAuthError, type OAuthFailureDetails } from './auth/nextech-oauth.ts';
import { refreshTokenFile } from './auth/token-file.ts';

/** The redirect URI in Nextech's "Request Access Token" example. */
export const DEFAULT_REDIRECT_URI = 'http://localhost:8000/callback/';
export const DEFAULT_TOKEN_FILE = './.nextech-refresh-token.json';
/** Sandbox tokens go elsewhere by default, so a demo never overwrites a real token. */
export const DEFAULT_SANDBOX_TOKEN_FILE = './.nextech-sandbox-refresh-token.json';
const DEFAULT_TOKEN_TIMEOUT_SECONDS = 30;

/** Where and as whom to sign in. */
export interface OAuthClientSettings {
  authorizeUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret?: string;
  resource?: string;
}

interface CommonOptions {
  /** Registered redirect URI; this command listens on its host, port and path. */
  redirectUri: string;
  refreshTokenFile: string;
  /** How long to wait for the browser's redirect. */
  timeoutSeconds: number;
  /** Deadline of the token request (default 30). */
  tokenTimeoutSeconds?: number;
}

/** Either a real client, or `sandbox: true` for the embedded sandbox and its default client. */
export type LoginOptions = CommonOptions & ({ sandbox: true } | ({ sandbox?: false } & OAuthClientSettings));

export interface LoginIO {
  print(line: string): void;
  signal?: AbortSignal;
}

/** A Nextech started for one login (the embedded sandbox), stopped when the login ends. */
export interface LoginNextech {
  client: OAuthClientSettings;
  /** Printed before the authorize URL: where it runs and how to sign in there. */
  note: string;
  close(): Promise<void>;
}

/** What only a development entry provides (src/dev/login.ts). */
export interface LoginDev {
  /** Starts the embedded sandbox with its client registered for this redirect URI (`--sandbox`). */
  sandbox?(redirectUri: string): Promise<LoginNextech>;
}

/** A login failure whose message is meant for the user (and never holds a code or token). */
export class LoginError extends Error {
  override name = 'LoginError';
}

const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL');
const EnvSchema = z.object({
  NEXTECH_AUTHORIZE_URL: httpUrl.optional(),
  NEXTECH_TOKEN_URL: httpUrl.optional(),
  NEXTECH_CLIENT_ID: z.string().min(1).optional(),
  NEXTECH_CLIENT_SECRET: z.string().min(1).optional(),
  NEXTECH_RESOURCE: z.string().min(1).optional(),
  NEXTECH_REDIRECT_URI: httpUrl.refine((u) => /^http:\/\//i.test(u), 'must be http:// (served by this command)').optional(),
  NEXTECH_REFRESH_TOKEN_FILE: z.string().min(1).optional(),
  LOGIN_TIMEOUT_SECONDS: z.coerce.number().positive().max(86_400).default(300),
  LOGIN_SANDBOX: z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1').default(false),
});

/** The command's options from its environment and arguments; every problem in one error. */
export function loginOptionsFromEnv(env: Record<string, string | undefined>, args: readonly string[]): LoginOptions {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  for (const arg of args) if (arg !== '--sandbox') problems.push(`unknown argument ${arg.startsWith('-') ? arg : '(not shown)'}; only --sandbox is accepted`);
  const e = parsed.success ? parsed.data : undefined;
  const sandbox = args.includes('--sandbox') || e?.LOGIN_SANDBOX === true;
  if (!sandbox) {
    for (const name of ['NEXTECH_AUTHORIZE_URL', 'NEXTECH_TOKEN_URL', 'NEXTECH_CLIENT_ID'] as const) {
      if (cleaned[name] === undefined) problems.push(`${name}: required (or use --sandbox for a demo)`);
    }
  }
  if (!e || problems.length > 0) throw new LoginError(`Invalid login settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  const common: CommonOptions = {
    redirectUri: e.NEXTECH_REDIRECT_URI ?? DEFAULT_REDIRECT_URI,
    refreshTokenFile: e.NEXTECH_REFRESH_TOKEN_FILE ?? (sandbox ? DEFAULT_SANDBOX_TOKEN_FILE : DEFAULT_TOKEN_FILE),
    timeoutSeconds: e.LOGIN_TIMEOUT_SECONDS,
  };
  if (sandbox) return { ...common, sandbox: true };
  const { NEXTECH_AUTHORIZE_URL: authorizeUrl, NEXTECH_TOKEN_URL: tokenUrl, NEXTECH_CLIENT_ID: clientId } = e;
  // Checked above; restated for the type checker.
  if (!authorizeUrl || !tokenUrl || !clientId) throw new LoginError('Invalid login settings.');
  return {
    ...common,
    authorizeUrl,
    tokenUrl,
    clientId,
    ...(e.NEXTECH_CLIENT_SECRET ? { clientSecret: e.NEXTECH_CLIENT_SECRET } : {}),
    ...(e.NEXTECH_RESOURCE ? { resource: e.NEXTECH_RESOURCE } : {}),
  };
}

/**
 * Runs the sign-in: prints the authorize URL, waits for the redirect, exchanges the code
 * and stores the refresh token. Resolves with the file's absolute path once the browser
 * has been answered and the listener closed.
 */
export async function runLogin(opts: LoginOptions, io: LoginIO, dev: LoginDev = {}): Promise<{ file: string }> {
  const redirect = parseRedirect(opts.redirectUri);
  if (opts.sandbox && !dev.sandbox) throw new LoginError('--sandbox is a development command: run npm run login -- --sandbox');
  const sandbox = opts.sandbox ? await dev.sandbox?.(opts.redirectUri) : undefined;
  try {
    const client = sandbox?.client ?? (opts.sandbox ? undefined : opts);
    if (!client) throw new LoginError('No OAuth client configured.');
    const state = randomBytes(32).toString('base64url');
    const file = refreshTokenFile(opts.refreshTokenFile);
    const tokenTimeoutMs = (opts.tokenTimeoutSeconds ?? DEFAULT_TOKEN_TIMEOUT_SECONDS) * 1000;
    const flow = awaitCallback({
      state,
      path: redirect.pathname,
      timeoutMs: opts.timeoutSeconds * 1000,
      print: (line) => io.print(line),
      ...(io.signal ? { signal: io.signal } : {}),
      async complete(code, signal) {
        const token = await exchangeForRefreshToken(client, opts.redirectUri, code, tokenTimeoutMs, signal);
        if (signal.aborted) throw new LoginError('Login cancelled.');
        await file.write(token).catch((err: unknown) => {
          throw new LoginError(`Could not store the refresh token in ${file.path}: ${errorCode(err)}`);
        });
      },
    });
    const listener = await listenOn(redirect, flow.handle);
    try {
      if (sandbox) io.print(sandbox.note);
      io.print('Open this URL in a browser and sign in to Nextech:');
      io.print(authorizeUrl(client, opts.redirectUri, state));
      io.print(`Waiting up to ${opts.timeoutSeconds} s for the redirect to ${opts.redirectUri}`);
      await flow.done;
      return { file: file.path };
    } finally {
      flow.dispose();
      await listener.close();
    }
  } finally {
    await sandbox?.close();
  }
}

function parseRedirect(uri: string): URL {
  const url = URL.canParse(uri) ? new URL(uri) : undefined;
  if (url?.protocol !== 'http:') {
    throw new LoginError(`The redirect URI must be an http:// URL on this machine, e.g. ${DEFAULT_REDIRECT_URI}`);
  }
  return url;
}

function authorizeUrl(client: OAuthClientSettings, redirectUri: string, state: string): string {
  const url = new URL(client.authorizeUrl);
  url.searchParams.set('client_id', client.clientId);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('redirect_uri', redirectUri);
  // Nextech's documentation spells the parameter redirect_url; sending both suits either reading.
  url.searchParams.set('redirect_url', redirectUri);
  if (client.resource) url.searchParams.set('resource', client.resource);
  url.searchParams.set('state', state);
  return url.toString();
}

interface CallbackContext {
  state: string;
  path: string;
  timeoutMs: number;
  signal?: AbortSignal;
  print(line: string): void;
  /** Exchanges the code and stores the refresh token; rejects with a LoginError. */
  complete(code: string, signal: AbortSignal): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The redirect's handler and the outcome it settles. A wrong or missing `state` (not our
 * login) or a missing code is answered with an error page and the wait goes on; the first
 * good callback is exchanged, and its result settles the login either way, because an
 * authorization code is good for one exchange only.
 */
function awaitCallback(ctx: CallbackContext): { handle: Handler; done: Promise<void>; dispose(): void } {
  let phase: 'waiting' | 'exchanging' | 'settled' = 'waiting';
  let resolveDone: () => void = () => undefined;
  let rejectDone: (err: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  const cancel = new AbortController();
  const settle = (err?: Error): void => {
    if (phase === 'settled') return;
    phase = 'settled';
    dispose();
    if (err) {
      cancel.abort();
      rejectDone(err);
    } else resolveDone();
  };
  const onAbort = (): void => settle(new LoginError('Login cancelled.'));
  const timer = setTimeout(
    () => settle(new LoginError(`No sign-in arrived within ${ctx.timeoutMs / 1000} s; run the login again.`)),
    ctx.timeoutMs,
  );
  const dispose = (): void => {
    clearTimeout(timer);
    ctx.signal?.removeEventListener('abort', onAbort);
  };
  if (ctx.signal?.aborted) onAbort();
  else ctx.signal?.addEventListener('abort', onAbort, { once: true });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://callback.invalid');
    if (url.pathname !== ctx.path) return send(res, 404, 'Not found', 'This address only receives the Nextech sign-in redirect.');
    if (req.method !== 'GET') return send(res, 405, 'Method not allowed', 'The sign-in redirect is a GET.');
    if (phase !== 'waiting') return send(res, 409, 'Sign-in already handled', 'This login already received its answer. You can close this window.');
    const q = url.searchParams;
    if (!sameSecret(q.get('state') ?? '', ctx.state)) {
      ctx.print('Ignored a redirect whose state does not match this login; still waiting.');
      return send(res, 400, 'Unrecognised sign-in', 'This answer does not belong to the login running in your terminal. Open the URL it printed and sign in again.');
    }
    const error = q.get('error');
    if (error !== null) {
      await send(res, 400, 'Sign-in refused', 'Nextech did not authorize the sign-in. The terminal says more.');
      return settle(new LoginError(`Nextech refused the sign-in${/^[\w.-]{1,64}$/.test(error) ? ` (${error})` : ''}.`));
    }
    const code = q.get('code');
    if (!code) return send(res, 400, 'No authorization code', 'The redirect carried no code. Open the URL printed in the terminal and sign in again.');
    phase = 'exchanging';
    clearTimeout(timer);
    try {
      await ctx.complete(code, cancel.signal);
    } catch (err) {
      await send(res, 502, 'Sign-in failed', 'The sign-in could not be completed. The terminal says why.');
      return settle(err instanceof LoginError ? err : new LoginError(`Sign-in failed (${errorCode(err)}).`));
    }
    await send(res, 200, 'Signed in', 'The Nextech refresh token is stored. You can close this window.');
    settle();
  }

  return { handle: (req, res) => void handle(req, res).catch(() => res.destroy()), done, dispose };
}

/** Compares without leaking, through timing, how much of the state matched. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);

/** A small HTML page; resolves once it is handed to the OS (or the browser went away). */
function send(res: ServerResponse, status: number, title: string, message: string): Promise<void> {
  const html = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></main></body>
</html>
`;
  return new Promise((resolve) => {
    res.once('close', resolve);
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // The page's own URL carries the code: never send it on as a Referer.
      'referrer-policy': 'no-referrer',
      'content-security-policy': "default-src 'none'",
      connection: 'close',
    });
    res.end(html, resolve);
  });
}

/** Listens on the redirect's host and port; `localhost` means both loopback addresses. */
async function listenOn(redirect: URL, handler: Handler): Promise<{ close(): Promise<void> }> {
  const port = Number(redirect.port || 80);
  const host = redirect.hostname.replace(/^\[|\]$/g, '');
  const hosts = host === 'localhost' ? ['127.0.0.1', '::1'] : [host];
  const servers: Server[] = [];
  const close = (): Promise<void> =>
    Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    ).then(() => undefined);
  for (const [i, address] of hosts.entries()) {
    const server = createServer(handler);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, address, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
    } catch (err) {
      // A machine without IPv6 still serves localhost on 127.0.0.1.
      if (i > 0 && ['EADDRNOTAVAIL', 'EAFNOSUPPORT'].includes(errorCode(err))) continue;
      await close();
      throw listenError(err, address, port, redirect.href);
    }
  }
  return { close };
}

function listenError(err: unknown, host: string, port: number, uri: string): LoginError {
  switch (errorCode(err)) {
    case 'EADDRINUSE':
      return new LoginError(`Port ${port} on ${host} is in use, so the redirect to ${uri} cannot be received. Stop what uses it, or register another redirect URI and set NEXTECH_REDIRECT_URI.`);
    case 'EACCES':
      return new LoginError(`Not allowed to listen on port ${port} on ${host} for the redirect to ${uri}.`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new LoginError(`${host} is not an address of this machine; the redirect URI must point here (e.g. ${DEFAULT_REDIRECT_URI}).`);
    default:
      return new LoginError(`Cannot listen on ${host}:${port} for the redirect (${errorCode(err)}).`);
  }
}

/** The authorization_code grant; resolves with the refresh token. */
async function exchangeForRefreshToken(
  client: OAuthClientSettings,
  redirectUri: string,
  code: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<string> {
  const endpoint = new URL(client.tokenUrl);
  const where = `${endpoint.origin}${endpoint.pathname}`;
  let tokens;
  try {
    tokens = await exchangeCode(
      {
        tokenUrl: client.tokenUrl,
        clientId: client.clientId,
        ...(client.clientSecret ? { clientSecret: client.clientSecret } : {}),
        ...(client.resource ? { resource: client.resource } : {}),
        timeoutMs,
      },
      code,
      redirectUri,
      signal,
    );
  } catch (err) {
    if (!(err instanceof NextechOAuthError)) throw err;
    throw loginErrorFor(err, where, timeoutMs, [code, client.clientSecret]);
  }
  if (!tokens.refreshToken) throw new LoginError(`The token endpoint ${where} answered without a refresh_token.`);
  return tokens.refreshToken;
}

function loginErrorFor(err: NextechOAuthError, where: string, timeoutMs: number, secrets: readonly (string | undefined)[]): LoginError {
  const d = err.details;
  switch (err.reason) {
    case 'timeout':
      return new LoginError(`The token endpoint ${where} did not answer within ${timeoutMs / 1000} s.`);
    case 'cancelled':
      return new LoginError('Login cancelled.');
    case 'unavailable':
      return d.status !== undefined
        ? new LoginError(`The token endpoint refused the authorization code: HTTP ${d.status}. Run the login again.`)
        : new LoginError(`The token endpoint ${where} is unreachable (${errorCode(d.cause)}).`);
    case 'refused':
    case 'incomplete':
      return new LoginError(
        `The token endpoint refused the authorization code: HTTP ${d.status ?? '?'}${describeOAuthError(d, secrets)}. Run the login again.`,
      );
  }
}

/** ` (invalid_grant: …)` from an RFC 6749 §5.2 error, any echoed secret blanked out. */
function describeOAuthError(d: OAuthFailureDetails, secrets: readonly (string | undefined)[]): string {
  let text = d.description ?? '';
  for (const secret of secrets) if (secret) text = text.split(secret).join('[redacted]');
  text = text.replace(/\p{Cc}+/gu, ' ').trim().slice(0, 200);
  const parts = [d.error, text].filter((p): p is string => Boolean(p));
  return parts.length > 0 ? ` (${parts.join(': ')})` : '';
}

function errorCode(err: unknown): string {
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.name : 'unknown error';
}

/** The command: options from the environment and arguments, the sign-in, an exit status. */
export async function loginCommand(dev: LoginDev = {}): Promise<void> {
  let opts: LoginOptions;
  try {
    opts = loginOptionsFromEnv(process.env, process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const cancel = new AbortController();
  process.once('SIGINT', () => cancel.abort());
  process.once('SIGTERM', () => cancel.abort());
  try {
    const { file } = await runLogin(opts, { print: (line) => process.stdout.write(`${line}\n`), signal: cancel.signal }, dev);
    process.stdout.write(`Refresh token stored in ${file} (readable only by you).\n`);
    if (opts.sandbox) process.stdout.write('It belongs to the sandbox this command ran, which has stopped: a demonstration only.\n');
    process.exit(0);
  } catch (err) {
    process.stderr.write(`Login failed: ${err instanceof LoginError ? err.message : errorCode(err)}\n`);
    process.exit(1);
  }
}

/** True when this file is the process's entry point (`tsx src/login.ts`), not an import. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) void loginCommand();
