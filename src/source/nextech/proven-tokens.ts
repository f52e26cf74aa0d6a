/**
 * Passed-through tokens Nextech has accepted, remembered by every replica and across
 * restarts: a token proven once no longer waits in the share that all unproven tokens have
 * together (client.ts), wherever it lands next.
 *
 * What is kept is a keyed hash of the token (HMAC under a key derived from the deployment's
 * secret), never the token: the shared store (Redis) holds nothing a reader could present to
 * Nextech, nor match against a token it guessed. Each entry lives an hour — a Nextech access
 * token's life — and is written again when a token still in use has had half of that; a token
 * Nextech refuses is marked unproven at once. Bounded: a local memory of at most MAX_LOCAL
 * entries (least recently used first out) in front of the store, whose namespace is bounded
 * (memory) or expires (Redis). A store that cannot answer leaves a token unproven: closed by
 * default, it then waits in the shared share as before.
 */
import { keyedNames, type KeyedNames } from '../../crypto/keys.ts';

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
/** Tokens this process remembers without asking the store. */
export const MAX_LOCAL = 10_000;

export class ProvenTokens {
  readonly #names: KeyedNames;
  readonly #ttlMs: number;
  /** Name → until when it counts as proven (epoch ms); insertion order is recency. */
  readonly #local = new Map<string, number>();

  constructor(private readonly opts: ProvenTokensOptions) {
    // Derived, so the secret itself (which also keys other things) never keys these hashes.
    this.#names = keyedNames(opts.keyring, 'nextech-fhir-facade proven tokens v1');
    this.#ttlMs = opts.ttlMs ?? PROVEN_TTL_MS;
  }

  /** Whether Nextech has accepted `token` (here, at another replica, or before a restart). */
  async has(token: string): Promise<boolean> {
    const name = this.#name(token);
    const now = this.#now();
    const until = this.#local.get(name);
    if (until !== undefined && until > now) {
      this.#remember(name, until);
      return true;
    }
    if (until !== undefined) this.#local.delete(name);
    const stored = await this.opts.store?.get(name).catch(() => undefined);
    const storedUntil = Number(stored);
    if (!Number.isFinite(storedUntil) || storedUntil <= now) return false;
    this.#remember(name, storedUntil);
    return true;
  }

  /** Nextech accepted `token`: proven for an hour, for every replica (written once per half hour at most). */
  prove(token: string): void {
    const name = this.#name(token);
    const now = this.#now();
    const until = this.#local.get(name);
    if (until !== undefined && until - now > this.#ttlMs / 2) {
      this.#remember(name, until);
      return;
    }
    this.#remember(name, now + this.#ttlMs);
    this.opts.store?.set(name, String(now + this.#ttlMs), this.#ttlMs).catch(() => undefined);
  }

  /** Nextech refused `token` (401): unproven again, everywhere. */
  forget(token: string): void {
    const name = this.#name(token);
    const known = this.#local.delete(name);
    // Only a token that was proven needs a mark; an invented one writes nothing.
    if (known) this.opts.store?.set(name, '0', this.#ttlMs).catch(() => undefined);
  }

  /** Tokens remembered locally (for tests and the bound on memory). */
  get size(): number {
    return this.#local.size;
  }

  #name(token: string): string {
    return `proven:${this.#names(token)}`;
  }

  #remember(name: string, until: number): void {
    this.#local.delete(name);
    this.#local.set(name, until);
    if (this.#local.size > MAX_LOCAL) {
      const oldest = this.#local.keys().next().value;
      if (oldest !== undefined) this.#local.delete(oldest);
    }
  }

  #now(): number {
    return this.opts.now?.() ?? Date.now();
  }
}
