/**
 * The README's bulk export walk-through, run as printed: its shell lines go to bash one by
 * one in a fresh folder, with only the service's address changed to this test's port; the
 * `npm start` line is run as the service process it describes. Checks what each step prints.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/real-servers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The walk-through's shell lines (continuations joined), from the README. */
function walkthrough(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('A walk-through against `npm start`');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start))?.[1] ?? '';
  return block.replace(/\\\n\s*/g, '').split('\n').filter((l) => l.trim() !== '');
}

describe('the README bulk export walk-through', () => {
  const dir = mkdtempSync(join(tmpdir(), 'facade-walkthrough-'));
  let service: ReturnType<typeof spawn> | undefined;
  afterAll(async () => {
    if (service && service.exitCode === null) {
      service.kill('SIGTERM');
      await once(service, 'exit');
    }
  });

  it('works as printed', async () => {
    const port = await freePort();
    const lines = walkthrough().map((l) => l.replaceAll('localhost:8080', `localhost:${port}`));
    expect(lines).toHaveLength(7);
    const env = { ...process.env, npm_config_loglevel: 'silent' };
    const bash = (script: string) => execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
    // Each line runs in the project (npm scripts) but writes its files to the fresh folder.
    const npmIn = (l: string) => l.replaceAll('npm run --silent backend-client --', `npm --prefix ${ROOT} run --silent backend-client --`).replaceAll('--key hie.private.json', `--key ${dir}/hie.private.json`);
    // 1. keygen: the client entry on stdout, the private key in a 0600 file.
    bash(npmIn(lines[0]!).replace('keygen hie', `keygen hie --out ${dir}`));
    const entry = JSON.parse(readFileSync(join(dir, 'hie.client.json'), 'utf8')) as { client_id: string; jwks: { keys: { d?: string }[] } };
    expect(entry.client_id).toBe('hie');
    expect(entry.jwks.keys[0]?.d).toBeUndefined();
    expect(statSync(join(dir, 'hie.private.json')).mode & 0o777).toBe(0o600);
    // 2. The service, as `BACKEND_CLIENTS="[$(cat hie.client.json)]" npm start` runs it.
    expect(lines[1]).toMatch(/^BACKEND_CLIENTS="\[\$\(cat hie\.client\.json\)\]" npm start/);
    service = spawn(process.execPath, ['--import', 'tsx', 'src/dev.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: String(port), BACKEND_CLIENTS: `[${readFileSync(join(dir, 'hie.client.json'), 'utf8').trim()}]`, DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let banner = '';
    service.stdout?.on('data', (d: Buffer) => (banner += d.toString()));
    for (let i = 0; !banner.includes('FHIR base:'); i++) {
      if (i > 400 || service.exitCode !== null) throw new Error(`the service did not start: ${banner}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // 3.–5. token, group, kick-off: the shell keeps the variables, so they run as one script.
    const status = bash([npmIn(lines[2]!), lines[3]!, lines[4]!, 'echo "$STATUS"'].join('\n')).trim();
    expect(status).toMatch(new RegExp(`^http://localhost:${port}/fhir/bulk/status/`));
    // 6. The status line prints 202 with X-Progress until the job is done, then 200 and the manifest.
    const prefix = [npmIn(lines[2]!), `STATUS='${status}'`];
    let last = '';
    for (let i = 0; i < 200; i++) {
      last = bash([...prefix, lines[5]!].join('\n'));
      if (/^HTTP\/1\.1 200/.test(last)) break;
      expect(last).toMatch(/^HTTP\/1\.1 202[\s\S]*x-progress: (queued|\d{1,3}% \(\d+ of 2 patients\))/i);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(last).toMatch(/^HTTP\/1\.1 200/);
    expect(last).toContain('"requiresAccessToken":true');
    // 7. The first file: NDJSON, one resource per line.
    const ndjson = bash([...prefix, lines[6]!].join('\n'));
    const resources = ndjson.trimEnd().split('\n').map((l) => JSON.parse(l) as { resourceType: string });
    expect(resources.length).toBeGreaterThan(0);
    expect(new Set(resources.map((r) => r.resourceType)).size).toBe(1);
  }, 180_000);
});
