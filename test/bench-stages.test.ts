/**
 * The bench's stage classifier (src/dev/bench/stages.ts): samples of a synthetic CPU profile
 * land in the stage of the first frame, from the running function up, that a rule knows —
 * product files by path, packages, JSON built-ins, the hand-written facade's functions — and
 * only samples inside the window count.
 */
import { describe, expect, it } from 'vitest';
import { stageMicros, stageOfStack, stageShares, type CpuProfile, type Frame } from '../src/dev/bench/stages.ts';

const SRC = 'file:///work/x/src/';
const NM = 'file:///work/x/node_modules/';
const fr = (url: string, functionName = 'f'): Frame => ({ url, functionName });

describe('stageOfStack', () => {
  it('files a sample by the deepest frame a rule knows, passing plumbing through to its caller', () => {
    // A socket write under undici is upstream; under Node's HTTP response it is the answer's write.
    const write = fr('node:internal/stream_base_commons', 'writeGeneric');
    expect(stageOfStack([write, fr('node:net', '_writeGeneric'), fr(`${NM}undici/lib/dispatcher/client-h1.js`, 'writeH1'), fr(`${SRC}source/nextech/http.ts`)])).toBe('upstream read');
    expect(stageOfStack([write, fr('node:_http_outgoing', 'end'), fr(`${NM}@hono/node-server/dist/index.mjs`, 'responseViaResponseObject')])).toBe('serialisation and write');
    // A Buffer built in a mapping closure is mapping; JSON.parse under the client is reading the answer.
    expect(stageOfStack([fr('node:buffer', 'toString'), fr(`${SRC}mapping/compile.ts`, '')])).toBe('mapping');
    expect(stageOfStack([fr('', 'parse'), fr(`${SRC}source/nextech/http.ts`)])).toBe('upstream read');
    expect(stageOfStack([fr('', 'stringify'), fr(`${SRC}routes/respond.ts`)])).toBe('serialisation and write');
  });

  it('knows the product layout', () => {
    const at = (path: string) => stageOfStack([fr(`${SRC}${path}`)]);
    expect(at('routes/fhir-api.ts')).toBe('routing and door');
    expect(at('auth/doors.ts')).toBe('routing and door');
    expect(at('routes/respond.ts')).toBe('serialisation and write');
    expect(at('fhir/bundle.ts')).toBe('serialisation and write');
    expect(at('fhir/search/parse.ts')).toBe('parsing and planning');
    expect(at('resources/patient/plan.ts')).toBe('parsing and planning');
    expect(at('fhir/search/match.ts')).toBe('matching and ordering');
    expect(at('resources/sort.ts')).toBe('matching and ordering');
    expect(at('source/nextech/client.ts')).toBe('upstream read');
    expect(at('source/nextech/schemas.ts')).toBe('upstream validation');
    expect(at('mapping/functions.ts')).toBe('mapping');
    expect(at('ids/sealer.ts')).toBe('ids');
    expect(at('routes/page-cursors.ts')).toBe('ids');
    expect(at('logging.ts')).toBe('logging, metrics, audit');
    expect(at('routes/audit.ts')).toBe('logging, metrics, audit');
    expect(at('resources/patient/index.ts')).toBe('other');
  });

  it('knows the packages and V8 pseudo-frames', () => {
    const pkg = (name: string) => stageOfStack([fr(`${NM}${name}/lib/x.js`), fr(`${SRC}routes/fhir-api.ts`)]);
    expect(pkg('zod')).toBe('upstream validation');
    expect(pkg('fhirpath')).toBe('mapping');
    expect(pkg('pino')).toBe('logging, metrics, audit');
    expect(pkg('prom-client')).toBe('logging, metrics, audit');
    expect(pkg('undici')).toBe('upstream read');
    expect(pkg('hono')).toBe('routing and door');
    expect(stageOfStack([fr('', '(garbage collector)')])).toBe('GC');
    expect(stageOfStack([fr('', '(program)')])).toBe('other');
    expect(stageOfStack([fr('node:internal/process/task_queues', 'processTicksAndRejections')])).toBe('other');
  });

  it('files the hand-written facade by its function names', () => {
    const hw = (name: string) => stageOfStack([fr('file:///work/x/src/dev/bench/handwritten.ts', name)]);
    expect(hw('mapPatient')).toBe('mapping');
    expect(hw('matchFamily')).toBe('matching and ordering');
    expect(hw('serialiseBundle')).toBe('serialisation and write');
    expect(hw('upstreamGet')).toBe('upstream read');
    expect(hw('')).toBe('routing and door');
    expect(stageOfStack([fr('', 'stringify'), fr('file:///work/x/src/dev/bench/handwritten.ts', 'serialiseBundle')])).toBe('serialisation and write');
  });
});

describe('stageShares', () => {
  // root → app (routes) → mapping; root → GC; root → idle; app → JSON.parse.
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '' }, children: [2, 4, 5] },
      { id: 2, callFrame: { functionName: 'handle', url: `${SRC}routes/fhir-api.ts` }, children: [3, 6] },
      { id: 3, callFrame: { functionName: '', url: `${SRC}mapping/compile.ts` }, children: [] },
      { id: 4, callFrame: { functionName: '(garbage collector)', url: '' } },
      { id: 5, callFrame: { functionName: '(idle)', url: '' } },
      { id: 6, callFrame: { functionName: 'parse', url: '' } },
    ],
    startTime: 0,
    endTime: 10_000,
    // One sample per ms (deltas in µs); the first and the last lie outside the window.
    samples: [3, 3, 3, 2, 4, 5, 5, 6, 3],
    timeDeltas: [500, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 2500],
  };

  it('counts the busy samples in the window by stage, idle left out', () => {
    // Window: the 6 ms before the last 2 ms, i.e. 2000..8000 µs: samples at 2500 … 7500.
    const shares = stageShares(profile, 6, 2);
    const of = (stage: string) => shares.find((s) => s.stage === stage)?.share;
    // In the window: mapping (2500), routes (3500), GC (4500), idle ×2, parse (7500): four busy.
    expect(of('mapping')).toBeCloseTo(1 / 4);
    expect(of('routing and door')).toBeCloseTo(1 / 4);
    expect(of('GC')).toBeCloseTo(1 / 4);
    expect(of('upstream read')).toBeCloseTo(1 / 4);
    expect(shares.reduce((n, s) => n + s.share, 0)).toBeCloseTo(1);
    // Each stage says where its time went: the deciding frame's file or built-in.
    expect(shares.find((s) => s.stage === 'mapping')?.top).toEqual([{ place: 'src/mapping/compile.ts', share: 0.25 }]);
    expect(shares.find((s) => s.stage === 'upstream read')?.top).toEqual([{ place: 'JSON.parse', share: 0.25 }]);
  });

  it('turns shares into µs per request', () => {
    const us = stageMicros(stageShares(profile, 6, 2), 0.4);
    expect(us.find((s) => s.stage === 'mapping')?.us).toBeCloseTo(100);
    expect(us.reduce((n, s) => n + s.us, 0)).toBeCloseTo(400);
  });
});
