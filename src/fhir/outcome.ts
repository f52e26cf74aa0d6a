/**
 * FHIR errors as data: `FhirError` carries an HTTP status and the OperationOutcome the
 * client will see. One error handler in app.ts turns anything thrown into an outcome, so
 * code anywhere can `throw invalidParam(...)` and never build a response by hand.
 *
 * Diagnostics are written for the caller and must never contain upstream bodies, tokens,
 * stack traces or patient data (see README "PHI").
 */
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

export type IssueSeverity = OperationOutcomeIssue['severity'];
/** http://hl7.org/fhir/R4/valueset-issue-type.html */
export type IssueCode = OperationOutcomeIssue['code'];

export class FhirError extends Error {
  constructor(
    readonly status: number,
    readonly outcome: OperationOutcome,
    /** Extra response headers, e.g. Retry-After or WWW-Authenticate. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(outcome.issue[0]?.diagnostics ?? 'FHIR error');
    this.name = 'FhirError';
  }
}

/** An OperationOutcome with one issue. `expression` names the offending parameter(s). */
export function outcome(
  severity: IssueSeverity,
  code: IssueCode,
  diagnostics: string,
  expression?: string[],
): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity, code, diagnostics };
  if (expression && expression.length > 0) issue.expression = expression;
  return { resourceType: 'OperationOutcome', issue: [issue] };
}

export const badRequest = (diagnostics: string, expression?: string[]) =>
  new FhirError(400, outcome('error', 'invalid', diagnostics, expression));

/** A search parameter's value (or the parameter itself) cannot be used. */
export const invalidParam = (name: string, why: string) =>
  new FhirError(400, outcome('error', 'invalid', `${name}: ${why}`, [name]));

/** No such resource. The id is not echoed: ids here carry chart numbers. */
export const notFound = (resourceType: string) =>
  new FhirError(404, outcome('error', 'not-found', `No ${resourceType} with this id is known`));

export const notSupported = (status: number, diagnostics: string) =>
  new FhirError(status, outcome('error', 'not-supported', diagnostics));

/** The search cannot be answered without more selective parameters. */
export const tooCostly = (diagnostics: string, expression?: string[]) =>
  new FhirError(400, outcome('error', 'too-costly', diagnostics, expression));
