/**
 * Reading the sandbox's call log as Nextech would: how many requests arrived within any
 * second, and where one call stands in the order of arrivals.
 */
import type { RecordedCall } from '../../src/sandbox/index.ts';

/** The most requests the upstream received within any 1000 ms. */
export function busiestSecond(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; j < sorted.length; j++) {
    while ((sorted[j] ?? 0) - (sorted[i] ?? 0) >= 1000) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

/**
 * How many other calls reached the upstream from `since` until `call` did (ties counted
 * against it): 0 = it was the first to arrive after `since`.
 */
export function arrivalsAhead(calls: readonly RecordedCall[], call: RecordedCall, since: number): number {
  return calls.filter((c) => c !== call && c.receivedAt >= since && c.receivedAt <= call.receivedAt).length;
}
