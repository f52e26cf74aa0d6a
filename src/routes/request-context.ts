/**
 * Who is calling, for which practice, with which Nextech token: the RequestContext every
 * FHIR interaction starts from. A SMART access token issued by this service is opened here
 * (its sealed Nextech token is used upstream, its grant checked later); otherwise the
 * configured mode decides (pass-through forwards the caller's bearer token, managed uses
 * the service's own).
 */
import type { Context } from 'hono';
import { bearerToken, missingBearer } from '../auth/passthrough.ts';
import { forbidden } from '../auth/smart/compartment.ts';
import { parseScopes } from '../auth/smart/scopes.ts';
import { FhirError, outcome } from '../fhir/outcome.ts';
import { callerKeyOf, type RequestContext, type Services } from '../resources/context.ts';
import { resourceModules } from '../resources/registry.ts';
import type { AppEnv } from './env.ts';

const SUPPORTED_TYPES = resourceModules.map((m) => m.type);

const invalidToken = () =>
  new FhirError(401, outcome('error', 'login', 'The access token is invalid or expired'), {
    'WWW-Authenticate': 'Bearer error="invalid_token"',
  });

/** Our sealed tokens start with the sealer's version prefix; Nextech's never do. */
const isOurs = (token: string) => token.startsWith('v1.');

export function requestContext(c: Context<AppEnv>, services: Services): RequestContext {
  const base = c.var.fhirBase;
  if (base.practiceError || base.practiceId === undefined) throw base.practiceError ?? new Error('no practice');
  const bearer = bearerToken(c.req.header('authorization'));
  const common = { services, baseUrl: base.baseUrl, memo: new Map<string, Promise<unknown>>() };
  if (bearer !== undefined && services.smart && isOurs(bearer)) {
    const claims = services.smart.openAccess(bearer);
    if (!claims) throw invalidToken();
    if (claims.prac !== base.practiceId) throw forbidden('The access token was issued for another practice');
    const callerKey = callerKeyOf(`smart:${claims.cid}:${claims.nat}`, false);
    c.set('caller', callerKey);
    return {
      ...common,
      call: { practiceId: base.practiceId, signal: c.req.raw.signal, callerToken: claims.nat },
      callerKey,
      grant: { clientId: claims.cid, scopes: parseScopes(claims.scope, SUPPORTED_TYPES), ...(claims.pat ? { patient: claims.pat } : {}) },
    };
  }
  if (services.config.auth === 'passthrough' && bearer === undefined) throw missingBearer();
  const callerKey = callerKeyOf(bearer, services.config.auth === 'managed');
  c.set('caller', callerKey);
  return {
    ...common,
    call: { practiceId: base.practiceId, signal: c.req.raw.signal, ...(bearer ? { callerToken: bearer } : {}) },
    callerKey,
  };
}
