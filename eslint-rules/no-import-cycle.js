// house/no-import-cycle: no import cycle among the files of src/, type-only imports included.
// import-x/no-cycle (and import/no-cycle) skip `import type`, but a cycle of types is still a
// design where neither side can be understood, moved or tested without the other; the house
// rules (STYLE.md) count them. So this rule reads the relative imports of every file under
// src/ (ts.preProcessFile: static, type-only, re-exports and dynamic import()), finds the
// strongly connected components of that graph, and reports each import of the linted file
// that stays inside its component, with one cycle it closes.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const SOURCE = /\.(ts|mts|js|mjs)$/;

/** Per file: the mtime it was read at and its resolved relative imports (cached across files and runs). */
const parsed = new Map();

function relativeImports(file, text) {
  const dir = path.dirname(file);
  const out = [];
  for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const target = resolveFile(path.resolve(dir, fileName));
    if (target) out.push({ spec: fileName, target });
  }
  return out;
}

function resolveFile(p) {
  for (const c of [p, p.replace(/\.js$/, '.ts'), `${p}.ts`, path.join(p, 'index.ts')]) {
    if (SOURCE.test(c) && fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  }
  return undefined;
}

function walk(dir, files) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, files);
    else if (SOURCE.test(e.name) && !e.name.includes('.test.')) files.push(p);
  }
  return files;
}

/** The graph of `root` (file -> imported files), with `current` read from the linter's text. */
function graphOf(root, current, currentText) {
  const graph = new Map();
  for (const file of walk(root, [])) {
    if (file === current) {
      graph.set(file, relativeImports(file, currentText));
      continue;
    }
    const mtime = fs.statSync(file).mtimeMs;
    let entry = parsed.get(file);
    if (!entry || entry.mtime !== mtime) {
      entry = { mtime, imports: relativeImports(file, fs.readFileSync(file, 'utf8')) };
      parsed.set(file, entry);
    }
    graph.set(file, entry.imports);
  }
  return graph;
}

/** The component (set of files) of each file on a cycle (Tarjan's algorithm, iterative). */
function components(graph) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const of = new Map();
  let next = 0;
  for (const start of graph.keys()) {
    if (index.has(start)) continue;
    const work = [[start, 0]];
    index.set(start, next);
    low.set(start, next++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const [v, i] = top;
      const edges = graph.get(v) ?? [];
      if (i < edges.length) {
        top[1]++;
        const w = edges[i].target;
        if (!graph.has(w)) continue;
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent), low.get(v)));
      }
      if (low.get(v) === index.get(v)) {
        const members = new Set();
        let w;
        do {
          w = stack.pop();
          onStack.delete(w);
          members.add(w);
        } while (w !== v);
        if (members.size > 1) for (const m of members) of.set(m, members);
      }
    }
  }
  return of;
}

/** One shortest path from `from` back to `to` inside `members` (breadth-first). */
function pathBack(graph, members, from, to) {
  const prev = new Map([[from, undefined]]);
  const queue = [from];
  while (queue.length > 0) {
    const v = queue.shift();
    if (v === to) break;
    for (const { target } of graph.get(v) ?? []) {
      if (members.has(target) && !prev.has(target)) {
        prev.set(target, v);
        queue.push(target);
      }
    }
  }
  const route = [];
  for (let v = to; v !== undefined; v = prev.get(v)) route.unshift(v);
  return route;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'Forbid import cycles among the files of a folder, type-only imports included.' },
    schema: [{ type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false }],
    messages: { cycle: 'Import cycle (type-only imports count): {{route}}. Move what both sides need to the lower layer.' },
  },
  create(context) {
    const root = path.resolve(context.cwd, context.options[0]?.root ?? 'src');
    const file = context.physicalFilename;
    if (!file.startsWith(root + path.sep)) return {};
    const text = context.sourceCode.text;
    const graph = graphOf(root, file, text);
    const members = components(graph).get(file);
    if (!members) return {};
    const dir = path.dirname(file);
    const check = (node, source) => {
      if (typeof source?.value !== 'string' || !source.value.startsWith('.')) return;
      const target = resolveFile(path.resolve(dir, source.value));
      if (!target || !members.has(target)) return;
      const route = pathBack(graph, members, target, file).map((f) => path.relative(root, f));
      context.report({ node, messageId: 'cycle', data: { route: [path.relative(root, file), ...route].join(' -> ') } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source),
    };
  },
};
