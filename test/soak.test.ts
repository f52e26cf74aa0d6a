/**
 * The short soak (`npm run soak` for 30 s at a rate a shared 2-core machine sustains): the
 * service in its own process over the sandbox, several callers, a realistic mix with a
 * multi-MB CCD and ~5% requests for patients whose Nextech records fail. Healthy requests
 * all succeed, only the fault patients see 5xx, and the service's memory stops growing.
 * Then 50 concurrent searches for the ~3 MB CCD over distinct ranges: every one answered
 * (200, or 503 + Retry-After), and the process's peak RSS — as `npm start` runs it — stays
 * under 512 MB.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { KINDS } from '../src/dev/soak/mix.ts';
import { formatReport } from '../src/dev/soak/report.ts';
import { runSoak } from '../src/dev/soak/run.ts';

const MB = 1024 * 1024;
/** Where the last run's report is kept, whatever the outcome (test-results/ is not committed). */
const REPORT = fileURLToPath(new URL('../test-results/soak/report.txt', import.meta.url));

describe('the soak', () => {
  it('serves 30 s of mixed load from three callers with no healthy failure, 5xx only for the fault patients, and RSS that stops growing; then a burst of 50 large-document searches stays under 512 MB', { timeout: 240_000 }, async () => {
    const capture = inject('logCaptureFile');
    const report = await runSoak({
      rate: 8,
      seconds: 30,
      // Then the burst: 50 concurrent searches for the ~3 MB CCD over distinct ranges.
      burst: 50,
      // Listings expire well within the first third, so the cache reaches its steady size early.
      serviceEnv: { ENCOUNTER_CACHE_SECONDS: '5', LOG_LEVEL: 'info' },
      // The service's log lines join the run-wide scan for tokens and patient data.
      onServiceLine: (line) => {
        if (capture) appendFileSync(capture, `${line}\n`);
      },
    });
    const text = formatReport(report);
    mkdirSync(dirname(REPORT), { recursive: true });
    writeFileSync(REPORT, `${text}\n`);
    expect(report.sent, text).toBe(240);
    for (const kind of KINDS) expect(Object.values(report.statuses[kind]).reduce((a, b) => a + b, 0), `${kind}\n${text}`).toBeGreaterThan(0);
    expect(Object.keys(report.callers).sort(), text).toEqual(['anonymous', 'hie-east', 'hie-west']);
    expect(report.healthyFailures, text).toBe(0);
    expect(report.unexpected5xx, text).toBe(0);
    // A broken record is never served as if it were whole.
    for (const status of Object.keys(report.statuses.fault)) expect(Number(status), text).toBeGreaterThanOrEqual(500);
    expect(report.rss.length, text).toBeGreaterThanOrEqual(20);
    expect(report.rssVerdict.flat, text).toBe(true);
    // The target for the whole process under multi-MB documents, as `npm start` runs
    // it: the kernel's high-water mark, so no spike between samples is missed.
    expect(report.peakResident, text).toBeLessThan(512 * MB);
    const burst = report.burst;
    if (!burst) throw new Error(`no burst\n${text}`);
    // Every burst request is answered: its documents, or 503 with Retry-After when the budget is full.
    const answered = (burst.statuses['200'] ?? 0) + burst.retryAfterOn503;
    expect(answered, text).toBe(50);
    expect(burst.statuses['200'] ?? 0, text).toBeGreaterThan(0);
    expect(burst.peakResident, text).toBeLessThan(512 * MB);
  });
});
