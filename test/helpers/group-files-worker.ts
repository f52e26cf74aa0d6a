/**
 * A cluster worker stand-in for test/group-files.test.ts: its own FileGroups on the shared
 * folder, in a process of its own (so its in-process queue is not the other worker's). Told
 * `{ round, practice, group, expected }`, it writes the group conditionally and answers
 * `{ round, outcome }`: 'won', 'changed', 'full', 'unavailable' or 'other'.
 */
import { FileGroups } from '../../src/bulk/group-files.ts';
import { GroupChanged, GroupStoreFull, GroupStoreUnavailable, type StoredGroup } from '../../src/bulk/group-store.ts';

const [dir = '', resourceIdKey = ''] = process.argv.slice(2);
const groups = new FileGroups({ dir, resourceIdKey });

interface Put {
  round: number;
  practice: string;
  group: StoredGroup;
  expected: number;
}

const outcomeOf = (err: unknown) =>
  err instanceof GroupChanged ? 'changed' : err instanceof GroupStoreFull ? 'full' : err instanceof GroupStoreUnavailable ? 'unavailable' : 'other';

process.on('message', (m: unknown) => {
  const put = m as Put;
  void groups.put(put.practice, put.group, put.expected).then(
    () => process.send?.({ round: put.round, outcome: 'won' }),
    (err: unknown) => process.send?.({ round: put.round, outcome: outcomeOf(err) }),
  );
});
process.send?.({ ready: true });
