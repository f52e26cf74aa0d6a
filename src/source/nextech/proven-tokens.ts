/**
 * Passed-through tokens Nextech has accepted, remembered by every replica and across
 * restarts: a token proven once no longer waits in the share that all unproven tokens have
 * together (client.ts), wherever it lands next.
 *
 * What is kept is a keyed hash of the token (HMAC under a key derived from the deployment's
 * secret), never the token: the shared store (Redis) holds nothing a reader could present to
 * Nextech, nor match against a token it guessed. Each entry lives an hour — a Nextech access
 * token's life — and is written again when a token still in use has had half of that.
 *
 * A token Nextech refuses (401) is unproven again at once at the replica that saw the refusal,
 * which marks it so in the store, and at every other replica within LOCAL_TRUST_MS: a replica
 * trusts what it knows of a token only that long before asking the store again. (Any replica
 * that meets the token meanwhile gets its own 401 and forgets it at once.)
 *
 * Bounded: a local memory of at most MAX_LOCAL entries (least recently used first out) in
 * front of the store, whose namespace is bounded (memory) or expires (Redis). Only the store's
 * mark makes a token unproven elsewhere; a store that cannot answer, or no longer holds a token
 * (expired, Redis restarted), leaves what this replica knows: a token it never knew stays
 * unproven (closed by default), and waits in the shared share as before.
 */
import { keyedNames, type KeyedNames } from '../../crypto/keys.ts';
import { ExpiringMap } from '../expiring-map.ts';

/** What the shared store offers here: values with a time to live (src/shared/store.ts). */
export interface ProvenStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
}

export interface ProvenTokensOptions {
  /** The store the replicas share; absent, this process alone remembers. */
  store?: ProvenStore;
  /** The secret the hashes are keyed with (the same on every replica). */
  keyring: string;
  now?: () => number;
  ttlMs?: number;
}

/** Nextech's access tokens live an hour: a token accepted now is expired by then. */
export const PROVEN_TTL_MS = 60 * 60_000;
/** How long a replica trusts what it knows of a token before asking the store again. */
export const LOCAL_TRUST_MS = 60_000;
/** Tokens this process remembers without asking the store. */
export const MAX_LOCAL = 10_000;

/** What this process knows of a proven token (epoch ms). */
interface Known {
  /** Until when it counts as proven. */
  until: number;
  /** Until when that is trusted without asking the store. */
  trusted: number;
}

/** The value a refused token's name holds in the store: proven until the epoch, i.e. not. */
const REFUSED = '0';

export class ProvenTokens {
  readonly #names: KeyedNames;
  readonly #ttlMs: number;
  /** Name → what is known of it, until it stops counting as proven; the least recent go first. */
  readonly #local: ExpiringMap<Known>;

  constructor(private readonly opts: ProvenTokensOptions) {
    // Derived, so the secret itself (which also keys other things) never keys these hashes.
    this.#names = keyedNames(opts.keyring, 'nextech-fhir-facade proven tokens v1');
    this.#ttlMs = opts.ttlMs ?? PROVEN_TTL_MS;
    this.#local = new ExpiringMap(MAX_LOCAL, () => this.#now());
  }

  /** Whether Nextech has accepted `token` (here, at another replica, or before a restart). */
  async has(token: string): Promise<boolean> {
    const name = this.#name(token);
    const now = this.#now();
    const known = this.#local.get(name);
    if (known !== undefined && known.trusted > now) {
      this.#remember(name, known);
      return true;
    }
    const stored = await this.opts.store?.get(name).catch(() => undefined);
    if (stored !== undefined) {
      const until = Number(stored);
      // Refused somewhere (or expired): unproven here too.
      if (!Number.isFinite(until) || until <= now) {
        this.#local.delete(name);
        return false;
      }
      this.#remember(name, { until, trusted: now + LOCAL_TRUST_MS });
      return true;
    }
    // The store knows nothing of it, or cannot answer: what this process knows.
    if (known === undefined) return false;
    this.#remember(name, { until: known.until, trusted: now + LOCAL_TRUST_MS });
    return true;
  }

  /** Nextech accepted `token`: proven for an hour, for every replica (written once per half hour at most). */
  prove(token: string): void {
    const name = this.#name(token);
    const now = this.#now();
    const known = this.#local.get(name);
    if (known !== undefined && known.until - now > this.#ttlMs / 2) {
      this.#remember(name, { until: known.until, trusted: now + LOCAL_TRUST_MS });
      return;
    }
    const until = now + this.#ttlMs;
    this.#remember(name, { until, trusted: now + LOCAL_TRUST_MS });
    this.opts.store?.set(name, String(until), this.#ttlMs).catch(() => undefined);
  }

  /**
   * Nextech refused `token` (401): unproven again here at once, and marked so in the store for
   * every replica. Only a token this process knew as proven (it asks the store before every
   * call) needs a mark; an invented one writes nothing.
   */
  forget(token: string): void {
    const name = this.#name(token);
    if (this.#local.delete(name)) this.opts.store?.set(name, REFUSED, this.#ttlMs).catch(() => undefined);
  }

  /** Tokens remembered locally (for tests and the bound on memory). */
  get size(): number {
    return this.#local.size;
  }

  #name(token: string): string {
    return `proven:${this.#names(token)}`;
  }

  #remember(name: string, known: Known): void {
    this.#local.set(name, known, known.until - this.#now());
  }

  #now(): number {
    return this.opts.now?.() ?? Date.now();
  }
}
