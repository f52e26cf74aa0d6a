/**
 * A `Parameters` resource — how FHIR invokes an operation by POST
 * (https://hl7.org/fhir/R4/operations.html#request) — read into the same name/value pairs a
 * GET or a form POST gives, so one operation implementation serves all three. Values are
 * written as their search-style text: primitives as they are, a Coding or CodeableConcept
 * as `system|code`, an Identifier as `system|value`, a Reference as its reference. Anything
 * malformed is a 400 OperationOutcome that names no value the client sent.
 */
import { z } from 'zod';
import { badRequest } from './outcome.ts';

const Coding = z.object({ system: z.string().optional(), code: z.string().optional() });
const token = (c: z.infer<typeof Coding>) => (c.system === undefined ? (c.code ?? '') : `${c.system}|${c.code ?? ''}`);

/** The value[x] types an operation parameter may carry here, and their text. */
const VALUES: ReadonlyArray<[string, z.ZodType, (v: never) => string]> = [
  ['valueString', z.string(), (v: string) => v],
  ['valueId', z.string(), (v: string) => v],
  ['valueCode', z.string(), (v: string) => v],
  ['valueUri', z.string(), (v: string) => v],
  ['valueCanonical', z.string(), (v: string) => v],
  ['valueDate', z.string(), (v: string) => v],
  ['valueDateTime', z.string(), (v: string) => v],
  ['valueInstant', z.string(), (v: string) => v],
  ['valueBoolean', z.boolean(), (v: boolean) => String(v)],
  ['valueInteger', z.number().int(), (v: number) => String(v)],
  ['valueCoding', Coding, token],
  ['valueCodeableConcept', z.object({ coding: z.array(Coding).min(1) }), (v: { coding: z.infer<typeof Coding>[] }) => (v.coding[0] ? token(v.coding[0]) : '')],
  ['valueIdentifier', z.object({ system: z.string().optional(), value: z.string() }), (v: { system?: string; value: string }) => (v.system === undefined ? v.value : `${v.system}|${v.value}`)],
  ['valueReference', z.object({ reference: z.string() }), (v: { reference: string }) => v.reference],
];

const ParametersSchema = z.object({
  resourceType: z.literal('Parameters'),
  // How many is the caps' business (fhir/search/caps.ts), counted with the URL's; the body's size is limited as it arrives.
  parameter: z.array(z.record(z.string(), z.unknown())).optional(),
});

/** The pairs of a Parameters resource; throws a 400 FhirError for anything it cannot read. */
export function parametersToPairs(body: unknown): [string, string][] {
  const parsed = ParametersSchema.safeParse(body);
  if (!parsed.success) throw badRequest('The body must be a FHIR Parameters resource');
  return (parsed.data.parameter ?? []).map((p, i) => {
    const at = `Parameters.parameter[${i}]`;
    if (typeof p.name !== 'string' || p.name === '') throw badRequest(`${at} needs a name`, [at]);
    const keys = Object.keys(p).filter((k) => k.startsWith('value'));
    if (keys.length !== 1 || 'part' in p || 'resource' in p) throw badRequest(`${at} must have exactly one value[x] (no part or resource)`, [at]);
    const key = keys[0] ?? '';
    const type = VALUES.find(([k]) => k === key);
    if (!type) throw badRequest(`${at} has a value type this operation does not take`, [at]);
    const value = type[1].safeParse(p[key]);
    if (!value.success) throw badRequest(`${at} has a malformed ${key}`, [at]);
    return [p.name, (type[2] as (v: unknown) => string)(value.data)];
  });
}
