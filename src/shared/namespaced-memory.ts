/**
 * A BoundedMemory per key namespace (namespaces.ts): each namespace fills, sweeps and evicts
 * (or refuses) within its own bound, so entries of one never push out, or lock out, another's.
 * Buckets are made on first use, and there are at most as many as listed namespaces plus one.
 *
 * Keys given with a ClaimQuota live in a bucket of their owner's (a registered client's) within
 * the namespace, bounded by the quota: one client's flood of assertions fills its own share, and
 * every other client keeps its room. Owners are checked before any claim (a verified client id),
 * and their buckets are bounded in number too.
 */
import { BoundedMemory } from '../auth/bounded-memory.ts';
import { namespaceEntries, namespaceOf } from './namespaces.ts';
import type { ClaimQuota } from './store.ts';

/** Owners' buckets held at once, over every namespace: far above the clients an operator registers. */
export const MAX_OWNERS = 1024;

export class NamespacedMemory<V> {
  readonly #buckets = new Map<string, BoundedMemory<V>>();
  /** The buckets of owners, by JSON [namespace, owner]. */
  readonly #owned = new Map<string, BoundedMemory<V>>();

  constructor(
    /** The bound of each namespace of request-made keys. */
    private readonly entries: number,
    private readonly whenFull: 'evict' | 'refuse',
    private readonly now: () => number,
  ) {}

  get(key: string, quota?: ClaimQuota): V | undefined {
    return this.#bucket(key, quota)?.get(key);
  }

  has(key: string, quota?: ClaimQuota): boolean {
    return this.#bucket(key, quota)?.has(key) ?? false;
  }

  /**
   * Remembers `value` until `expires` (epoch ms); false when the key's namespace — or its owner's
   * share of it — is full and refusing, or no room is left for another owner.
   */
  set(key: string, value: V, expires: number, quota?: ClaimQuota): boolean {
    return this.#bucket(key, quota, true)?.set(key, value, expires) ?? false;
  }

  #bucket(key: string, quota?: ClaimQuota, make = false): BoundedMemory<V> | undefined {
    const ns = namespaceOf(key);
    if (quota) return this.#ownerBucket(ns, quota, make);
    let bucket = this.#buckets.get(ns);
    if (!bucket) {
      bucket = new BoundedMemory<V>(namespaceEntries(ns, this.entries), this.whenFull, this.now);
      this.#buckets.set(ns, bucket);
    }
    return bucket;
  }

  #ownerBucket(ns: string, quota: ClaimQuota, make: boolean): BoundedMemory<V> | undefined {
    const id = JSON.stringify([ns, quota.owner]);
    const found = this.#owned.get(id);
    if (found || !make) return found;
    // Owners whose entries have all expired make room for a new one.
    if (this.#owned.size >= MAX_OWNERS) for (const [k, b] of this.#owned) if (b.prune() === 0) this.#owned.delete(k);
    if (this.#owned.size >= MAX_OWNERS) return undefined;
    const bucket = new BoundedMemory<V>(Math.max(1, Math.min(quota.max, namespaceEntries(ns, this.entries))), this.whenFull, this.now);
    this.#owned.set(id, bucket);
    return bucket;
  }
}
