/**
 * The environment an operator would write to point the service (its production entry) at a
 * running sandbox as its Nextech, managed mode: used by the soak, the benchmark's processes
 * and the tests that start the service as a process of its own. Each call issues a fresh
 * refresh token (a service rotates its own).
 */
import { SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_RESOURCE, type RunningSandbox } from '../sandbox/index.ts';

export function sandboxNextechEnv(upstream: RunningSandbox, practiceId = '1001'): Record<string, string> {
  return {
    NEXTECH_BASE_URL: upstream.apiBaseUrl,
    NEXTECH_TOKEN_URL: upstream.tokenUrl,
    NEXTECH_AUTHORIZE_URL: upstream.authorizeUrl,
    NEXTECH_CLIENT_ID: SANDBOX_CLIENT_ID,
    NEXTECH_CLIENT_SECRET: SANDBOX_CLIENT_SECRET,
    NEXTECH_RESOURCE: SANDBOX_RESOURCE,
    NEXTECH_REFRESH_TOKEN: upstream.sandbox.issueTokens(SANDBOX_CLIENT_ID).refreshToken,
    NEXTECH_PRACTICE_ID: practiceId,
  };
}
