/**
 * Pass-through credentials: the caller's own `Authorization: Bearer` token is forwarded to
 * Nextech unchanged, so Nextech decides what the caller may see.
 */
import { FhirError, outcome } from '../fhir/outcome.ts';
import type { CallContext, Credentials } from '../nextech/client.ts';

export const missingBearer = () =>
  new FhirError(401, outcome('error', 'login', 'An Authorization: Bearer token is required'), {
    'WWW-Authenticate': 'Bearer realm="fhir"',
  });

/** Extracts the token from an Authorization header value, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(header ?? '');
  return m?.[1];
}

export const passthroughCredentials: Credentials = {
  token(ctx: CallContext): Promise<string> {
    if (!ctx.callerToken) return Promise.reject(missingBearer());
    return Promise.resolve(ctx.callerToken);
  },
  // The caller's token was refused: nothing we can do but pass the 401 on.
  rejected: () => Promise.resolve(false),
};
