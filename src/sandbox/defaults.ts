/**
 * The sandbox's well-known OAuth values. The client id is the one in Nextech's
 * documentation; the secret, redirect URI, resource and login are sandbox inventions,
 * public on purpose so that `npm start` and the tests can authenticate with no setup.
 */

/** A registered OAuth client of the sandbox. */
export interface SandboxClient {
  clientId: string;
  /** When set, a token request that sends a client_secret must send this one. */
  clientSecret?: string;
  /** Exact-match list; authorize never redirects anywhere else. */
  redirectUris: string[];
}

/** The client id shown in Nextech's "Request Access Token" example. */
export const SANDBOX_CLIENT_ID = 'c6eef4c1-62a2-4f3f-88a6-8679639da10a';
/** The default client's secret (sending it is optional). */
export const SANDBOX_CLIENT_SECRET = 'sandbox-secret';
/** The redirect URI shown in Nextech's example. */
export const SANDBOX_REDIRECT_URI = 'http://localhost:8000/callback/';
/** The `resource` the token response names (Nextech's docs leave it blank). */
export const SANDBOX_RESOURCE = 'https://sandbox.nextech-api.local/ehr';
/** The one login the authorize form accepts: demo / demo. */
export const SANDBOX_USERNAME = 'demo';
/** Password of SANDBOX_USERNAME. */
export const SANDBOX_PASSWORD = 'demo';
/** Access token lifetime: Nextech's documented default of one hour. */
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 3600;

/** The client registered when `createSandbox` is given none. */
export const DEFAULT_SANDBOX_CLIENT: Readonly<SandboxClient> = Object.freeze({
  clientId: SANDBOX_CLIENT_ID,
  clientSecret: SANDBOX_CLIENT_SECRET,
  redirectUris: [SANDBOX_REDIRECT_URI],
});
