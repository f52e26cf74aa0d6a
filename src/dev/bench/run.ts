/**
 * The whole bench run: the upstream (sandbox) process, the pass-through proxy and the facade
 * as processes of their own on this machine; the overhead scenarios against a facade with
 * listing reuse off, the economy scenarios each against a fresh facade with it on, then a CPU
 * profile of the facade under each overhead scenario. Everything started here is stopped
 * here, also on failure.
 */
import { randomBytes } from 'node:crypto';
import type { ServiceProcess } from '../soak/service-process.ts';
import { appSession, burst, walkPages, type DuplicatesResult, type EconomyDeps, type PagingResult, type Step } from './economy.ts';
import { judgeDuplicates, judgeOverhead, judgePaging, judgeSession, type Verdict } from './judge.ts';
import { measureCompression, type CompressionResult } from './compression.ts';
import { describeMachine, type Machine } from './machine.ts';
import { runOverhead, type OverheadResult, type RunSettings } from './overhead.ts';
import type { ProfileSummary } from './profile.ts';
import { profileHandwritten, profileScenario } from './profiled.ts';
import { startBaselineProcess, startProxyProcess } from './proxy-process.ts';
import { OVERHEAD_SCENARIOS, type EconomyScenario, type ScenarioInput } from './scenarios.ts';
import { resolveIds, startBenchService, type ServiceSettings } from './services.ts';
import type { StageShare } from './stages.ts';
import { startUpstream, type Upstream } from './upstream.ts';
import type { IdTable } from './handwritten.ts';
import { ROLES } from './fixtures.ts';

export interface BenchOptions {
  mode: 'full' | 'quick';
  settings: RunSettings;
  /** Seconds of load per CPU profile; 0: no profiles. */
  profileSeconds: number;
  /** Scenario names to run. */
  only: ReadonlySet<string>;
  /** Run the facade from this project folder instead of this one (a "before" tree). */
  serviceRoot?: string;
  log: (line: string) => void;
}

export interface OverheadEntry {
  name: string;
  title: string;
  request: string;
  connections: number;
  upstreamLatencyMs: number;
  result: OverheadResult;
  verdicts: Verdict[];
  profile?: ProfileSummary;
  /** A gzip-accepting client against one that accepts nothing, when the scenario asks. */
  compression?: CompressionResult;
  /** Share of the busy CPU by stage of the request path (stages.ts), of the facade and of the hand-written facade. */
  stages?: { facade: StageShare[]; handwritten?: StageShare[] };
}

export interface EconomyResults {
  paging?: { reuseOn: PagingResult; reuseOff: PagingResult; verdict: Verdict };
  duplicates?: DuplicatesResult & { verdict: Verdict };
  session?: { steps: Step[]; verdict: Verdict };
}

export interface BenchResults {
  version: 1;
  date: string;
  mode: 'full' | 'quick';
  settings: RunSettings & { profileSeconds: number };
  machine: Machine;
  fixtures: Upstream['fixtures'];
  overhead: OverheadEntry[];
  economy: EconomyResults;
  elapsedSeconds: number;
}

const CONNECTIONS = Math.max(...OVERHEAD_SCENARIOS.map((s) => s.connections));
const DUPLICATES = 200;

