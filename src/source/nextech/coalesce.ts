/**
 * Coalescing of identical upstream calls in flight: the first caller starts the work, the
 * others wait on the same promise. The work gets its own AbortSignal, aborted only when
 * every caller waiting on it has gone away, so one client disconnecting never cancels a
 * call another still needs — and a call nobody needs any more is cancelled.
 */

interface Shared<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiting: number;
}

export class Coalescer {
  readonly #inflight = new Map<string, Shared<unknown>>();

  run<T>(key: string, signal: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>, onJoin?: () => void): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    let shared = this.#inflight.get(key) as Shared<T> | undefined;
    if (shared) {
      onJoin?.();
    } else {
      const controller = new AbortController();
      const promise = work(controller.signal).finally(() => {
        if (this.#inflight.get(key) === created) this.#inflight.delete(key);
      });
      const created: Shared<T> = { promise, controller, waiting: 0 };
      // The shared promise may settle after every caller left; that rejection is expected.
      promise.catch(() => undefined);
      this.#inflight.set(key, created);
      shared = created;
    }
    return this.#wait(key, shared, signal);
  }

  #wait<T>(key: string, shared: Shared<T>, signal: AbortSignal | undefined): Promise<T> {
    shared.waiting++;
    if (!signal) return shared.promise;
    return new Promise<T>((resolve, reject) => {
      const leave = () => {
        signal.removeEventListener('abort', leave);
        shared.waiting--;
        if (shared.waiting === 0) {
          // Nobody needs it any more: cancel, and let a new caller start afresh.
          if (this.#inflight.get(key) === shared) this.#inflight.delete(key);
          shared.controller.abort(signal.reason);
        }
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', leave, { once: true });
      shared.promise.then(
        (v) => {
          signal.removeEventListener('abort', leave);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', leave);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }
}
