/**
 * The API reference at /docs in headless Chromium, opened once as a person would: it renders
 * every FHIR route the registry serves, its examples name this service, and "Test Request"
 * gets an answer from it, all under the page's CSP, with no request to any other origin
 * (no CDN, no fonts, no telemetry).
 *
 * Artefacts (a screenshot per step, the browser journal) go to test-results/browser/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { resourceModules } from '../../src/resources/registry.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { launchChromium, openSession } from './chromium.ts';

/** How long one step (a page arriving, a click taking effect) may take. */
const STEP_MS = 20_000;

let svc: TestService | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  svc = await startTestService();
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await svc?.close();
});

/** The FHIR paths the registry serves, as openapi.yaml writes them. */
function fhirPaths(): string[] {
  const paths = ['/metadata'];
  for (const m of resourceModules) {
    if (m.interactions.includes('search-type')) paths.push(`/${m.type}`, `/${m.type}/_search`);
    if (m.interactions.includes('read')) paths.push(`/${m.type}/{id}`);
    for (const op of m.operations ?? []) paths.push(`/${m.type}/$${op.name}`);
  }
  return paths;
}

describe('the API reference at /docs in Chromium', () => {
  it('renders every FHIR route, sends a test request to this service, and loads nothing from elsewhere', { timeout: 120_000 }, async ({ onTestFailed }) => {
    if (!svc || !browser) throw new Error('setup failed');
    const t = svc;
    const s = await openSession(browser, 'docs');
    onTestFailed(() => console.error(`browser journal (docs):\n${s.journal.join('\n')}`));
    const requested: string[] = [];
    s.page.on('request', (r) => requested.push(r.url()));
    try {
      const { page } = s;
      const text = await s.step('open /docs and wait for the operations to render', async () => {
        await page.goto(`${t.origin}/docs`);
        await page.getByText('/DocumentReference/$docref', { exact: true }).first().waitFor({ timeout: STEP_MS });
        // The request examples render last.
        await page.getByText(`curl ${t.fhir}/metadata`).first().waitFor({ timeout: STEP_MS });
        return page.locator('body').innerText();
      });
      await s.shot('rendered');

      // Every route the registry serves is on the page, as a line of its own.
      const lines = new Set(text.split('\n').map((l) => l.trim()));
      const paths = fhirPaths();
      expect(paths).toEqual(expect.arrayContaining(['/Patient', '/Encounter', '/DocumentReference', '/Patient/{id}']));
      expect(paths.filter((p) => !lines.has(p))).toEqual([]);
      // The examples name this service's FHIR base (openapi.yaml's servers, as served).
      expect(text).toContain(`curl ${t.fhir}/metadata`);

      await s.step('send a test request for the CapabilityStatement', async () => {
        await page.getByRole('button', { name: /Test Request/ }).first().click({ timeout: STEP_MS });
        const answered = page.waitForResponse((r) => r.url() === `${t.fhir}/metadata` && r.request().method() === 'GET', { timeout: STEP_MS });
        await page.getByRole('button', { name: /^Send/ }).first().click({ timeout: STEP_MS });
        expect((await answered).status()).toBe(200);
        await page.getByText('"CapabilityStatement"').first().waitFor({ timeout: STEP_MS });
      });
      await s.shot('test-request');

      // Nothing came from a CDN (or anywhere else): every request went to the service.
      expect(requested.map((u) => new URL(u).origin).filter((o) => o !== t.origin)).toEqual([]);
      expect(requested.map((u) => new URL(u).pathname)).toEqual(expect.arrayContaining(['/docs', '/docs/scalar.js', '/openapi.yaml', '/fhir/metadata']));
      // Nothing was blocked or broken: no CSP violation, no page error, no failed load.
      expect(s.errors).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
