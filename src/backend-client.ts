/**
 * `npm run backend-client -- …`: what a SMART Backend Services client (an HIE connector) needs
 * to talk to this service by hand.
 *
 *   keygen <client-id> [--practice 1001] [--out dir]
 *       makes an ES384 key pair, writes the private key to `<client-id>.private.json` (0600)
 *       and prints the client's BACKEND_CLIENTS entry (its public key) on stdout;
 *   token --key <file> --token-url <url> [--scope "system/Group.cruds system/*.rs"]
 *       signs a client assertion with the private key, asks the token endpoint, and prints
 *       the access token alone (for `TOKEN=$(…)`).
 * Errors go to stderr with exit code 1; nothing secret is printed but the token asked for.
 */
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

const ALG = 'ES384';
const DEFAULT_SCOPE = 'system/Group.cruds system/*.rs';

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function keygen(args: string[]): Promise<void> {
  const clientId = args[0];
  if (!clientId || !/^[A-Za-z0-9._~-]{1,128}$/.test(clientId)) throw new Error('keygen needs a client id (letters, digits, . _ ~ -)');
  const practice = flag(args, '--practice') ?? '1001';
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
  const kid = `${clientId}-${randomUUID().slice(0, 8)}`;
  const privateJwk: JWK & { client_id: string } = { ...(await exportJWK(privateKey)), kid, alg: ALG, client_id: clientId };
  const file = join(flag(args, '--out') ?? '.', `${clientId}.private.json`);
  await writeFile(file, `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
  process.stdout.write(`${JSON.stringify({ client_id: clientId, jwks: { keys: [publicJwk] }, practices: [practice], scope: DEFAULT_SCOPE })}\n`);
  process.stderr.write(`Private key written to ${file} (keep it secret). The line above is this client's BACKEND_CLIENTS entry.\n`);
}

async function token(args: string[]): Promise<void> {
  const keyFile = flag(args, '--key');
  const tokenUrl = flag(args, '--token-url');
  if (!keyFile || !tokenUrl) throw new Error('token needs --key <file> and --token-url <url>');
  const jwk = JSON.parse(await readFile(keyFile, 'utf8')) as JWK & { client_id?: string };
  if (!jwk.client_id || !jwk.kid) throw new Error(`${keyFile} is not a key file written by keygen`);
  const { client_id: clientId, ...keyOnly } = jwk;
  const key = await importJWK(keyOnly, ALG);
  const assertion = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: ALG, kid: jwk.kid, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenUrl)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      scope: flag(args, '--scope') ?? DEFAULT_SCOPE,
    }),
  });
  const body = (await res.json().catch(() => ({}))) as { access_token?: string; error?: string; error_description?: string };
  if (!res.ok || !body.access_token) throw new Error(`the token endpoint answered ${res.status}: ${body.error ?? ''} ${body.error_description ?? ''}`.trim());
  process.stdout.write(`${body.access_token}\n`);
}

const [command, ...rest] = process.argv.slice(2);
const run = command === 'keygen' ? keygen : command === 'token' ? token : undefined;
if (!run) {
  process.stderr.write('usage: npm run backend-client -- keygen <client-id> [--practice 1001] [--out dir]\n       npm run backend-client -- token --key <file> --token-url <url> [--scope "…"]\n');
  process.exit(1);
}
run(rest).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
