import { describe, expect, it } from 'vitest';
import { holdsWord } from '../global/log-scan.ts';

describe('the log scan', () => {
  it('finds a name wherever a log line could carry it', () => {
    for (const line of ['{"given":["Mark"]}', 'Mark Adams', 'family=Mark&x', '"q":"name=Mark"', 'MarkAdams1970', 'Mark']) expect(holdsWord(line, 'Mark')).toBe(true);
  });

  it('does not count a name spelled by chance inside an opaque id', () => {
    expect(holdsWord('{"ids":["Patient/rK0o6C89rR5wCrLNvMarkcqPwKTem"]}', 'Mark')).toBe(false);
    expect(holdsWord('Encounter/7GOxqvwp32uLjWGpR4E-vQJXu1.HfnMark0', 'Mark')).toBe(false);
    // The same id beside a real occurrence still counts.
    expect(holdsWord('rK0o6C89rR5wCrLNvMarkcqPwKTem Mark', 'Mark')).toBe(true);
  });
});
