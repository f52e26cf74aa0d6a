/**
 * The recent calls of one circuit (breaker.ts): when each ended, whether it was a health
 * failure, and whose it was (a hashed subject). Fixed-size typed arrays used as a ring, so a
 * circuit's memory never grows with traffic.
 */

/** Calls one circuit remembers at most: under heavy traffic the window is the last this many. */
export const WINDOW_CALLS = 128;

/** The last calls of one circuit: when, whether a health failure, and whose. Fixed size. */
export class CallWindow {
  readonly #at = new Float64Array(WINDOW_CALLS);
  readonly #subject = new Int32Array(WINDOW_CALLS);
  readonly #failed = new Uint8Array(WINDOW_CALLS);
  #next = 0;
  #size = 0;

  add(at: number, failed: boolean, subject: number): void {
    this.#at[this.#next] = at;
    this.#failed[this.#next] = failed ? 1 : 0;
    this.#subject[this.#next] = subject;
    this.#next = (this.#next + 1) % WINDOW_CALLS;
    this.#size = Math.min(this.#size + 1, WINDOW_CALLS);
  }

  clear(): void {
    this.#next = 0;
    this.#size = 0;
  }

  /** Calls, health failures and distinct failing subjects since `since`. */
  tally(since: number): { calls: number; failures: number; subjects: number } {
    let calls = 0;
    let failures = 0;
    const subjects = new Set<number>();
    for (let i = 0; i < this.#size; i++) {
      if ((this.#at[i] ?? 0) < since) continue;
      calls++;
      if (this.#failed[i] === 1) {
        failures++;
        subjects.add(this.#subject[i] ?? 0);
      }
    }
    return { calls, failures, subjects: subjects.size };
  }
}
