/**
 * What the kernel says about a process of the bench (Linux /proc): CPU time used so far, and
 * its resident-memory high-water mark, which can be reset so each scenario reads its own
 * peak. Elsewhere these answer undefined and the report says "n/a".
 */
import { readFile, writeFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** User + system CPU time of a process so far, in ms (its threads included). */
export async function cpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 on.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? ((utime + stime) * 1000) / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

/** The most resident memory the process had since it started or since resetPeak, in bytes. */
export async function peakResident(pid: number): Promise<number | undefined> {
  try {
    const kb = /^VmHWM:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Resets the high-water mark to the current RSS (`5` to clear_refs, Linux 4.0+); false when not possible. */
export async function resetPeak(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** A few facts about CPU use across a stretch of time, for several processes at once. */
export interface CpuSpan {
  /** CPU ms each process used during the span (undefined where unknown). */
  used: Record<string, number | undefined>;
  wallMs: number;
}

/** Starts measuring the named processes' CPU; `end()` returns what each used meanwhile. */
export async function cpuSpan(pids: Record<string, number>): Promise<{ end(): Promise<CpuSpan> }> {
  const names = Object.keys(pids);
  const read = () => Promise.all(names.map((n) => cpuMs(pids[n] ?? 0)));
  const before = await read();
  const t0 = performance.now();
  return {
    end: async () => {
      const after = await read();
      const used = Object.fromEntries(names.map((n, i) => [n, after[i] === undefined || before[i] === undefined ? undefined : (after[i] ?? 0) - (before[i] ?? 0)]));
      return { used, wallMs: performance.now() - t0 };
    },
  };
}
