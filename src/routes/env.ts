/**
 * The Hono environment shared by the app's middleware and routes: what each request knows
 * about itself after the FHIR-base middleware has run.
 */
import type { Logger } from 'pino';
import type { FhirError } from '../fhir/outcome.ts';

export interface FhirBase {
  /** This request's FHIR base URL (absolute, no trailing slash). */
  baseUrl: string;
  practiceId?: string;
  /** Why no practice could be determined; thrown when a route needs one. */
  practiceError?: FhirError;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    log: Logger;
    /** One line per FHIR interaction: who, practice, what, which ids (routable on its own). */
    audit: Logger;
    fhirBase: FhirBase;
    /**
     * Where the request comes from (routes/client-source.ts): the peer's address, or the
     * client a trusted proxy forwarded; an IPv6 source is its /64. Never logged.
     */
    source?: string;
    /** Non-reversible fingerprint of the caller, once known. */
    caller?: string;
    /** Names (never values) of the query parameters, for the access log. */
    paramNames?: string[];
    /** Gives back what the request held of the document memory, once its response is built. */
    releaseMemory?: () => void;
  };
}