export async function runBench(o: BenchOptions): Promise<BenchResults> {
  const t0 = performance.now();
  const machine = await describeMachine(o.serviceRoot);
  const upstream = await startUpstream();
  const stops: (() => Promise<void>)[] = [() => upstream.stop()];
  const track = (s: ServiceProcess): ServiceProcess => (stops.push(() => s.stop()), s);
  try {
    const tokens = (await upstream.tokens(CONNECTIONS + 1)).map((t) => `Bearer ${t}`);
    const perConnection = tokens.slice(0, CONNECTIONS);
    const single = tokens[CONNECTIONS] ?? '';
    const f = upstream.fixtures;
    const settings: ServiceSettings = {
      apiBaseUrl: upstream.apiBaseUrl,
      practiceId: f.practiceId,
      idKey: randomBytes(32).toString('base64url'),
      reuse: false,
      ...(o.serviceRoot ? { root: o.serviceRoot } : {}),
    };
    const proxy = await startProxyProcess(upstream.apiBaseUrl);
    stops.push(() => proxy.stop());
    const facade = track(await startBenchService(settings));
    const input: ScenarioInput = { ids: await resolveIds(facade.origin, f, single), sixFamily: f.sixFamily };
    // The hand-written facade knows the bench patients' FHIR ids from this table, not from the facade's key.
    const idTable: IdTable = Object.fromEntries(ROLES.map((role) => [input.ids[role], { patientId: f.patients[role].patientId, chartNumber: f.patients[role].chartNumber }]));
    const handwrittenEnv = { HANDWRITTEN_UPSTREAM: upstream.apiBaseUrl, HANDWRITTEN_IDS: JSON.stringify(idTable) };
    const handwritten = await startBaselineProcess('src/dev/bench/handwritten-main.ts', handwrittenEnv);
    stops.push(() => handwritten.stop());
    o.log(`upstream, proxy, hand-written facade and facade up after ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const overhead: OverheadEntry[] = [];
    const deps = { upstream, facade, proxy, handwritten, practiceId: f.practiceId, input, authorizations: perConnection, log: o.log };
    for (const s of OVERHEAD_SCENARIOS.filter((x) => o.only.has(x.name))) {
      // A peak RSS is read on a facade of its own, so it is this scenario's and no earlier one's.
      const own = s.peakRss ? track(await startBenchService(settings)) : undefined;
      const result = await runOverhead(s, own ? { ...deps, facade: own } : deps, o.settings).finally(() => own?.stop());
      const verdicts = judgeOverhead(s, result);
      o.log(`${s.name}: ${verdicts.map((v) => `${v.figure} ${v.value.toFixed(2)}${v.met === undefined ? '' : v.met ? ' (met)' : ' (missed)'}`).join('; ')}`);
      const compression = s.compression ? await measureCompression(s, deps, o.settings) : undefined;
      overhead.push({ name: s.name, title: s.title, request: s.shownAs, connections: s.connections, upstreamLatencyMs: s.upstreamLatencyMs, result, verdicts, ...(compression ? { compression } : {}) });
    }

    const economy: EconomyResults = {};
    const eco: EconomyDeps = { upstream, practiceId: f.practiceId, proxy, authorization: single };
    const pagingPath = `Encounter?patient=${input.ids.paging}&_count=10`;
    const duplicatePath = `Encounter?patient=${input.ids.fortyFive}&_count=10`;
    const reuseOff = o.only.has('paging') ? await walkPages(facade, pagingPath, eco) : undefined;
    // One such request on its own, on the service without reuse: its calls, and the proxy's equivalent.
    const alone = o.only.has('duplicates') ? await walkPages(facade, duplicatePath, eco, 1) : undefined;
    await facade.stop();
    const fresh = async <T>(name: EconomyScenario, fn: (service: ServiceProcess) => Promise<T>): Promise<T | undefined> => {
      if (!o.only.has(name)) return undefined;
      o.log(`${name}: a fresh facade with listing reuse on`);
      const service = track(await startBenchService({ ...settings, reuse: true }));
      try {
        return await fn(service);
      } finally {
        await service.stop();
      }
    };
    const paging = await fresh('paging', (s) => walkPages(s, pagingPath, eco));
    if (paging && reuseOff) economy.paging = { reuseOn: paging, reuseOff, verdict: judgePaging(paging) };
    const duplicates = await fresh('duplicates', async (s): Promise<DuplicatesResult> => {
      const practice = `/practices/${f.practiceId}`;
      return {
        callsPerRequest: alone?.pages[0]?.upstreamCalls ?? 0,
        facade: await burst(`${s.origin}${practice}/fhir/${duplicatePath}`, DUPLICATES, single, upstream),
        proxy: await burst(`${proxy.origin}${practice}/${alone?.proxyPath ?? ''}`, DUPLICATES, single, upstream),
      };
    });
    if (duplicates) economy.duplicates = { ...duplicates, verdict: judgeDuplicates(duplicates) };
    const steps = await fresh('app-session', (s) => appSession(s, f.patients.fortyFive.family, eco));
    if (steps) economy.session = { steps, verdict: judgeSession(steps) };

    if (o.profileSeconds > 0) {
      for (const entry of overhead) {
        const s = OVERHEAD_SCENARIOS.find((x) => x.name === entry.name);
        if (!s) continue;
        o.log(`profiling the facade under ${s.name}`);
        const run = { settings, upstream, input, authorizations: perConnection, seconds: o.profileSeconds, sequentialCount: o.settings.sequentialCount };
        const service = await profileScenario(s, run);
        o.log(`profiling the hand-written facade under ${s.name}`);
        const own = await profileHandwritten(s, run, handwrittenEnv);
        entry.profile = service.summary;
        entry.stages = { facade: service.stages, handwritten: own.stages };
      }
    }
    return {
      version: 1,
      date: new Date().toISOString(),
      mode: o.mode,
      settings: { ...o.settings, profileSeconds: o.profileSeconds },
      machine,
      fixtures: f,
      overhead,
      economy,
      elapsedSeconds: (performance.now() - t0) / 1000,
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}
