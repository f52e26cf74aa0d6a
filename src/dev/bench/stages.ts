/**
 * Where a server's CPU went per request, by stage of the request path, from a V8 CPU profile
 * (`node --cpu-prof`) and no instrumentation of the code: each sample's stack is walked from
 * the running function towards the root, and the first frame that a rule of STAGE_RULES
 * recognises decides the sample's stage. Frames no rule knows (Node's stream and event
 * plumbing, buffers, promise jobs, unnamed built-ins) are passed through to their caller, so
 * e.g. a socket write under undici is an upstream read and under Node's HTTP response a write.
 * A stage's share of the busy samples times the CPU the process used per request (from
 * /proc over the rounds) is its µs per request.
 *
 * The same rules classify the product (by the file of its deepest frame, below) and the
 * hand-written facade (handwritten.ts, by its function names).
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

export const STAGES = [
  'routing and door',
  'parsing and planning',
  'upstream read',
  'upstream validation',
  'matching and ordering',
  'mapping',
  'ids',
  'serialisation and write',
  'logging, metrics, audit',
  'GC',
  'other',
] as const;
export type Stage = (typeof STAGES)[number];

/** A frame's code: `url` as V8 gives it (file://…, node:…, '' for built-ins), its function's name. */
export interface Frame {
  url: string;
  functionName: string;
}

/** Product files (paths under src/) by stage: the first prefix that matches wins. */
const PRODUCT_FILES: readonly (readonly [prefix: string, stage: Stage])[] = [
  // Response writing and the searchset, before the routes they sit among.
  ['routes/respond.ts', 'serialisation and write'],
  ['routes/page-links.ts', 'serialisation and write'],
  ['fhir/bundle.ts', 'serialisation and write'],
  ['fhir/view.ts', 'serialisation and write'],
  ['routes/audit.ts', 'logging, metrics, audit'],
  // Page cursors are sealed (deflated, encrypted) like resource ids: opaque ids of pages.
  ['routes/page-cursors.ts', 'ids'],
  ['bulk/export-audit.ts', 'logging, metrics, audit'],
  ['logging.ts', 'logging, metrics, audit'],
  ['metrics.ts', 'logging, metrics, audit'],
  // The request's way in: routes, doors (auth), the server itself.
  ['routes/', 'routing and door'],
  ['auth/', 'routing and door'],
  ['fhir/negotiate.ts', 'routing and door'],
  ['fhir/prefer.ts', 'routing and door'],
  ['net/', 'routing and door'],
  ['crypto/', 'routing and door'],
  ['app.ts', 'routing and door'],
  ['http-server.ts', 'routing and door'],
  ['server.ts', 'routing and door'],
  ['entry.ts', 'routing and door'],
  ['index.ts', 'routing and door'],
  ['cluster.ts', 'routing and door'],
  // Matching before parsing: fhir/search/ holds both.
  ['fhir/search/match.ts', 'matching and ordering'],
  ['fhir/search/string.ts', 'matching and ordering'],
  ['fhir/search/date.ts', 'matching and ordering'],
  ['resources/sort.ts', 'matching and ordering'],
  ['resources/compartment.ts', 'matching and ordering'],
  ['fhir/search/', 'parsing and planning'],
  ['fhir/parameters.ts', 'parsing and planning'],
  ['fhir/plain-path.ts', 'parsing and planning'],
  ['resources/listing-plan.ts', 'parsing and planning'],
  ['resources/registry', 'parsing and planning'],
  ['resources/search-parameter.ts', 'parsing and planning'],
  ['resources/context.ts', 'parsing and planning'],
  ['resources/patient/params.ts', 'parsing and planning'],
  ['resources/patient/plan.ts', 'parsing and planning'],
  ['resources/encounter/params.ts', 'parsing and planning'],
  ['resources/document-reference/params.ts', 'parsing and planning'],
  ['source/nextech/schemas.ts', 'upstream validation'],
  ['source/', 'upstream read'],
  ['upstream.ts', 'upstream read'],
  ['mapping/', 'mapping'],
  ['ids/', 'ids'],
];

/** The hand-written facade's functions (handwritten.ts) by stage; its other frames (route handlers) are routing. */
const HANDWRITTEN_FUNCTIONS: Readonly<Record<string, Stage>> = {
  upstreamGet: 'upstream read',
  mapPatient: 'mapping',
  mapEncounter: 'mapping',
  mapDocumentReference: 'mapping',
  matchFamily: 'matching and ordering',
  matchId: 'matching and ordering',
  newestFirst: 'matching and ordering',
  idOfRow: 'ids',
  serialiseBundle: 'serialisation and write',
};

/** npm packages by stage; Hono's Node server writes responses as well as taking requests in. */
const PACKAGES: Readonly<Record<string, Stage>> = {
  undici: 'upstream read',
  zod: 'upstream validation',
  fhirpath: 'mapping',
  antlr4: 'mapping',
  '@lhncbc/ucum-lhc': 'mapping',
  pino: 'logging, metrics, audit',
  'pino-std-serializers': 'logging, metrics, audit',
  'sonic-boom': 'logging, metrics, audit',
  'thread-stream': 'logging, metrics, audit',
  'prom-client': 'logging, metrics, audit',
  hono: 'routing and door',
  '@hono/node-server': 'routing and door',
};
const NODE_SERVER_WRITES = /^(responseVia|writeFrom|flushHeaders|buildOutgoingHttpHeaders|handleResponseError)/;

