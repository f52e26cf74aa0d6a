/**
 * A burst of concurrent GETs sent from a process of its own. When the embedded sandbox stands
 * for Nextech in the test's own process, it stamps each arrival from the same event loop that
 * would otherwise be sending and answering the burst's hundreds of requests: a burst sent from
 * there is seen late by "Nextech", its first calls most (50–80 ms on an idle machine, several
 * hundred under a full test run), which bunches arrivals the service spaced correctly.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';

const SCRIPT = `
const urls = JSON.parse(process.argv[1]);
Promise.all(urls.map(async (url) => {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(30000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
})).then((statuses) => process.stdout.write(JSON.stringify(statuses)));
`;

/** Every URL fetched at once from a child process; each one's status, 0 when it got no answer within 30 s. */
export async function burstFromChild(urls: readonly string[]): Promise<number[]> {
  const child = spawn(process.execPath, ['-e', SCRIPT, JSON.stringify(urls)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the burst process exited with ${code}`);
  return JSON.parse(out) as number[];
}
