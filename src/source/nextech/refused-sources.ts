/**
 * Where invented tokens come from: the sources (an IPv4 address, an IPv6 /64) whose
 * passed-through token Nextech has just refused. In the shared share of unproven tokens these
 * sources queue together, in one lane, instead of each in its own: a flood of made-up bearers
 * spread over many addresses then takes one turn per round, like a single caller, and a
 * newcomer from anywhere else waits at most that one turn — however many addresses the
 * flood uses. A caller whose own token expired lands there too, for a while; it is still
 * served, in turn with the others, and its next accepted token leaves it.
 *
 * An IPv6 source is remembered by its /48 (a site's allocation): an attacker rotating through
 * the /64s of one site finds each of them already refused. Bounded: at most `maxEntries`
 * sources, the least recently refused first out; an entry lasts `ttlMs`.
 */
import { ExpiringMap } from '../expiring-map.ts';

export interface RefusedSourcesOptions {
  /** How long a refused source queues with the refused (default 60 s). */
  ttlMs?: number;
  /** Sources remembered at most (default 10,000). */
  maxEntries?: number;
  now?: () => number;
}

const DEFAULT_TTL_MS = 60_000;
const DEFAULT_MAX_ENTRIES = 10_000;

export class RefusedSources {
  readonly #refused: ExpiringMap<true>;
  readonly #ttlMs: number;

  constructor(opts: RefusedSourcesOptions = {}) {
    this.#ttlMs = opts.ttlMs ?? DEFAULT_TTL_MS;
    this.#refused = new ExpiringMap(opts.maxEntries ?? DEFAULT_MAX_ENTRIES, opts.now ?? Date.now);
  }

  /** Nextech refused a token `source` passed through. */
  refused(source: string): void {
    this.#refused.set(siteOf(source), true, this.#ttlMs);
  }

  /** Whether a token from `source` was refused lately. */
  has(source: string): boolean {
    return this.#refused.get(siteOf(source)) === true;
  }

  /** Sources remembered now (for tests). */
  get size(): number {
    return this.#refused.size;
  }
}

/** An IPv6 source (`a:b:c:d::/64`) as its /48; an IPv4 address as itself. */
function siteOf(source: string): string {
  if (!source.includes(':')) return source;
  const groups = source.split(':');
  return `${groups.slice(0, 3).join(':')}::/48`;
}
