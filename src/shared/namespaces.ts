/**
 * The namespaces of shared-state keys: the part of a key before its first ':' (or the whole
 * key). A memory store bounds each namespace apart (namespaced-memory.ts), so a flood in one —
 * Backend Services `jti`s, SMART sign-ins — cannot crowd out another: SMART codes, the managed
 * Nextech token.
 *
 * The list is fixed here, next to the code that names the keys. Request input (a `jti`, a job
 * id, a practice) only ever follows a prefix the code chose, and a prefix not listed falls into
 * one shared bucket, so no request can make up a namespace and the number of buckets is bounded.
 */

/**
 * 'request': keys made per request (a client decides how many), bounded by the store's size.
 * 'fixed': keys the code names itself, a handful at most; request traffic never writes there,
 * so nothing in them is ever evicted for it.
 */
export type NamespaceKind = 'request' | 'fixed';

const NAMESPACES: ReadonlyMap<string, NamespaceKind> = new Map<string, NamespaceKind>([
  ['smart-code', 'request'], //       SMART authorization codes spent (auth/smart/server.ts)
  ['smart-sign-in', 'request'], //    each sign-in's next refresh token (auth/smart/refresh-families.ts)
  ['backend-jti', 'request'], //      Backend Services assertions spent (auth/backend/replay.ts)
  ['budget', 'request'], //           upstream rate ledgers per credential and endpoint
  ['bulk-job', 'request'], //         the lease of each bulk export job
  ['bulk-cancel', 'request'], //      bulk export jobs cancelled (checked by the runner holding one)
  ['bulk-kickoff', 'request'], //     one kick-off at a time per caller (its count, then its job)
  ['bulk-export', 'request'], //      the export pacer of each credential (the managed token's, each person's)
  ['answer', 'request'], //           shared upstream answers (shared-answers.ts)
  ['proven', 'request'], //           passed-through tokens Nextech accepted, as keyed hashes (source/nextech/proven-tokens.ts)
  ['managed-token', 'fixed'], //      the managed Nextech token record and its refresh lease
]);

/**
 * Namespaces decided in the shared store or not at all: while Redis is unavailable every
 * operation on them is refused (StoreUnavailable) rather than run in the replica's own memory,
 * whose answer another replica would contradict —
 * - a SMART code or a Backend Services assertion spent at one replica would be fresh at the other;
 * - a refresh token rotated at one replica would pass reuse detection at the other, and a
 *   revocation made in one replica's memory would stay there;
 * - two replicas each running the same export job would write the same files.
 * The callers answer "retry shortly" (503 + Retry-After); what needs no such decision (reads
 * with an issued token, the rate budget, the managed token) carries on per replica.
 */
const SHARED_ONLY: ReadonlySet<string> = new Set(['smart-code', 'smart-sign-in', 'backend-jti', 'bulk-job', 'bulk-kickoff']);

export const sharedOnly = (key: string): boolean => SHARED_ONLY.has(namespaceOf(key));

/** The bucket of every key whose prefix is not listed. */
export const OTHER_NAMESPACE = '*';

/** Entries a 'fixed' namespace holds: far above the few keys the code puts there. */
export const FIXED_NAMESPACE_ENTRIES = 64;

/** The namespace `key` is bounded in: its listed prefix, else OTHER_NAMESPACE. */
export function namespaceOf(key: string): string {
  const colon = key.indexOf(':');
  const prefix = colon < 0 ? key : key.slice(0, colon);
  return NAMESPACES.has(prefix) ? prefix : OTHER_NAMESPACE;
}

/** How many entries the namespace holds, given the store's bound for request-made keys. */
export function namespaceEntries(namespace: string, requestEntries: number): number {
  return NAMESPACES.get(namespace) === 'fixed' ? FIXED_NAMESPACE_ENTRIES : requestEntries;
}
