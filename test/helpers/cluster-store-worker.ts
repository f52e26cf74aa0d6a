/**
 * A cluster worker stand-in for test/shared-store.test.ts: one operation on a ClusterStore per
 * message, whose primary is the test process at the other end of real IPC. Told
 * `{ n, op, key }`, it answers `{ n, outcome }`: 'refused' (StoreUnavailable), or 'alone' with
 * what its own memory answered.
 */
import { ClusterStore } from '../../src/cluster.ts';
import { StoreUnavailable } from '../../src/shared/store.ts';

const store = new ClusterStore(2);
const ops: Record<string, (key: string) => Promise<unknown>> = {
  claim: (key) => store.claim(key, 60_000, { owner: 'app', max: 10 }),
  swap: (key) => store.swap(key, undefined, 'next', 60_000),
  get: (key) => store.get(key),
  set: (key) => store.set(key, 'value', 60_000),
  lease: (key) => store.lease(key, 'worker', 60_000),
  takeSlot: (key) => store.takeSlot(key, 50),
};

process.on('message', (m: unknown) => {
  const { n, op, key } = m as { n?: number; op?: string; key?: string };
  const run = op === undefined ? undefined : ops[op];
  if (n === undefined || key === undefined || !run) return;
  void run(key).then(
    (value) => process.send?.({ n, outcome: 'alone', value: value ?? null }),
    (err: unknown) => process.send?.({ n, outcome: err instanceof StoreUnavailable ? 'refused' : 'other' }),
  );
});
process.send?.({ ready: true });
