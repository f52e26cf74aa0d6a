/**
 * A map whose entries expire, bounded in entries: at most `maxEntries`, the least recently
 * set first out; an entry past its expiry is gone when read. The one shape of the small
 * per-process memories keyed by request input (refused sources, record failures, proven
 * tokens), so none of them can grow without bound.
 */
export class ExpiringMap<V> {
  /** Key → value and expiry (epoch ms); insertion order is the order they were set. */
  readonly #entries = new Map<string, { value: V; expires: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The value of `key`, unless absent or expired. */
  get(key: string): V | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    if (hit.expires > this.now()) return hit.value;
    this.#entries.delete(key);
    return undefined;
  }

  /** Sets `key` for `ttlMs` from now, as the most recent entry. */
  set(key: string, value: V, ttlMs: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires: this.now() + ttlMs });
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  delete(key: string): boolean {
    return this.#entries.delete(key);
  }

  /** Entries held, expired ones not yet read included. */
  get size(): number {
    return this.#entries.size;
  }
}
