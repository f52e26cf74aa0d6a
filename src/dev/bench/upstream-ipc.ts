/**
 * The messages between the bench and its upstream process (upstream-child.ts): requests to
 * issue tokens, set an added latency and hand over the recorded calls, and the answers,
 * parsed with zod on arrival in both directions.
 */
import { z } from 'zod';

export const UpstreamRequestSchema = z.discriminatedUnion('op', [
  z.object({ id: z.number().int(), op: z.literal('tokens'), count: z.number().int().min(1).max(1000) }),
  z.object({ id: z.number().int(), op: z.literal('latency'), ms: z.number().int().min(0).max(10_000) }),
  /** The calls recorded since the last `calls`, counted by endpoint (with `detail`: each path and query); then forgotten. */
  z.object({ id: z.number().int(), op: z.literal('calls'), detail: z.boolean() }),
]);
export type UpstreamRequest = z.infer<typeof UpstreamRequestSchema>;

export const CallTallySchema = z.object({
  total: z.number().int(),
  /** Calls not answered 200. */
  failed: z.number().int(),
  byEndpoint: z.record(z.string(), z.number().int()),
  detail: z.array(z.object({ path: z.string(), query: z.record(z.string(), z.string()) })).optional(),
});
export type CallTally = z.infer<typeof CallTallySchema>;

const BenchPatientSchema = z.object({
  patientId: z.number().int(),
  chartNumber: z.string(),
  family: z.string(),
  encounters: z.number().int(),
  ccdBytes: z.number().int(),
});

export const ReadySchema = z.object({
  type: z.literal('ready'),
  apiBaseUrl: z.string().url(),
  fixtures: z.object({
    practiceId: z.string(),
    sixFamily: z.string(),
    patients: z.object({
      fortyFive: BenchPatientSchema,
      threeBy3Mb: BenchPatientSchema,
      tenBy1Mb: BenchPatientSchema,
      paging: BenchPatientSchema,
    }),
  }),
});

export const UpstreamAnswerSchema = z.union([
  z.object({ id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.number().int(), ok: z.literal(false), error: z.string() }),
]);
export type UpstreamAnswer = z.infer<typeof UpstreamAnswerSchema>;

/** The logical endpoint of a sandbox API path, for counting calls without patient values. */
export function endpointOf(path: string): string {
  if (path === '/ehr/api/search') return 'patient-search';
  if (path === '/ehr/api/encounters/categories') return 'encounter-categories';
  if (/^\/ehr\/api\/\d+\/encounters\/search$/.test(path)) return 'encounter-search';
  return 'other';
}
