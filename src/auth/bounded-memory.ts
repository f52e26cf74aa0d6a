/**
 * A small memory of keys until each one's expiry, bounded in size, for state the auth
 * servers must keep per replica: spent authorization codes, finished logins, replayed `jti`s.
 * Expired entries are swept as new ones arrive. When it is full of live entries it either
 * forgets the oldest (`evict`: the memory only improves a page) or refuses to remember
 * (`refuse`: forgetting would let a single-use value be used twice).
 */
export class BoundedMemory<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();

  constructor(
    private readonly max: number,
    private readonly whenFull: 'evict' | 'refuse',
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  /** Forgets the entries whose time has passed; answers how many live ones are left. */
  prune(): number {
    const now = this.now();
    for (const [k, e] of this.#entries) if (e.expires <= now) this.#entries.delete(k);
    return this.#entries.size;
  }

  /** The live value under `key`, if any. */
  get(key: string): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Remembers `value` until `expires` (epoch ms); false when full and refusing. */
  set(key: string, value: V, expires: number): boolean {
    if (this.#entries.size >= this.max) this.prune();
    if (this.#entries.size >= this.max && !this.#entries.has(key)) {
      if (this.whenFull === 'refuse') return false;
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires });
    return true;
  }
}
