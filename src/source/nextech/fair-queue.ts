/**
 * Per-caller FIFO lanes served round-robin: the waiting room of one rate budget. Each
 * caller key has its own lane, every lane with someone waiting gets one turn per round,
 * and a lane that empties is dropped at once, so an idle caller leaves nothing behind.
 * Both dimensions are bounded, because caller keys come from requests: a lane holds at
 * most `maxPerLane` items, and at most `maxLanes` callers have lanes of their own — callers
 * beyond that share one overflow lane, which takes its turn like any single caller.
 */

/** The lane shared by callers beyond the cap (door identities never contain a NUL). */
export const OVERFLOW_LANE = '\u0000overflow';

export interface FairQueueOptions {
  /** Items one lane may hold. */
  maxPerLane: number;
  /** Callers with a lane of their own; more share the overflow lane. */
  maxLanes: number;
}

/** Where a caller's next item would go. */
export interface Placement {
  lane: string;
  /** Its place in that lane, 1 = next in line for the lane's turn. */
  position: number;
  /** Lanes taking turns once it is in: the caller's share of the rate is 1 / lanes. */
  lanes: number;
  /** The lane already holds `maxPerLane` items. */
  full: boolean;
}

export class FairQueue<T> {
  /** Insertion order is the round-robin order: the first lane has the next turn. */
  readonly #lanes = new Map<string, T[]>();
  #size = 0;

  constructor(private readonly opts: FairQueueOptions) {}

  /** Items waiting, over all lanes. */
  get size(): number {
    return this.#size;
  }

  /** Lanes with someone waiting (the overflow lane included). */
  get lanes(): number {
    return this.#lanes.size;
  }

  /** Where `caller`'s next item would go; nothing changes. */
  place(caller: string): Placement {
    const lane = this.#laneFor(caller);
    const items = this.#lanes.get(lane);
    const length = items?.length ?? 0;
    return { lane, position: length + 1, lanes: this.#lanes.size + (items ? 0 : 1), full: length >= this.opts.maxPerLane };
  }

  /** Appends to a lane that `place` named (the caller is not asked again: the cap may have moved). */
  push(lane: string, item: T): void {
    const items = this.#lanes.get(lane);
    if (items) items.push(item);
    else this.#lanes.set(lane, [item]);
    this.#size++;
  }

  /** The next item in round-robin order: the head of the lane whose turn it is. */
  shift(): T | undefined {
    for (const [lane, items] of this.#lanes) {
      const item = items.shift();
      // Its turn is over: to the back of the round, or gone when empty.
      this.#lanes.delete(lane);
      if (items.length > 0) this.#lanes.set(lane, items);
      if (item === undefined) continue;
      this.#size--;
      return item;
    }
    return undefined;
  }

  /** Takes an item out of its lane (a caller who left); false if it was not waiting. */
  remove(lane: string, item: T): boolean {
    const items = this.#lanes.get(lane);
    const at = items?.indexOf(item) ?? -1;
    if (!items || at < 0) return false;
    items.splice(at, 1);
    if (items.length === 0) this.#lanes.delete(lane);
    this.#size--;
    return true;
  }

  #laneFor(caller: string): string {
    if (this.#lanes.has(caller)) return caller;
    const own = this.#lanes.size - (this.#lanes.has(OVERFLOW_LANE) ? 1 : 0);
    return own < this.opts.maxLanes ? caller : OVERFLOW_LANE;
  }
}
