/**
 * `npm run sandbox`: serves the Nextech sandbox on SANDBOX_PORT (default 8081) and prints
 * what a developer needs to call it by hand: URLs, practice ids, a fresh token pair and a
 * curl command that works as printed. The only sandbox module that reads process.env.
 */
import { SANDBOX_CLIENT_ID, SANDBOX_PRACTICE_IDS, SANDBOX_REDIRECT_URI } from './app.ts';
import { edgeCases } from './edge-cases.ts';
import { startSandbox } from './server.ts';

function portFromEnv(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 8081;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`SANDBOX_PORT must be an integer from 0 to 65535, got "${raw}".`);
  }
  return port;
}

async function main(): Promise<void> {
  const running = await startSandbox({ port: portFromEnv(process.env.SANDBOX_PORT) });
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
