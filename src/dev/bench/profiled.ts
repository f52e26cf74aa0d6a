/**
 * A CPU profile of the facade — or of the hand-written facade — under one overhead scenario:
 * a server of its own started with `--cpu-prof`, warmed up, driven as the scenario drives it,
 * stopped with SIGTERM (which writes the profile), and summed up over the load's window only:
 * by where the code lives (profile.ts) and by stage of the request path (stages.ts).
 */
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sequentialRound, throughputRound } from './load.ts';
import { summarizeProfile, type ProfileSummary } from './profile.ts';
import type { OverheadScenario, ScenarioInput } from './scenarios.ts';
import { startBaselineProcess } from './proxy-process.ts';
import { startBenchService, type ServiceSettings } from './services.ts';
import { stageSharesOfFile, type StageShare } from './stages.ts';
import type { Upstream } from './upstream.ts';

export interface ProfileRun {
  settings: ServiceSettings;
  upstream: Upstream;
  input: ScenarioInput;
  authorizations: readonly string[];
  seconds: number;
  sequentialCount: number;
}

export interface ProfiledServer {
  summary: ProfileSummary;
  stages: StageShare[];
}

/** The facade's profile under the scenario. */
export function profileScenario(s: OverheadScenario, r: ProfileRun): Promise<ProfiledServer> {
  return profileServer(s, r, 'facade', (nodeArgs) => startBenchService({ ...r.settings, nodeArgs }));
}

/** The hand-written facade's (handwritten-main.ts, started with `env`) under the scenario. */
export function profileHandwritten(s: OverheadScenario, r: ProfileRun, env: Record<string, string>): Promise<ProfiledServer> {
  return profileServer(s, r, 'handwritten', (nodeArgs) => startBaselineProcess('src/dev/bench/handwritten-main.ts', env, nodeArgs));
}

async function profileServer(
  s: OverheadScenario,
  r: ProfileRun,
  label: string,
  start: (nodeArgs: string[]) => Promise<{ origin: string; stop(): Promise<void> }>,
): Promise<ProfiledServer> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-prof-'));
  try {
    // Sampled every 100 µs (V8's default is 1 ms): the hand-written facade's stages take tens of µs a request.
    const service = await start(['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${dir}`]);
    let loadMs = 0;
    let tailMs = 0;
    try {
      await r.upstream.setLatency(s.upstreamLatencyMs);
      const url = `${service.origin}/practices/${r.settings.practiceId}/fhir/${s.fhirPath(r.input)}`;
      const first = r.authorizations[0] ?? '';
      // Answers that take seconds (perConnection scenarios): a fixed number of requests, every one answered, as in the rounds.
      const amount = (perConnection: number | undefined) => (perConnection === undefined ? {} : { amount: s.connections * perConnection });
      const load = (seconds: number, count: number, warm = false) =>
        s.kind === 'latency'
          ? sequentialRound(url, count, first)
          : throughputRound({ url, connections: s.connections, seconds, authorizations: r.authorizations, ...amount(warm ? (s.perConnection === undefined ? undefined : 1) : s.perConnection) });
      await load(Math.min(1, r.seconds), 10, true);
      const t0 = performance.now();
      const result = await load(r.seconds, r.sequentialCount);
      loadMs = performance.now() - t0;
      // 503 is the facade's document memory budget turning a request away (with Retry-After), as in
      // its rounds: the profile still shows the others' work. Any other failure spoils it.
      const failed = Object.entries(result.otherStatuses).filter(([status]) => status !== '503');
      if (failed.length > 0 || result.errors > 0 || result.completed - result.non2xx === 0) {
        throw new Error(`the profiled load of ${s.name} got ${result.completed} answers, ${JSON.stringify(result.otherStatuses)} not 200`);
      }
      const stopAt = performance.now();
      await service.stop();
      tailMs = performance.now() - stopAt;
    } finally {
      await service.stop();
      await r.upstream.setLatency(0);
    }
    const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error('the server wrote no CPU profile');
    // BENCH_PROFILE_DIR=dir keeps each profile there, to open in a profile viewer.
    const keep = process.env.BENCH_PROFILE_DIR;
    if (keep) {
      await mkdir(keep, { recursive: true });
      await copyFile(join(dir, file), join(keep, `${s.name}-${label}-${file}`));
    }
    return { summary: await summarizeProfile(join(dir, file), loadMs, tailMs), stages: await stageSharesOfFile(join(dir, file), loadMs, tailMs) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
