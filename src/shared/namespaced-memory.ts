/**
 * A BoundedMemory per key namespace (namespaces.ts): each namespace fills, sweeps and evicts
 * (or refuses) within its own bound, so entries of one never push out, or lock out, another's.
 * Buckets are made on first use, and there are at most as many as listed namespaces plus one.
 */
import { BoundedMemory } from '../auth/bounded-memory.ts';
import { namespaceEntries, namespaceOf } from './namespaces.ts';

export class NamespacedMemory<V> {
  readonly #buckets = new Map<string, BoundedMemory<V>>();

  constructor(
    /** The bound of each namespace of request-made keys. */
    private readonly entries: number,
    private readonly whenFull: 'evict' | 'refuse',
    private readonly now: () => number,
  ) {}

  get(key: string): V | undefined {
    return this.#bucket(key).get(key);
  }

  has(key: string): boolean {
    return this.#bucket(key).has(key);
  }

  /** Remembers `value` until `expires` (epoch ms); false when the key's namespace is full and refusing. */
  set(key: string, value: V, expires: number): boolean {
    return this.#bucket(key).set(key, value, expires);
  }

  #bucket(key: string): BoundedMemory<V> {
    const ns = namespaceOf(key);
    let bucket = this.#buckets.get(ns);
    if (!bucket) {
      bucket = new BoundedMemory<V>(namespaceEntries(ns, this.entries), this.whenFull, this.now);
      this.#buckets.set(ns, bucket);
    }
    return bucket;
  }
}
