/**
 * The embedded sandbox for one `npm run login -- --sandbox`: started on a free port with its
 * default client registered for the login's redirect URI, so the whole sign-in can be tried
 * with no configuration (login demo / demo). Stopped by the login when it ends.
 */
import type { LoginNextech } from '../login.ts';
import {
  SANDBOX_CLIENT_ID,
  SANDBOX_CLIENT_SECRET,
  SANDBOX_PASSWORD,
  SANDBOX_RESOURCE,
  SANDBOX_USERNAME,
  startSandbox,
} from '../sandbox/index.ts';

/** The embedded sandbox with its default client registered for this redirect URI. */
export async function startLoginSandbox(redirectUri: string): Promise<LoginNextech> {
  const running = await startSandbox({
    port: 0,
    clients: [{ clientId: SANDBOX_CLIENT_ID, clientSecret: SANDBOX_CLIENT_SECRET, redirectUris: [redirectUri] }],
  });
  return {
    client: {
      authorizeUrl: running.authorizeUrl,
      tokenUrl: running.tokenUrl,
      clientId: SANDBOX_CLIENT_ID,
      clientSecret: SANDBOX_CLIENT_SECRET,
      resource: SANDBOX_RESOURCE,
    },
    note: `Embedded Nextech sandbox at ${running.origin}: sign in with username ${SANDBOX_USERNAME}, password ${SANDBOX_PASSWORD}.`,
    close: () => running.close(),
  };
}
