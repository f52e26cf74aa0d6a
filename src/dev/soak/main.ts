/**
 * `npm run soak [-- --rate=10 --seconds=180 --large-ccd-rows=25000 --memory-mb=256 --cache-seconds=60 --seed=1 --burst=50]`
 * (or SOAK_RATE, SOAK_SECONDS, SOAK_LARGE_CCD_ROWS, SOAK_MEMORY_MB, SOAK_CACHE_SECONDS, SOAK_SEED, SOAK_BURST;
 * the memory and cache settings become the service's DOCUMENT_MEMORY_MB and
 * ENCOUNTER_CACHE_SECONDS, left at the service's defaults when not given): runs the soak
 * (run.ts) and prints what it saw. Exits 1 when a healthy request failed, something other
 * than a fault patient got a 5xx, a burst request was answered neither 200 nor 503 +
 * Retry-After, or the service's resident memory was still growing at the end — judge that
 * only on runs several times ENCOUNTER_CACHE_SECONDS (60 s) long, since the cache fills for
 * that long. The default rate keeps the sandbox's one managed credential
 * under Nextech's 20 requests per second per endpoint: almost every request of the mix makes
 * one patient search upstream (a search, a read, or the patient check of an encounter search).
 */
import { formatReport } from './report.ts';
import { runSoak } from './run.ts';

interface Flag {
  name: string;
  env: string;
  fallback: number;
  min: number;
  max: number;
}

const FLAGS: readonly Flag[] = [
  { name: 'rate', env: 'SOAK_RATE', fallback: 10, min: 1, max: 1000 },
  { name: 'seconds', env: 'SOAK_SECONDS', fallback: 180, min: 3, max: 86_400 },
  { name: 'large-ccd-rows', env: 'SOAK_LARGE_CCD_ROWS', fallback: 25_000, min: 0, max: 500_000 },
  { name: 'memory-mb', env: 'SOAK_MEMORY_MB', fallback: 0, min: 0, max: 16_384 },
  { name: 'cache-seconds', env: 'SOAK_CACHE_SECONDS', fallback: -1, min: -1, max: 3600 },
  { name: 'seed', env: 'SOAK_SEED', fallback: 1, min: 0, max: 2 ** 31 },
  { name: 'burst', env: 'SOAK_BURST', fallback: 50, min: 0, max: 1000 },
];

function readFlags(argv: string[], env: NodeJS.ProcessEnv): Record<string, number> {
  const given = new Map(argv.map((a) => /^--([a-z-]+)=(.*)$/.exec(a)).flatMap((m) => (m?.[1] ? [[m[1], m[2] ?? ''] as const] : [])));
  const unknown = [...given.keys()].filter((k) => !FLAGS.some((f) => f.name === k));
  if (unknown.length > 0) throw new Error(`unknown flag(s): ${unknown.map((k) => `--${k}`).join(', ')}`);
  return Object.fromEntries(
    FLAGS.map((f) => {
      const raw = given.get(f.name) ?? env[f.env];
      const value = raw === undefined || raw === '' ? f.fallback : Number(raw);
      if (!Number.isFinite(value) || value < f.min || value > f.max) throw new Error(`--${f.name} must be a number from ${f.min} to ${f.max}`);
      return [f.name, value];
    }),
  );
}

async function main(): Promise<void> {
  const flags = readFlags(process.argv.slice(2), process.env);
  const rate = flags.rate ?? 10;
  const seconds = flags.seconds ?? 180;
  // 0 / -1: the service's own defaults.
  const memoryMb = flags['memory-mb'] ?? 0;
  const cacheSeconds = flags['cache-seconds'] ?? -1;
  const serviceEnv: Record<string, string> = {
    ...(memoryMb > 0 ? { DOCUMENT_MEMORY_MB: String(memoryMb) } : {}),
    ...(cacheSeconds >= 0 ? { ENCOUNTER_CACHE_SECONDS: String(cacheSeconds) } : {}),
  };
  const settings = Object.entries(serviceEnv).map(([k, v]) => `, ${k}=${v}`).join('');
  process.stdout.write(`soak: ${rate} requests/s for ${seconds} s${settings}\n`);
  const report = await runSoak({
    rate,
    seconds,
    largeCcdResultRows: flags['large-ccd-rows'] ?? 25_000,
    seed: flags.seed ?? 1,
    burst: flags.burst ?? 50,
    serviceEnv,
    progress: (line) => process.stdout.write(`  ${line}\n`),
  });
  process.stdout.write(`${formatReport(report)}\n`);
  const burst = report.burst;
  const burstAnswered = !burst || (burst.statuses['200'] ?? 0) + burst.retryAfterOn503 === burst.requests;
  const ok = report.healthyFailures === 0 && report.unexpected5xx === 0 && report.rssVerdict.flat && burstAnswered;
  process.exit(ok ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
