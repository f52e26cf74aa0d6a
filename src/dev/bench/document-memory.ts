/**
 * `tsx src/dev/bench/document-memory.ts [--concurrency=4] [--rounds=4] [--service-root=dir]`:
 * the peak resident memory (VmHWM) of a facade answering DocumentReference searches over the
 * bench patient with 3 × 3 MB CCDs, `concurrency` at a time, `rounds` times each. The facade
 * runs as the bench runs it (its own process, 384 MB heap, passthrough, reuse off); its high-water
 * mark is reset after one warm-up request per connection. Each answer's attachments are checked
 * to hold base64 data. `--service-root` measures another tree's facade (a "before").
 */
import { resolve } from 'node:path';
import { peakResident, resetPeak } from './proc.ts';
import { resolveIds, startBenchService } from './services.ts';
import { startUpstream } from './upstream.ts';

interface Flags {
  concurrency: number;
  rounds: number;
  root?: string;
}

function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = { concurrency: 4, rounds: 4 };
  for (const arg of argv) {
    const [key, value = ''] = arg.split('=', 2);
    if (key === '--concurrency') flags.concurrency = Number(value);
    else if (key === '--rounds') flags.rounds = Number(value);
    else if (key === '--service-root') flags.root = resolve(value);
    else throw new Error(`unknown flag ${arg}; flags: --concurrency=n, --rounds=n, --service-root=dir`);
  }
  return flags;
}

const MB = 1024 * 1024;

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const upstream = await startUpstream();
  const idKey = 'document-memory-bench-resource-id-key-0123456789';
  const service = await startBenchService({
    apiBaseUrl: upstream.apiBaseUrl,
    practiceId: upstream.fixtures.practiceId,
    idKey,
    reuse: false,
    ...(flags.root ? { root: flags.root } : {}),
  });
  try {
    const tokens = (await upstream.tokens(flags.concurrency)).map((t) => `Bearer ${t}`);
    const ids = await resolveIds(service.origin, upstream.fixtures, tokens[0] ?? '');
    const url = `${service.origin}/practices/${upstream.fixtures.practiceId}/fhir/DocumentReference?patient=${ids.threeBy3Mb}`;
    const once = async (authorization: string): Promise<number> => {
      const res = await fetch(url, { headers: { authorization } });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
      const bundle = JSON.parse(text) as { entry?: { resource: { content: { attachment: { data?: string } }[] } }[] };
      const datas = (bundle.entry ?? []).map((e) => e.resource.content[0]?.attachment.data ?? '');
      if (datas.length !== 3 || datas.some((d) => d.length < MB)) throw new Error('an answer lacks its documents');
      return text.length;
    };
    await Promise.all(tokens.map(once));
    const reset = await resetPeak(service.pid);
    const atReset = (await peakResident(service.pid)) ?? 0;
    const t0 = performance.now();
    let bytes = 0;
    await Promise.all(
      tokens.map(async (t) => {
        for (let i = 0; i < flags.rounds; i++) {
          const n = await once(t);
          bytes += n;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const peak = (await peakResident(service.pid)) ?? 0;
    const answers = flags.concurrency * flags.rounds;
    process.stdout.write(
      `${answers} answers (${(bytes / answers / MB).toFixed(1)} MB each) at concurrency ${flags.concurrency} in ${seconds.toFixed(1)} s; ` +
        `facade peak RSS ${(peak / MB).toFixed(1)} MB${reset ? ` (reset after warm-up, at ${(atReset / MB).toFixed(1)} MB)` : ' (since start: reset not possible)'}\n`,
    );
  } finally {
    await service.stop();
    await upstream.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`document-memory failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
