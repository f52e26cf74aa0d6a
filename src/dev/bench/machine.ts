/**
 * What the bench ran on, for the report: CPU, memory, Node, OS, how busy the machine already
 * was, and which commit of the code (read-only git queries).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  /** 1, 5 and 15 minute load averages when the run started (other work on the machine). */
  loadAverage: number[];
  /** The commit of the facade's code (or, for a tree without git, its folder's name). */
  commit?: string;
  /** Files changed in the work tree against that commit. */
  uncommittedFiles?: number;
  /** The folder the facade ran from, when not this one. */
  serviceRoot?: string;
}

const run = promisify(execFile);

async function git(args: string[], cwd?: string): Promise<string | undefined> {
  try {
    return (await run('git', args, { timeout: 5000, ...(cwd ? { cwd } : {}) })).stdout.trim();
  } catch {
    return undefined;
  }
}

/** The machine, and the code of the facade: this work tree's, or that of `serviceRoot`. */
export async function describeMachine(serviceRoot?: string): Promise<Machine> {
  const list = cpus();
  // A tree exported with `git archive` has no .git: its folder's name says which commit it is.
  const ownGit = serviceRoot === undefined || existsSync(join(serviceRoot, '.git'));
  const commit = ownGit ? await git(['rev-parse', '--short', 'HEAD'], serviceRoot) : basename(serviceRoot);
  const status = ownGit ? await git(['status', '--porcelain'], serviceRoot) : undefined;
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: `${type()} ${release()}`,
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    ...(commit ? { commit } : {}),
    ...(status === undefined ? {} : { uncommittedFiles: status === '' ? 0 : status.split('\n').length }),
    ...(serviceRoot === undefined ? {} : { serviceRoot }),
  };
}
