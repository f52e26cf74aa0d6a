import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startSandbox } from '../../src/sandbox/server.ts';

describe('startSandbox', () => {
  it('listens on a free loopback port and names its URLs', async () => {
    const started = performance.now();
    const running = await startSandbox();
    try {
      expect(performance.now() - started).toBeLessThan(1000);
      expect(running.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(running.apiBaseUrl).toBe(`${running.origin}/ehr/api`);
      expect(running.tokenUrl).toBe(`${running.origin}/oauth2/token`);
      expect(running.authorizeUrl).toBe(`${running.origin}/oauth2/authorize`);
      expect((await fetch(`${running.apiBaseUrl}/search?term=a`)).status).toBe(401);
    } finally {
      await running.close();
    }
  });

  it('closes promptly even with a keep-alive connection open', async () => {
    const running = await startSandbox();
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      request(`${running.apiBaseUrl}/encounters/categories`, { agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject).end();
    });
    const started = performance.now();
    await running.close();
    expect(performance.now() - started).toBeLessThan(1000);
    agent.destroy();
  });
});

describe('npm run sandbox', () => {
  it('prints a token and a curl command that work, and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sandbox/main.ts'], {
      env: { ...process.env, SANDBOX_PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('curl ')) resolve();
      });
      child.on('exit', () => reject(new Error(`exited early:\n${output}`)));
    });
    const curl = /curl -s -H '([^']+)' -H '([^']+)' '([^']+)'/.exec(output);
    expect(curl).not.toBeNull();
    const [, auth = '', practice = '', url = ''] = curl ?? [];
    const header = (line: string): [string, string] => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()];
    const res = await fetch(url, { headers: [header(auth), header(practice)] });
    expect(res.status).toBe(200);
    expect(((await res.json()) as unknown[]).length).toBeGreaterThan(0);
    expect(output).toMatch(/Refresh token\s+\S+/);
    expect(output).toContain('1001, 1002');
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
  });
});
