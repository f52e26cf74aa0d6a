/**
 * Reads a V8 CPU profile (`node --cpu-prof`) of the service and says where its time went
 * during the load only: samples before the load (start-up, compiling TypeScript) and after
 * it (shutdown) are left out by time. Self time is grouped by where the code lives — an npm
 * package, a folder of src/, Node's own code, garbage collection — and listed per function.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const ProfileSchema = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }),
    }),
  ),
  startTime: z.number(),
  endTime: z.number(),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});

export interface Share {
  name: string;
  /** Share of the busy (not idle) time in the window, 0..1. */
  share: number;
}

export interface ProfileSummary {
  /** The window read, ms. */
  windowMs: number;
  /** Share of the window the service's main thread was busy (1 = all of it). */
  busy: number;
  groups: Share[];
  functions: Share[];
}

/** Where a frame's code lives: an npm package, src/<folder>, node, or a V8 pseudo-frame. */
export function groupOf(url: string, functionName: string): string {
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8 (program)';
    // Frames without a script: V8's built-ins (JSON, string and buffer work), named or not.
    return functionName === '' ? 'V8 built-ins' : `native ${functionName}`;
  }
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
  if (pkg !== undefined) return pkg;
  if (url.startsWith('node:')) return `node ${url.replace(/^node:(internal\/)?/, '').split('/')[0] ?? ''}`.trim();
  const src = /\/src\/(.+)$/.exec(url)?.[1];
  if (src !== undefined) return `src/${src.includes('/') ? src.slice(0, src.indexOf('/')) : src}`;
  return 'other';
}

const shortUrl = (url: string) => url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/src\//, 'src/');

function top(map: Map<string, number>, total: number, n: number): Share[] {
  return [...map.entries()]
    .filter(([name]) => name !== 'idle')
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, t]) => ({ name, share: total > 0 ? t / total : 0 }));
}

/**
 * Summarizes the samples of `file` that fall in the `windowMs` before its last `tailMs` (the
 * load, when the process was stopped `tailMs` after it ended).
 */
export async function summarizeProfile(file: string, windowMs: number, tailMs: number, topN = 10): Promise<ProfileSummary> {
  const p = ProfileSchema.parse(JSON.parse(await readFile(file, 'utf8')));
  const frames = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const to = p.endTime - tailMs * 1000;
  const from = to - windowMs * 1000;
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  let t = p.startTime;
  let busy = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) continue;
    const frame = frames.get(p.samples[i] ?? -1);
    if (!frame) continue;
    const group = groupOf(frame.url, frame.functionName);
    groups.set(group, (groups.get(group) ?? 0) + dt);
    if (group === 'idle') continue;
    busy += dt;
    // Lines of src/ files are those of tsx's output, not of the source: only the file is shown.
    const line = frame.url.includes('/src/') && !frame.url.includes('/node_modules/') ? '' : `:${frame.lineNumber + 1}`;
    const fn = `${frame.functionName || '(anonymous)'}${frame.url ? ` ${shortUrl(frame.url)}${line}` : ''}`;
    functions.set(fn, (functions.get(fn) ?? 0) + dt);
  }
  return { windowMs, busy: windowMs > 0 ? busy / 1000 / windowMs : 0, groups: top(groups, busy, topN), functions: top(functions, busy, topN) };
}
