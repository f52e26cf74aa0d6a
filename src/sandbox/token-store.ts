/**
 * In-memory OAuth state: access tokens, refresh tokens and authorization codes. Tokens
 * are opaque random strings from node:crypto; expiry is judged against the injected
 * clock so tests can move time. Refresh tokens rotate: each is good for one use.
 */
import { randomBytes } from 'node:crypto';

/** Authorization codes live five minutes, as is usual for OAuth servers. */
const CODE_TTL_MS = 5 * 60_000;

/** A fresh access and refresh token pair. */
export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
}

/** What an access token check found. */
export type AccessCheck = 'valid' | 'expired' | 'unknown';

/** What a presented authorization code was issued for. */
export interface CodeGrant {
  clientId: string;
  redirectUri: string;
}

/** The sandbox's token bookkeeping. */
export interface TokenStore {
  issueTokens(clientId: string): IssuedTokens;
  checkAccessToken(token: string): AccessCheck;
  issueCode(grant: CodeGrant): string;
  /** Consumes the code (whatever the outcome) and says whether it was good for this grant. */
  redeemCode(code: string, grant: CodeGrant): boolean;
  /** Consumes the refresh token and issues a new pair, or undefined if it is not valid. */
  rotateRefreshToken(refreshToken: string, clientId: string): IssuedTokens | undefined;
  /** Accepts a refresh token chosen outside (SANDBOX_REFRESH_TOKEN, for compose.yaml), once like any other. */
  acceptRefreshToken(refreshToken: string, clientId: string): void;
  revokeAll(): void;
}

const opaque = (): string => randomBytes(32).toString('base64url');

/** A token store whose clock is `now` and whose access tokens live `ttlSeconds`. */
export function createTokenStore(ttlSeconds: number, now: () => Date): TokenStore {
  const access = new Map<string, { clientId: string; expiresAt: number }>();
  const refresh = new Map<string, { clientId: string }>();
  const codes = new Map<string, CodeGrant & { expiresAt: number }>();
  const clock = (): number => now().getTime();

  const issueTokens = (clientId: string): IssuedTokens => {
    const accessToken = opaque();
    const refreshToken = opaque();
    access.set(accessToken, { clientId, expiresAt: clock() + ttlSeconds * 1000 });
    refresh.set(refreshToken, { clientId });
    return { accessToken, refreshToken, expiresIn: ttlSeconds };
  };

  return {
    issueTokens,
    checkAccessToken(token) {
      const entry = access.get(token);
      if (!entry) return 'unknown';
      return clock() < entry.expiresAt ? 'valid' : 'expired';
    },
    issueCode(grant) {
      const code = opaque();
      codes.set(code, { ...grant, expiresAt: clock() + CODE_TTL_MS });
      return code;
    },
    redeemCode(code, grant) {
      const entry = codes.get(code);
      codes.delete(code);
      return entry !== undefined && clock() < entry.expiresAt
        && entry.clientId === grant.clientId && entry.redirectUri === grant.redirectUri;
    },
    rotateRefreshToken(refreshToken, clientId) {
      const entry = refresh.get(refreshToken);
      if (!entry || entry.clientId !== clientId) return undefined;
      refresh.delete(refreshToken);
      return issueTokens(clientId);
    },
    acceptRefreshToken(refreshToken, clientId) {
      refresh.set(refreshToken, { clientId });
    },
    revokeAll() {
      access.clear();
      refresh.clear();
      codes.clear();
    },
  };
}
