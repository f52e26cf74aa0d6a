/**
 * `npm run sandbox`: serves the Nextech sandbox on SANDBOX_PORT (default 8081) and prints
 * what a developer needs to call it by hand: URLs, practice ids, a fresh token pair and a
 * curl command that works as printed. The only sandbox module that reads process.env.
 *
 * SANDBOX_FAULTS injects faults into `/ehr/api/*` for the whole run, e.g.
 * `latency=200;status=503@0.1;rate-limit=2@0.05;reset@0.01` (grammar in fault-spec.ts);
 * SANDBOX_FAULTS_SEED makes their random draws repeatable from run to run.
 * SANDBOX_HOST (default 127.0.0.1) is the address to listen on (0.0.0.0 in a container);
 * SANDBOX_REFRESH_TOKEN is a refresh token to accept besides the one printed, so services
 * configured in advance (compose.yaml) can start from it.
 */
import { SANDBOX_CLIENT_ID, SANDBOX_PRACTICE_IDS, SANDBOX_REDIRECT_URI } from './app.ts';
import { edgeCases } from './edge-cases.ts';
import { parseFaultSpec } from './fault-spec.ts';
import { createRng } from './random.ts';
import { startSandbox } from './server.ts';

function portFromEnv(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 8081;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`SANDBOX_PORT must be an integer from 0 to 65535, got "${raw}".`);
  }
  return port;
}

function randomFromEnv(raw: string | undefined): (() => number) | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,10}$/.test(raw)) throw new Error(`SANDBOX_FAULTS_SEED must be a non-negative integer, got "${raw}".`);
  const rng = createRng(Number(raw));
  return () => rng.next();
}

async function main(): Promise<void> {
  const faultSpec = process.env.SANDBOX_FAULTS ?? '';
  const faults = parseFaultSpec(faultSpec);
  const random = randomFromEnv(process.env.SANDBOX_FAULTS_SEED);
  const host = process.env.SANDBOX_HOST || '127.0.0.1';
  const running = await startSandbox({ port: portFromEnv(process.env.SANDBOX_PORT), host, faults, random });
  const preset = process.env.SANDBOX_REFRESH_TOKEN;
  if (preset) running.sandbox.acceptRefreshToken(preset);
  const tokens = running.sandbox.issueTokens();
  const practiceId = SANDBOX_PRACTICE_IDS[0] ?? '1001';
  const example = edgeCases('same-name-both-practices', practiceId)[0]?.name.split(' ').at(-1) ?? 'Smith';
  const lines = [
    'Nextech EHR API sandbox (synthetic data only)',
    `  API base URL   ${running.apiBaseUrl}`,
    `  Token URL      ${running.tokenUrl}`,
    `  Authorize URL  ${running.authorizeUrl}  (login demo / demo)`,
    `  Client id      ${SANDBOX_CLIENT_ID}  redirect ${SANDBOX_REDIRECT_URI}`,
    `  Practice ids   ${SANDBOX_PRACTICE_IDS.join(', ')}`,
    `  Access token   ${tokens.accessToken}  (expires in ${tokens.expiresIn} s)`,
    `  Refresh token  ${tokens.refreshToken}`,
    ...(faults.length > 0 ? [`  Faults         ${faultSpec.trim()}  (${faults.length} rule(s) on /ehr/api/*)`] : []),
    '',
    'Try:',
    `  curl -s -H 'Authorization: Bearer ${tokens.accessToken}' -H 'x-nextech-practice-id: ${practiceId}' '${running.apiBaseUrl}/search?term=${encodeURIComponent(example)}'`,
    '',
  ];
  process.stdout.write(lines.join('\n'));

  const shutdown = (): void => {
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
