/**
 * The namespaces of shared-state keys: the part of a key before its first ':' (or the whole
 * key). Each is listed here, next to the code that names its keys, with two facts about it:
 *
 * - its bound in memory: a memory store bounds each namespace apart (namespaced-memory.ts), so a
 *   flood in one — Backend Services `jti`s, SMART sign-ins — cannot crowd out another: SMART
 *   codes, the managed Nextech token;
 * - whether a replica may act on its keys alone while the shared store cannot answer (Redis
 *   away, a cluster primary not answering). Only namespaces listed as `alone` may: everything
 *   else — a namespace not listed, a prefix misspelt, one added without a line here — is
 *   refused (StoreUnavailable) during an outage, never decided in one replica's memory.
 *
 * Request input (a `jti`, a job id, a practice) only ever follows a prefix the code chose, and
 * a prefix not listed falls into one shared bucket, so no request can make up a namespace and
 * the number of buckets is bounded.
 */

/**
 * 'request': keys made per request (a client decides how many), bounded by the store's size.
 * 'fixed': keys the code names itself, a handful at most; request traffic never writes there,
 * so nothing in them is ever evicted for it.
 */
export type NamespaceKind = 'request' | 'fixed';

/**
 * What a replica does with a namespace's keys while the shared store cannot answer:
 * 'alone': uses its own memory — for what one replica may decide for itself (its share of the
 *   rate budget, its copy of the managed token, what it knows of a token Nextech accepted);
 * 'refuse': nothing (StoreUnavailable; the caller answers "retry shortly") — for what must be
 *   single-use or known to every replica, whose answer another replica would contradict: a SMART
 *   code or an assertion spent at one replica would be fresh at the other, a refresh token
 *   rotated at one would pass reuse detection at the other, two replicas would run one export.
 */
export type WhenAway = 'alone' | 'refuse';

interface Namespace {
  kind: NamespaceKind;
  whenAway: WhenAway;
}

const NAMESPACES: ReadonlyMap<string, Namespace> = new Map<string, Namespace>([
  // SMART authorization codes spent (auth/smart/server.ts)
  ['smart-code', { kind: 'request', whenAway: 'refuse' }],
  // each sign-in's next refresh token, or its revocation (auth/smart/refresh-families.ts)
  ['smart-sign-in', { kind: 'request', whenAway: 'refuse' }],
  // Backend Services assertions spent (auth/backend/replay.ts)
  ['backend-jti', { kind: 'request', whenAway: 'refuse' }],
  // Redis only: each registered client's live claims in a namespace (redis-store.ts, CLAIM)
  ['claims-by-owner', { kind: 'request', whenAway: 'refuse' }],
  // upstream rate ledgers per credential and endpoint (source/nextech/client.ts): alone, a
  // replica takes 1/REPLICAS of the budget
  ['budget', { kind: 'request', whenAway: 'alone' }],
  // the lease of each bulk export job (bulk/job-lease.ts)
  ['bulk-job', { kind: 'request', whenAway: 'refuse' }],
  // bulk export jobs cancelled (bulk/export-runner.ts; the job's folder goes too)
  ['bulk-cancel', { kind: 'request', whenAway: 'alone' }],
  // one kick-off at a time per caller (bulk/export-access.ts)
  ['bulk-kickoff', { kind: 'request', whenAway: 'refuse' }],
  // the export pacer of each credential (bulk/job-context.ts): alone, a replica's own pace
  ['bulk-export', { kind: 'request', whenAway: 'alone' }],
  // shared upstream answers (shared-answers.ts: shared or not at all, an outage is a miss)
  ['answer', { kind: 'request', whenAway: 'refuse' }],
  // Redis only: the shared answers' ledgers per caller and in all (redis-store.ts, KEEP_WITHIN)
  ['answer-quota', { kind: 'request', whenAway: 'refuse' }],
  // passed-through tokens Nextech accepted, as keyed hashes (source/nextech/proven-tokens.ts)
  ['proven', { kind: 'request', whenAway: 'alone' }],
  // the managed Nextech token record and its refresh lease (auth/managed-token.ts)
  ['managed-token', { kind: 'fixed', whenAway: 'alone' }],
]);

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
  return NAMESPACES.get(namespace)?.kind === 'fixed' ? FIXED_NAMESPACE_ENTRIES : requestEntries;
}

/**
 * Whether a replica may act on `key` in its own memory while the shared store cannot answer:
 * only for a namespace listed as 'alone'. Closed by default: an unlisted one may not.
 */
export function mayActAlone(key: string): boolean {
  return NAMESPACES.get(namespaceOf(key))?.whenAway === 'alone';
}
