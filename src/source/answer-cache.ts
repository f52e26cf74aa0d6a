/**
 * Upstream answers reused for a short TTL, by key: the first asker's call is shared by
 * everyone asking meanwhile and after, until it expires; a failed call is forgotten at once.
 * Bounded in entries and, when answers are weighed, in total weight (an answer heavier than
 * `maxEntryWeight` is used once and not kept); the oldest answers go first. Keys are built
 * by the caller and always include practice and caller, so nothing is shared between them.
 */

export interface AnswerCacheOptions<V> {
  ttlMs: number;
  maxEntries: number;
  /** What an answer weighs (e.g. its rows); unweighed answers weigh nothing. */
  weigh?: (answer: V) => number;
  maxWeight?: number;
  maxEntryWeight?: number;
  now?: () => number;
  onReuse?: () => void;
}

interface Entry<V> {
  expires: number;
  answer: Promise<V>;
  weight: number;
}

export class AnswerCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  #weight = 0;
  /** Calls made and answers reused, for tests. */
  readonly stats = { fetches: 0, reused: 0 };

  constructor(private readonly opts: AnswerCacheOptions<V>) {}

  /** Total weight of the answers held. */
  get weight(): number {
    return this.#weight;
  }

  /**
   * The answer for `key`: reused, or from `fetch`. `fetch(kept)` learns whether its answer
   * will be kept for others (then it must not be cancelled by this asker leaving).
   */
  get(key: string, fetch: (kept: boolean) => Promise<V>): Promise<V> {
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (hit && hit.expires > now) {
      this.stats.reused++;
      this.opts.onReuse?.();
      return hit.answer;
    }
    this.stats.fetches++;
    if (this.opts.ttlMs <= 0) return fetch(false);
    // Drop expired answers, so keys that never come back do not pile up.
    for (const [k, e] of this.#entries) if (e.expires <= now) this.#drop(k);
    const entry: Entry<V> = { expires: now + this.opts.ttlMs, answer: fetch(true), weight: 0 };
    this.#drop(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.opts.maxEntries) this.#dropOldest();
    entry.answer.then(
      (answer) => this.#weighIn(key, entry, answer),
      () => {
        if (this.#entries.get(key) === entry) this.#drop(key);
      },
    );
    return entry.answer;
  }

  #weighIn(key: string, entry: Entry<V>, answer: V): void {
    if (this.#entries.get(key) !== entry || !this.opts.weigh) return;
    const weight = this.opts.weigh(answer);
    if (weight > (this.opts.maxEntryWeight ?? Infinity)) return this.#drop(key);
    entry.weight = weight;
    this.#weight += weight;
    while (this.#weight > (this.opts.maxWeight ?? Infinity) && this.#dropOldest());
  }

  #drop(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#entries.delete(key);
    this.#weight -= e.weight;
  }

  #dropOldest(): boolean {
    const oldest = this.#entries.keys().next().value;
    if (oldest === undefined) return false;
    this.#drop(oldest);
    return true;
  }

  #now(): number {
    return this.opts.now?.() ?? Date.now();
  }
}

/** A call whose answer is kept for others: it must not be cancelled by its first asker leaving (it has its own deadline). */
export function unbound<C extends { signal?: AbortSignal }>(call: C): Omit<C, 'signal'> {
  const { signal: _signal, ...rest } = call;
  return rest;
}
