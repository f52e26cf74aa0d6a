/**
 * Requests addressed to this service, and no other: the defence against DNS rebinding. A
 * page from an attacker's site can make its own name resolve to this machine (127.0.0.1),
 * and then read what the service answers there as if it were its own origin. What the
 * attacker controls is a *name*, so it shows in the `Host` header (and in `Origin`, when the
 * browser sends one): a request is ours only when its Host is the configured public host
 * (PUBLIC_BASE_URL's host:port) or a loopback literal (`localhost`, `127.0.0.1`, `[::1]`)
 * with the port the service listens on, and its Origin, if any, is one of those, the public
 * origin or an allowed CORS origin.
 *
 * Where a credential is needed, the attacker's page has none to send, so only what answers
 * without one needs the guard: every route when anonymous access is on (probes aside), and
 * /metrics when it trusts loopback peers (a rebound page *is* a loopback peer).
 *
 * A page of another site can also embed a URL of this service (an image, a script: a
 * "no-cors" request, which carries no Origin); it cannot read the answer, but anonymous
 * access would spend the service's Nextech budget on it. Browsers say so themselves
 * (`Sec-Fetch-Site: cross-site`, `Sec-Fetch-Mode: no-cors`, which no page can set), and such
 * requests are refused too. Navigations are not: a person following a link, or an OAuth
 * redirect from Nextech's login back to /auth/callback, is cross-site too.
 *
 * A foreign Host is 421 Misdirected Request (RFC 9110 §15.5.20: this server will not answer
 * for that authority); a foreign Origin, or an embedding from another site, is 403. FHIR
 * routes answer an OperationOutcome, /auth OAuth JSON.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { outcome } from '../fhir/outcome.ts';
import type { AppEnv } from './env.ts';
import { fhirJson } from './respond.ts';

/** Where this service is addressed: the Host values and browser origins it answers. */
export interface Addressed {
  hosts: ReadonlySet<string>;
  origins: ReadonlySet<string>;
  /** The public host, for the refusal's text (configuration, not request data). */
  publicHost: string;
}

/** Names an attacker cannot point elsewhere: loopback literals (RFC 6761 keeps `localhost` local). */
const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];
/** Liveness and readiness probes: orchestrators call them by pod address; they hold no data. */
const PROBES = new Set(['/healthz', '/readyz']);

/** The hosts and origins of a service whose public base is `publicBaseUrl`, listening on `port`. */
export function addressedAt(publicBaseUrl: string, port: number, corsOrigins: readonly string[]): Addressed {
  const pub = new URL(publicBaseUrl);
  const defaultPort = pub.protocol === 'https:' ? '443' : '80';
  const hosts = new Set([pub.host, `${pub.hostname}:${pub.port || defaultPort}`, ...LOOPBACK.map((name) => `${name}:${port}`)]);
  const origins = new Set([pub.origin, ...LOOPBACK.map((name) => `http://${name}:${port}`), ...corsOrigins.flatMap((o) => originOf(o) ?? [])]);
  return { hosts, origins, publicHost: pub.host };
}

/** The serialised origin of `text`, or undefined (`null`, opaque or malformed origins are nobody's). */
function originOf(text: string): string | undefined {
  try {
    const origin = new URL(text).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * Whether the request names this service: its Host header (required: a request without one
 * names nobody) and the authority of its URL (which an absolute-form request line sets) are
 * among the hosts served. Host names are compared without regard to case: the server
 * lower-cases the header as a request arrives (http-server.ts), the URL's host is lower case.
 */
export function isAddressedHere(c: Context, to: Addressed): boolean {
  const host = c.req.header('host');
  return host !== undefined && to.hosts.has(host) && to.hosts.has(new URL(c.req.url).host);
}

/**
 * Whether the request's Origin, when it has one, is this service's, or allowed by CORS. The
 * one opaque Origin accepted is that of a request the browser itself calls same-origin
 * (`Sec-Fetch-Site`, which no page can set): a form on one of our pages served with
 * `Referrer-Policy: no-referrer` (the SMART picker) posts with `Origin: null`.
 */
export function isOwnOrigin(c: Context, to: Addressed): boolean {
  const origin = c.req.header('origin');
  if (origin === undefined) return true;
  if (origin === 'null' && c.req.header('sec-fetch-site') === 'same-origin') return true;
  const parsed = originOf(origin);
  return parsed !== undefined && to.origins.has(parsed);
}

/** Refuses, in the caller's language, whatever is not addressed to this service (probes aside). */
export function hostGuard(to: Addressed): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (PROBES.has(c.req.path)) return next();
    if (!isAddressedHere(c, to)) return refuse(c, 421, `This service answers requests addressed to ${to.publicHost} (or localhost) only`);
    if (!isOwnOrigin(c, to)) return refuse(c, 403, 'Requests from this Origin are not accepted');
    if (c.req.header('sec-fetch-site') === 'cross-site' && c.req.header('sec-fetch-mode') === 'no-cors') {
      return refuse(c, 403, 'Requests embedded in another site\'s page are not accepted');
    }
    await next();
  };
}

function refuse(c: Context<AppEnv>, status: 403 | 421, why: string): Response {
  if (c.req.path === '/auth' || c.req.path.startsWith('/auth/')) {
    return c.json({ error: 'invalid_request', error_description: why }, status, { 'cache-control': 'no-store' });
  }
  return fhirJson(c, outcome('error', 'forbidden', why), status);
}
