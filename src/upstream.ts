/**
 * The Nextech the service talks to, as one value: where its API is, how the service signs
 * in to it, and which practice a bare `/fhir` base serves. The production entry builds it
 * from configuration (`upstreamFromConfig`); the development entry (src/dev.ts) builds it
 * from the embedded sandbox it starts, and adds the conveniences of a local Nextech as
 * data and callbacks (`dev`). The service itself never starts or imports a sandbox.
 */
import type { Config, ManagedCredentials, SmartClient } from './config.ts';

/** The service's registration at Nextech's OAuth, which SMART users sign in through. */
export type NextechOAuthRegistration = NonNullable<Config['nextechOAuth']>;

export interface Upstream {
  /** The Nextech EHR API base, no trailing slash, e.g. https://saas.nextech-api.com/ehr/api */
  baseUrl: string;
  /** The service's own Nextech credentials (managed mode). */
  managed?: ManagedCredentials;
  /** The OAuth registration the SMART broker signs users in with. */
  oauth?: NextechOAuthRegistration;
  /** Nextech's interactive authorize (login) endpoint, for SMART. */
  authorizeUrl?: string;
  /** The practice a bare `/fhir` base serves. */
  defaultPracticeId?: string;
  /** Only for a local development Nextech (the embedded sandbox); never set in production. */
  dev?: DevNextech;
}

/**
 * What a local development Nextech offers so that SMART works out of the box: a demo app, a
 * login page that accepts our callback, and keys generated per process when SMART_KEY and
 * SMART_SIGNING_KEY are not configured (tokens do not outlive the process, which is fine
 * for a development run and never acceptable in production).
 */
export interface DevNextech {
  /** What the start-up banner calls it, e.g. `embedded sandbox at … (practices 1001, 1002; default 1001)`. */
  description: string;
  /** A search worth trying on its data, relative to the FHIR base. */
  example: string;
  /** How to sign in at its login page, shown next to SMART on the banner. */
  login: string;
  /** The SMART app registered when SMART_CLIENTS is not set. */
  demoSmartClient: SmartClient;
  /** Lets its login page send users back to this SMART callback. */
  registerRedirectUri(uri: string): void;
}

/** The configured Nextech (NEXTECH_BASE_URL and its credentials); throws when none is configured. */
export function upstreamFromConfig(config: Readonly<Config>): Upstream {
  if (config.nextechBaseUrl === undefined) {
    throw new Error('No Nextech configured: set NEXTECH_BASE_URL (npm start runs the service on the embedded sandbox instead)');
  }
  return {
    baseUrl: config.nextechBaseUrl,
    ...(config.managed ? { managed: config.managed } : {}),
    ...(config.nextechOAuth ? { oauth: config.nextechOAuth } : {}),
    ...(config.smart?.nextechAuthorizeUrl ? { authorizeUrl: config.smart.nextechAuthorizeUrl } : {}),
    ...(config.defaultPracticeId ? { defaultPracticeId: config.defaultPracticeId } : {}),
  };
}
