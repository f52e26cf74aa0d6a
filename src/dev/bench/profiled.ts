/**
 * A CPU profile of the facade under one overhead scenario: a service of its own started with
 * `--cpu-prof`, warmed up, driven as the scenario drives it, stopped with SIGTERM (which
 * writes the profile), and summed up over the load's window only (profile.ts).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sequentialRound, throughputRound } from './load.ts';
import { summarizeProfile, type ProfileSummary } from './profile.ts';
import type { OverheadScenario, ScenarioInput } from './scenarios.ts';
import { startBenchService, type ServiceSettings } from './services.ts';
import type { Upstream } from './upstream.ts';

export interface ProfileRun {
  settings: ServiceSettings;
  upstream: Upstream;
  input: ScenarioInput;
  authorizations: readonly string[];
  seconds: number;
  sequentialCount: number;
}

export async function profileScenario(s: OverheadScenario, r: ProfileRun): Promise<ProfileSummary> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-prof-'));
  try {
    const service = await startBenchService({ ...r.settings, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
    let loadMs = 0;
    let tailMs = 0;
    try {
      await r.upstream.setLatency(s.upstreamLatencyMs);
      const url = `${service.origin}/practices/${r.settings.practiceId}/fhir/${s.fhirPath(r.input)}`;
      const first = r.authorizations[0] ?? '';
      const load = (seconds: number, count: number) =>
        s.kind === 'latency'
          ? sequentialRound(url, count, first)
          : throughputRound({ url, connections: s.connections, seconds, authorizations: r.authorizations });
      await load(Math.min(1, r.seconds), 10);
      const t0 = performance.now();
      const result = await load(r.seconds, r.sequentialCount);
      loadMs = performance.now() - t0;
      if (result.non2xx > 0 || result.completed === 0) {
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
    if (file === undefined) throw new Error('the service wrote no CPU profile');
    return await summarizeProfile(join(dir, file), loadMs, tailMs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
