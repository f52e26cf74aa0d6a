/**
 * The bench's Nextech: the sandbox in a process of its own (so its CPU is neither the load
 * generator's nor the system's under test), with the bench patients added and answers
 * replayed from memory after the first (`memoizeResponses`), so generating multi-MB CCDs
 * does not limit either side. Controlled over IPC by upstream.ts.
 */
import { SANDBOX_CLIENT_ID, startSandbox, type RunningSandbox } from '../../sandbox/index.ts';
import { BENCH_PATIENTS, benchFixtures } from './fixtures.ts';
import { endpointOf, UpstreamRequestSchema, type CallTally, type UpstreamAnswer, type UpstreamRequest } from './upstream-ipc.ts';

function tally(running: RunningSandbox, detail: boolean): CallTally {
  const calls = running.sandbox.calls.splice(0);
  const byEndpoint: Record<string, number> = {};
  for (const c of calls) byEndpoint[endpointOf(c.path)] = (byEndpoint[endpointOf(c.path)] ?? 0) + 1;
  return {
    total: calls.length,
    failed: calls.filter((c) => c.status !== 200).length,
    byEndpoint,
    ...(detail ? { detail: calls.slice(0, 50).map((c) => ({ path: c.path, query: c.query })) } : {}),
  };
}

function handle(running: RunningSandbox, req: UpstreamRequest): unknown {
  switch (req.op) {
    case 'tokens':
      return Array.from({ length: req.count }, () => running.sandbox.issueTokens(SANDBOX_CLIENT_ID).accessToken);
    case 'latency':
      running.sandbox.faults.clear();
      if (req.ms > 0) running.sandbox.faults.add({ fault: { kind: 'latency', ms: req.ms } });
      return null;
    case 'calls':
      return tally(running, req.detail);
  }
}

async function main(): Promise<void> {
  const send = process.send?.bind(process);
  if (!send) throw new Error('upstream-child.ts runs as a child of the bench (with an IPC channel)');
  const running = await startSandbox({ port: 0, extraPatients: BENCH_PATIENTS, memoizeResponses: true });
  process.on('message', (raw) => {
    const parsed = UpstreamRequestSchema.safeParse(raw);
    if (!parsed.success) return;
    let answer: UpstreamAnswer;
    try {
      answer = { id: parsed.data.id, ok: true, result: handle(running, parsed.data) };
    } catch (err) {
      answer = { id: parsed.data.id, ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    send(answer);
  });
  // The parent going away (a crash, Ctrl-C) ends this process too.
  process.on('disconnect', () => {
    void running.close().finally(() => process.exit(0));
  });
  send({ type: 'ready', apiBaseUrl: running.apiBaseUrl, fixtures: benchFixtures(running.sandbox.data) });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench upstream failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
