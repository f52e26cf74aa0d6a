/**
 * What the logs may say about a FHIR interaction: the names (never values) of the query
 * parameters for the access log, and one audit line per interaction — who (a caller
 * fingerprint), which practice, what, and the ids returned — routable on its own.
 */
import type { Bundle, FhirResource } from 'fhir/r4';
import type { Context } from 'hono';
import type { AppEnv } from './env.ts';

/** Records the parameter names for the access log; names this server does not know are not logged (they could be anything). */
export function noteParams(c: Context<AppEnv>, pairs: ReadonlyArray<readonly [string, string]>, known: ReadonlySet<string>): void {
  const names = pairs.map(([k]) => k.split(':')[0] ?? '').map((k) => (known.has(k) ? k : '(other)'));
  c.set('paramNames', [...new Set(names)]);
}

/** One audit line per FHIR interaction: who, which practice, what, and the ids returned. */
export function auditLine(
  c: Context<AppEnv>,
  interaction: string,
  resourceType: string,
  // What was answered: a resource, a bundle, or the type and id of a raw representation.
  result: FhirResource | { resourceType: string; id: string },
  details: AuditDetails = {},
): void {
  const ids =
    isBundle(result)
      ? (result.entry ?? []).flatMap((e) => (e.resource?.id ? [`${e.resource.resourceType}/${e.resource.id}`] : []))
      : [`${result.resourceType}/${result.id ?? ''}`];
  auditAccess(c, interaction, resourceType, { ...details, ids });
}

/**
 * What an audit line may add besides ids: opaque job ids, file names, counts and outcomes
 * the server made up — never anything a client sent or a record holds.
 */
export interface AuditDetails {
  /** A bulk export job's id (the last segment of its status URL). */
  job?: string;
  /** A bulk export file's name (`Patient-1.ndjson`). */
  file?: string;
  /** Resources answered (or exported so far). */
  resources?: number;
  /** How it ended when it did not answer what was asked (e.g. `integrity-check-failed`). */
  outcome?: string;
  /** Resource ids, as `Type/id`. */
  ids?: string[];
}

/** The audit line of an interaction that answers no resource of its own (bulk export status, manifest, files). */
export function auditAccess(c: Context<AppEnv>, interaction: string, resourceType: string, details: AuditDetails): void {
  c.var.audit.info({ caller: c.var.caller, practice: c.var.fhirBase.practiceId, interaction, resourceType, ...details }, 'audit');
}

const isBundle = (r: { resourceType: string }): r is Bundle => r.resourceType === 'Bundle';
