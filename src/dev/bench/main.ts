/**
 * `npm run bench [-- --quick] [--scenario=patient-search,paging] [--out=dir] [--no-profile] [--service-root=dir]`:
 * measures the facade against a bare pass-through proxy over the sandbox on this machine
 * (run.ts) and writes `benchmarks.md` and `benchmarks.json` — into docs/ for a full run, into
 * a temporary folder for --quick unless --out is given. A full run takes about 10 minutes
 * on 2 cores; --quick about 2 per scenario or so. The previous benchmarks.json in the output folder, if any, is the
 * "before" of the report. `--service-root=dir` runs the facade of another project folder —
 * e.g. an older commit exported with `git archive <commit> | tar -x -C dir` (plus a
 * node_modules link) — against the same sandbox, proxy and load, to measure a "before".
 * BENCH_PROFILE_DIR=dir keeps the CPU profiles (facade and hand-written facade per scenario).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readBefore } from './before.ts';
import type { RunSettings } from './overhead.ts';
import { renderReport } from './report.ts';
import { runBench } from './run.ts';
import { ALL_SCENARIO_NAMES } from './scenarios.ts';

const FULL: RunSettings & { profileSeconds: number } = { rounds: 5, seconds: 4, warmupSeconds: 2, sequentialCount: 150, countScale: 1, profileSeconds: 4 };
const QUICK: RunSettings & { profileSeconds: number } = { rounds: 2, seconds: 1.5, warmupSeconds: 1, sequentialCount: 30, countScale: 0.5, profileSeconds: 1.5 };

interface Flags {
  quick: boolean;
  only: Set<string>;
  out?: string;
  profile: boolean;
  serviceRoot?: string;
}

function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = { quick: false, only: new Set(ALL_SCENARIO_NAMES), profile: true };
  for (const arg of argv) {
    const [key, value] = arg.split('=', 2);
    if (arg === '--quick') flags.quick = true;
    else if (arg === '--no-profile') flags.profile = false;
    else if (key === '--out' && value) flags.out = value;
    else if (key === '--service-root' && value) flags.serviceRoot = resolve(value);
    else if (key === '--scenario' && value) {
      const names = value.split(',').map((n) => n.trim()).filter(Boolean);
      const unknown = names.filter((n) => !ALL_SCENARIO_NAMES.includes(n));
      if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${ALL_SCENARIO_NAMES.join(', ')}`);
      flags.only = new Set(names);
    } else throw new Error(`unknown flag ${arg}; flags: --quick, --scenario=a,b, --out=dir, --no-profile, --service-root=dir`);
  }
  return flags;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const { profileSeconds, ...settings } = flags.quick ? QUICK : FULL;
  const out = resolve(flags.out ?? (flags.quick ? join(tmpdir(), 'nextech-bench-quick') : 'docs'));
  const t0 = performance.now();
  const log = (line: string) => process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
  log(`bench (${flags.quick ? 'quick' : 'full'}): ${[...flags.only].join(', ')}`);
  const before = await readBefore(join(out, 'benchmarks.json'));
  const results = await runBench({
    mode: flags.quick ? 'quick' : 'full',
    settings,
    profileSeconds: flags.profile ? profileSeconds : 0,
    only: flags.only,
    log,
    ...(flags.serviceRoot ? { serviceRoot: flags.serviceRoot } : {}),
  });
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'benchmarks.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(out, 'benchmarks.md'), renderReport(results, before));
  log(`wrote ${join(out, 'benchmarks.md')} and benchmarks.json (${results.elapsedSeconds.toFixed(0)} s)`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
