/**
 * Starts the real service (and, unless NEXTECH_BASE_URL is given, the real embedded sandbox,
 * composed as `npm start` composes them: src/dev/compose.ts) on free ports, with logs
 * captured in memory, and offers a FHIR-aware fetch that checks every response body with
 * the independent validator.
 */
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { expect, inject } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logging.ts';
import { startDevService, type DevService } from '../../src/dev/compose.ts';
import type { Sandbox } from '../../src/sandbox/index.ts';
import { assertValidFhir } from './validator.ts';

export interface TestService {
  running: DevService;
  /** http://localhost:PORT */
  origin: string;
  /** The `/fhir` base. */
  fhir: string;
  sandbox: Sandbox;
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

/** The resource-id key tests configure when they point the service at a Nextech of their own. */
export const TEST_RESOURCE_ID_KEY = 'test-only resource id key, 32+ characters long';

export async function startTestService(env: Record<string, string> = {}, opts: { now?: () => number } = {}): Promise<TestService> {
  const logs: Record<string, unknown>[] = [];
  // Every line also goes to the run-wide capture that test/global/log-scan.ts checks.
  const capture = inject('logCaptureFile');
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = chunk.toString('utf8');
      if (capture) appendFileSync(capture, text);
      for (const line of text.split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const own = env.NEXTECH_BASE_URL === undefined ? {} : { RESOURCE_ID_KEY: TEST_RESOURCE_ID_KEY };
  // Each service stores its own groups, unless a test shares a folder on purpose (a restart).
  const dataDir = mkdtempSync(join(tmpdir(), 'facade-test-data-'));
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', DATA_DIR: dataDir, ...own, ...env });
  const running = await startDevService(config, { logger: createLogger(config.logLevel, sink), port: 0, ...(opts.now ? { now: opts.now } : {}) });
  if (!running.sandbox && !env.NEXTECH_BASE_URL) throw new Error('expected the embedded sandbox');
  return {
    running,
    origin: running.origin,
    fhir: `${running.origin}/fhir`,
    // Tests that configure their own upstream (NEXTECH_BASE_URL) have no embedded sandbox.
    sandbox: running.sandbox?.sandbox as Sandbox,
    logs,
    close: () => running.close(),
  };
}

export interface FhirResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** Fetches, parses the JSON body, checks the FHIR media type and validates the resource. */
export async function fhirFetch<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<FhirResponse<T>> {
  const res = await fetch(url, init);
  const text = await res.text();
  expect(res.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
  const body = JSON.parse(text) as T;
  assertValidFhir(body);
  return { status: res.status, headers: res.headers, body };
}

/** Asserts an OperationOutcome error response and returns its first issue. */
export async function expectOutcome(url: string, status: number, init: RequestInit = {}) {
  const res = await fhirFetch<{ resourceType: string; issue: { code: string; diagnostics?: string; severity: string }[] }>(url, init);
  expect(res.status).toBe(status);
  expect(res.body.resourceType).toBe('OperationOutcome');
  const issue = res.body.issue[0];
  if (!issue) throw new Error('no issue');
  return { ...res, issue };
}
