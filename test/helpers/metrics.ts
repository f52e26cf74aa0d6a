/**
 * Reading the service's Prometheus exposition in tests. Counters of a service live as long
 * as the service, and tests share one service per file: a test asserts the change it caused
 * (`delta`), never an absolute count that an earlier test may already have raised.
 */

/** The text of `GET /metrics` (tests reach it from loopback). */
export const metricsText = async (origin: string): Promise<string> => (await fetch(`${origin}/metrics`)).text();

/** The value of one sample, written as in the exposition (`name{label="v",…}`); 0 when absent. */
export function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** How much `series` grew between two expositions. */
export const delta = (before: string, after: string, series: string): number => sample(after, series) - sample(before, series);
