/**
 * Test-only entry for test/bulk-export-crash.test.ts: the service on the embedded sandbox, as
 * `npm start` composes it, with a hook in the export runner that kills this process with
 * SIGKILL — no graceful stop, no `finally`, nothing flushed — between writing an export file
 * and the checkpoint that would cover it. Production entries never pass a hook.
 *
 * EXPORT_CRASH_AT names the write boundary (`first`: a type's first file, `next-part`: a new
 * later part, `append`: a file already holding lines) and EXPORT_CRASH_SKIP how many such
 * writes to let pass first; with EXPORT_CRASH_TEAR=1 the frame just written is cut in half
 * before the kill, as a partial write leaves it. Without EXPORT_CRASH_AT nothing is armed.
 * Logs go to stdout as JSON lines; the origin is sent to the parent once it listens.
 */
import { truncateSync } from 'node:fs';
import { loadConfig } from '../../src/config.ts';
import { startDevService } from '../../src/dev/compose.ts';
import type { ExportHooks } from '../../src/bulk/export-write.ts';
import { createLogger } from '../../src/logging.ts';

const at = process.env.EXPORT_CRASH_AT;
let skip = Number(process.env.EXPORT_CRASH_SKIP ?? '0');
const tear = process.env.EXPORT_CRASH_TEAR === '1';

const hooks: ExportHooks = {
  written(w) {
    if (w.kind !== at || skip-- > 0) return;
    if (tear) truncateSync(w.file, w.from + Math.floor((w.to - w.from) / 2));
    process.kill(process.pid, 'SIGKILL');
  },
};

const config = loadConfig(process.env);
const running = await startDevService(config, { logger: createLogger(config.logLevel), ...(at ? { exportHooks: hooks } : {}) });
process.send?.({ origin: running.origin });
process.on('SIGTERM', () => {
  void running.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
