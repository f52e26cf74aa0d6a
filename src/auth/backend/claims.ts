/**
 * What a Backend Services access token carries, sealed as kind `system`: the client, the
 * scope it was granted and the practices it may read. Short keys keep the token compact.
 */
import { z } from 'zod';

const SystemClaimsSchema = z.object({
  /** The Backend Services client id. */
  cid: z.string().min(1),
  /** The granted scope, SMART v2 text (`system/...` read/search scopes only). */
  scope: z.string().min(1),
  /** The practices the token may read (the client's registration at issue time). */
  pracs: z.array(z.string()),
  /** Expiry, epoch seconds (the sealer's authenticated expiry). */
  exp: z.number(),
});

/** The claims inside a `system` access token. */
export type SystemClaims = z.infer<typeof SystemClaimsSchema>;

/** The claims when `value` has the shape a `system` token carries, else undefined. */
export function asSystemClaims(value: unknown): SystemClaims | undefined {
  const parsed = SystemClaimsSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
