import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';

describe('graceful shutdown', () => {
  it('starts `npm start` (src/dev.ts) on the embedded sandbox with no Nextech configured, lets slow requests in flight finish on SIGTERM, then exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/dev.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      // Nothing of the developer's environment: only what node needs, and the test's settings.
      // The embedded sandbox answers every API call after 1.5 s.
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', SANDBOX_FAULTS: 'latency=1500', SHUTDOWN_GRACE_SECONDS: '10' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const base = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start: ${out}`)), 20_000);
      child.stdout.on('data', () => {
        const m = /FHIR base: (\S+)/.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
    });
    expect(out).toMatch(/^Nextech: embedded sandbox at http:\/\/127\.0\.0\.1:\d+\/ehr\/api \(practices 1001, 1002; default 1001\)$/m);
    const slow = ['smith', 'garcia', 'nguyen'].map((f) => fetch(`${base}/Patient?family=${f}`));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    const statuses = await Promise.all(slow.map(async (p) => (await p).status));
    expect(statuses).toEqual([200, 200, 200]);
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  }, 40_000);
});
