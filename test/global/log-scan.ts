/**
 * Global setup/teardown of the test run: every service the tests start appends its log
 * lines to one capture file, and after the whole run this checks that no line holds a
 * token, a patient's name, SSN or birth date. A finding fails the run.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildSandboxData } from '../../src/sandbox/index.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    logCaptureFile: string;
  }
}

/** Characters of resource ids, cursors and tokens (base64url, and `.` in ids). */
const ID_CHAR = /[A-Za-z0-9._-]/;

/**
 * Whether `text` holds `name` other than by chance inside an opaque value: resource ids
 * (audit lines list many) are 32+ random characters, and one of them now and then spells a
 * four-letter name such as "Mark". An occurrence inside a run of 24 or more id characters with
 * a digit in it is such a value; any other occurrence (`"given":["Mark"]`, `family=Adams`,
 * "Mark Adams") counts.
 */
export function holdsWord(text: string, name: string): boolean {
  for (let at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + 1)) {
    let start = at;
    let end = at + name.length;
    while (start > 0 && ID_CHAR.test(text[start - 1]!)) start--;
    while (end < text.length && ID_CHAR.test(text[end]!)) end++;
    const run = text.slice(start, end);
    if (run.length < 24 || !/\d/.test(run)) return true;
  }
  return false;
}

/** What must never appear in a log line, with a label saying what it is (not the value). */
function forbidden(): { label: string; test: (line: string) => boolean }[] {
  const rules: { label: string; test: (line: string) => boolean }[] = [
    // Sandbox tokens, codes and refresh tokens are 32 random bytes in base64url. Resource ids
    // (src/ids) look alike and may be logged (audit lines list them as `Type/id`): not those.
    {
      label: 'an opaque token',
      test: (l) => /(^|[^A-Za-z0-9_-])(?<!\b(?:Patient|Encounter|DocumentReference|Binary)\/)[A-Za-z0-9_-]{43}($|[^A-Za-z0-9_-])/.test(l),
    },
    { label: 'a bearer token', test: (l) => /bearer\s+[A-Za-z0-9]/i.test(l) },
    { label: 'an SSN', test: (l) => /\b9\d{2}-\d{2}-\d{4}\b/.test(l) },
  ];
  for (const practice of buildSandboxData().practices) {
    for (const p of practice.patients) {
      const names = [`${p.json.firstName} ${p.json.lastName}`, p.json.lastName, p.json.firstName].filter((n) => n.length >= 4);
      for (const name of names) rules.push({ label: `patient ${p.patientId}'s name`, test: (l) => holdsWord(l, name) });
      rules.push({ label: `patient ${p.patientId}'s birth date`, test: (l) => l.includes(p.birthDate) || l.includes(p.json.dob) });
      // A chart number is a medical record number: never in a log line, on its own or in an id.
      const chart = p.json.chartNumber.trim();
      if (chart.length >= 4) {
        const alone = new RegExp(`(^|[^A-Za-z0-9])${chart.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}($|[^A-Za-z0-9])`);
        rules.push({ label: `patient ${p.patientId}'s chart number`, test: (l) => alone.test(l) });
      }
      if (p.json.ssn) {
        const ssn = p.json.ssn;
        rules.push({ label: `patient ${p.patientId}'s SSN`, test: (l) => l.includes(ssn) || l.includes(ssn.replace(/-/g, '')) });
      }
    }
  }
  return rules;
}

/**
 * Where in a JSON log line a finding sits, without repeating it: the field paths holding it
 * and the line's `msg` and `module` when those are themselves clean.
 */
function where(line: string, test: (s: string) => boolean): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return ' (not a JSON line)';
  }
  const paths: string[] = [];
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'string') {
      if (test(v)) paths.push(path || '(root)');
    } else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) walk(child, path ? `${path}.${k}` : k);
    }
  };
  walk(parsed, '');
  const record = (parsed ?? {}) as Record<string, unknown>;
  const clean = (k: string) => (typeof record[k] === 'string' && !test(record[k]) ? ` ${k}=${JSON.stringify(record[k])}` : '');
  return ` (in ${paths.join(', ') || 'the line as a whole'};${clean('module')}${clean('msg')})`;
}

export default function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'facade-logs-'));
  const file = join(dir, 'all.log');
  project.provide('logCaptureFile', file);
  return () => {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // No service wrote a line (a partial run): nothing to check.
    }
    rmSync(dir, { recursive: true, force: true });
    const lines = text.split('\n').filter(Boolean);
    const rules = forbidden();
    const findings = new Set<string>();
    lines.forEach((line, i) => {
      for (const r of rules) if (r.test(line)) findings.add(`line ${i + 1}: ${r.label}${where(line, r.test)}`);
    });
    if (findings.size > 0) {
      // A throwing teardown is only reported by vitest, so fail the run explicitly too.
      process.stderr.write(`FAIL log scan: log lines of this test run hold protected data:\n${[...findings].slice(0, 20).join('\n')}\n`);
      process.exitCode = 1;
      throw new Error('log scan found protected data in the logs');
    }
    process.stdout.write(`log scan: ${lines.length} log lines checked, no tokens or patient data found\n`);
  };
}