/** The stage a frame decides, or undefined when it is plumbing to pass through to its caller. */
export function stageOfFrame(f: Frame): Stage | undefined {
  if (f.url === '') {
    if (f.functionName === '(garbage collector)') return 'GC';
    if (f.functionName === '(program)' || f.functionName === '(root)') return 'other';
    // JSON.parse reads the upstream answers (no request here has a body); JSON.stringify writes the answer.
    if (f.functionName === 'parse') return 'upstream read';
    if (f.functionName === 'stringify') return 'serialisation and write';
    return undefined;
  }
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f.url)?.[1];
  if (pkg !== undefined) {
    if (pkg === '@hono/node-server' && NODE_SERVER_WRITES.test(f.functionName)) return 'serialisation and write';
    return PACKAGES[pkg] ?? 'other';
  }
  if (f.url.startsWith('node:')) {
    if (/^node:_http_outgoing/.test(f.url)) return 'serialisation and write';
    if (/^node:_http_(server|incoming|common)/.test(f.url)) return 'routing and door';
    return undefined;
  }
  if (f.url.endsWith('/src/dev/bench/handwritten.ts')) return HANDWRITTEN_FUNCTIONS[f.functionName] ?? 'routing and door';
  const src = /\/src\/(.+)$/.exec(f.url)?.[1];
  if (src === undefined) return undefined;
  return PRODUCT_FILES.find(([prefix]) => src.startsWith(prefix))?.[1] ?? 'other';
}

/** The stage of a sample whose stack is `stack`, running function first. */
export function stageOfStack(stack: readonly Frame[]): Stage {
  return decide(stack).stage;
}

/** Where a frame's code lives, for the report: src/…, a package, node:…, or a built-in's name. */
function placeOf(f: Frame): string {
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f.url)?.[1];
  if (pkg !== undefined) return pkg;
  const src = /\/(src\/.+)$/.exec(f.url)?.[1];
  if (src !== undefined) return src.endsWith('/handwritten.ts') ? `${f.functionName || '(route handler)'}()` : src;
  if (f.url !== '') return f.url;
  return f.functionName === 'parse' || f.functionName === 'stringify' ? `JSON.${f.functionName}` : f.functionName || '(built-in)';
}

/** The stage of a stack and the place of the frame that decided it. */
function decide(stack: readonly Frame[]): { stage: Stage; by: string } {
  for (const f of stack) {
    const stage = stageOfFrame(f);
    if (stage !== undefined) return { stage, by: placeOf(f) };
  }
  return { stage: 'other', by: stack[0] ? placeOf(stack[0]) : '(none)' };
}

const ProfileSchema = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string() }),
      children: z.array(z.number()).optional(),
    }),
  ),
  startTime: z.number(),
  endTime: z.number(),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});
export type CpuProfile = z.infer<typeof ProfileSchema>;

export interface StageShare {
  stage: Stage;
  /** Share of the busy (not idle) samples' time in the window, 0..1. */
  share: number;
  /** Where the stage's time went: the deciding frames' places (file, package, built-in) with the most, and their share of all busy time. */
  top: { place: string; share: number }[];
}

/** Each stage's share of the busy time in the `windowMs` before the profile's last `tailMs`; every stage listed, in STAGES order. */
export function stageShares(p: CpuProfile, windowMs: number, tailMs: number): StageShare[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageOfNode = new Map<number, { stage: Stage; by: string } | 'idle'>();
  const stageOf = (id: number): { stage: Stage; by: string } | 'idle' => {
    const known = stageOfNode.get(id);
    if (known !== undefined) return known;
    const stack: Frame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (node) stack.push(node.callFrame);
    }
    const stage = stack[0]?.functionName === '(idle)' && stack[0].url === '' ? 'idle' : decide(stack);
    stageOfNode.set(id, stage);
    return stage;
  };
  const to = p.endTime - tailMs * 1000;
  const from = to - windowMs * 1000;
  const time = new Map<Stage, number>();
  const places = new Map<Stage, Map<string, number>>();
  let busy = 0;
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) continue;
    const d = stageOf(p.samples[i] ?? -1);
    if (d === 'idle') continue;
    busy += dt;
    time.set(d.stage, (time.get(d.stage) ?? 0) + dt);
    const at = places.get(d.stage) ?? new Map<string, number>();
    at.set(d.by, (at.get(d.by) ?? 0) + dt);
    places.set(d.stage, at);
  }
  const share = (t: number) => (busy > 0 ? t / busy : 0);
  return STAGES.map((stage) => ({
    stage,
    share: share(time.get(stage) ?? 0),
    top: [...(places.get(stage) ?? new Map<string, number>()).entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([place, t]) => ({ place, share: share(t) })),
  }));
}

export async function stageSharesOfFile(file: string, windowMs: number, tailMs: number): Promise<StageShare[]> {
  return stageShares(ProfileSchema.parse(JSON.parse(await readFile(file, 'utf8'))), windowMs, tailMs);
}

/** µs of CPU per request by stage: each share of `cpuMsPerRequest`. */
export function stageMicros(shares: readonly StageShare[], cpuMsPerRequest: number): { stage: Stage; us: number }[] {
  return shares.map((s) => ({ stage: s.stage, us: s.share * cpuMsPerRequest * 1000 }));
}
