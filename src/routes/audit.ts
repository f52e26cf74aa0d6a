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
): void {
  const ids =
    isBundle(result)
      ? (result.entry ?? []).flatMap((e) => (e.resource?.id ? [`${e.resource.resourceType}/${e.resource.id}`] : []))
      : [`${result.resourceType}/${result.id ?? ''}`];
  c.var.audit.info({ caller: c.var.caller, practice: c.var.fhirBase.practiceId, interaction, resourceType, ids }, 'audit');
}

const isBundle = (r: { resourceType: string }): r is Bundle => r.resourceType === 'Bundle';
