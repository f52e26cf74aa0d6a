// The production entry (src/index.ts, what a container runs) never falls back to the
// embedded sandbox: without NEXTECH_BASE_URL it exits non-zero, says why on stderr and
// listens on nothing. (`npm start`, src/dev.ts, is the one that starts the sandbox: see
// shutdown.test.ts; the production entry on a configured Nextech runs in soak.test.ts.)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { freePort } from './helpers/real-servers.ts';

describe('the production entry (src/index.ts)', () => {
  it('refuses to start without NEXTECH_BASE_URL: exit 2, the reason on stderr, nothing listening', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      // A clean environment, as a container with no configuration would have.
      env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(2);
    expect(stderr).toMatch(/^ {2}- NEXTECH_BASE_URL: required: the production entry serves a real Nextech \(npm start runs the service on the embedded sandbox\)$/m);
    expect(stdout).toBe('');
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  }, 30_000);
});
