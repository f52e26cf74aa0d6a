/**
 * A SMART app built on fhirclient, with fhirclient's default settings, in headless
 * Chromium: launched from its own origin against the real facade and its embedded
 * sandbox, with a person's clicks and typing at the Nextech login and the patient picker.
 * What the app shows is checked against the sandbox's data, not against the facade.
 *
 * Artefacts (a screenshot per step, the browser journal per test) go to test-results/browser/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ccdFor, type SandboxPatient } from '../../src/sandbox/index.ts';
import { fold, patientsOf } from '../helpers/expected.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { startAppServer, type AppServer } from './app-server.ts';
import { launchChromium, openSession, type BrowserSession } from './chromium.ts';

const CLIENT_ID = 'browser-app';
const PRACTICE = '1001';
/** How long one step (a page arriving, a click taking effect) may take. */
const STEP_MS = 20_000;

let app: AppServer | undefined;
let svc: TestService | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  // The app's server first: its origin is what the facade registers.
  app = await startAppServer();
  svc = await startTestService({
    // Registering the app is all it takes: its redirect URI's origin may call the API (CORS).
    SMART_CLIENTS: JSON.stringify([{ client_id: CLIENT_ID, name: 'Browser test app', redirect_uris: [`${app.origin}/index.html`] }]),
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await svc?.close();
  await app?.close();
});

interface AppResult {
  error?: string;
  step?: string;
  patient?: { id: string; name: string; identifier: { type?: { coding?: { code?: string }[] }; value?: string }[] };
  encounters?: { count: number; distinct: number };
  document?: { id: string; title?: string };
  refreshed?: boolean;
  tokenChanged?: boolean;
  patientAfterRefresh?: string;
}

/** The app's launch URL for the facade's default FHIR base. */
const launchUrl = (a: AppServer, s: TestService) =>
  `${a.origin}/launch.html?${new URLSearchParams({ iss: s.fhir, client_id: CLIENT_ID }).toString()}`;

/** The app's #result, once it holds something, on the app's own index.html. */
async function appResult(a: AppServer, page: Page): Promise<AppResult> {
  await page.waitForURL((u) => u.origin === a.origin && u.pathname === '/index.html', { timeout: STEP_MS });
  const result = page.locator('#result');
  await result.filter({ hasText: /\S/ }).waitFor({ timeout: STEP_MS });
  return JSON.parse((await result.textContent()) ?? '') as AppResult;
}

/** From the launch page to the facade's patient picker, through the sandbox's Nextech login. */
async function launchAndLogIn(s: BrowserSession, a: AppServer, t: TestService): Promise<void> {
  const { page } = s;
  await s.step('open the launch page and arrive at the Nextech login', async () => {
    await page.goto(launchUrl(a, t));
    // Either the login form, or the app saying why authorize() failed, or a facade error page.
    const problem = page.locator('#result').filter({ hasText: /\S/ }).or(page.getByRole('heading', { name: 'Cannot continue' }));
    await page.getByLabel('Username').or(problem).first().waitFor({ timeout: STEP_MS });
    if ((await problem.count()) > 0) throw new Error('the launch did not reach the Nextech login');
  });
  await s.shot('nextech-login');
  await s.step('sign in at Nextech and arrive at the patient picker', async () => {
    await page.getByLabel('Username').pressSequentially('demo');
    await page.getByLabel('Password').pressSequentially('demo');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Patient name or chart number').waitFor({ timeout: STEP_MS });
  });
  await s.shot('picker');
}

/** Prints what explains a failure: the browser's journal and the facade's error log lines. */
function report(s: BrowserSession, t: TestService, name: string, fromLine: number): void {
  const errors = t.logs.slice(fromLine).filter((l) => typeof l.level === 'number' && l.level >= 50).map((l) => JSON.stringify(l));
  console.error(`browser journal (${name}):\n${s.journal.join('\n')}\nfacade errors:\n${errors.join('\n') || '(none)'}`);
}

/** The sandbox patient whose Nextech id the app's Patient carries (its PI identifier). */
function sandboxPatientOf(t: TestService, result: AppResult): SandboxPatient {
  const pi = result.patient?.identifier.find((i) => i.type?.coding?.some((c) => c.code === 'PI'))?.value;
  const found = patientsOf(t.sandbox, PRACTICE).find((p) => String(p.patientId) === pi);
  if (!found) throw new Error(`the app's patient (PI ${pi ?? 'missing'}) is not a sandbox patient of practice ${PRACTICE}`);
  return found;
}

describe('a SMART app on fhirclient (default settings) in Chromium', () => {
  it('launches, logs in at Nextech, picks a patient, reads all encounters and a CCD, and refreshes its token', { timeout: 120_000 }, async ({ onTestFailed }) => {
    if (!app || !svc || !browser) throw new Error('setup failed');
    const [a, t] = [app, svc];
    const s = await openSession(browser, 'launch');
    const fromLine = t.logs.length;
    onTestFailed(() => report(s, t, 'launch', fromLine));
    try {
      const { page } = s;
      await launchAndLogIn(s, a, t);

      const chosen = await s.step('search the picker for "smith" and choose the first patient', async () => {
        await page.getByLabel('Patient name or chart number').pressSequentially('smith');
        await page.getByRole('button', { name: 'Search' }).click();
        // The patients are listed, one button each; the page's other buttons (Search, Cancel) are not.
        const first = page.getByRole('listitem').getByRole('button').first();
        await first.waitFor({ timeout: STEP_MS });
        await s.shot('picker-results');
        const name = (await first.innerText()).trim();
        await first.click();
        return name;
      });

      const result = await s.step('return to the app and let it finish', () => appResult(a, page));
      await s.shot('app-result');
      expect(result, `the app reports: ${JSON.stringify(result)}`).not.toHaveProperty('error');

      // The patient the person chose is the one the app reads.
      const patient = sandboxPatientOf(t, result);
      expect(fold(patient.json.lastName)).toContain('smith');
      expect(chosen).toContain(patient.json.firstName);
      expect(chosen).toContain(patient.json.lastName);
      expect(result.patient?.name).toContain(patient.json.firstName);
      expect(result.patient?.name).toContain(patient.json.lastName);
      expect(await page.locator('#patient-name').textContent()).toBe(result.patient?.name);

      // Every page of encounters, each once.
      expect(patient.encounters.length, 'the chosen patient has encounters in the sandbox').toBeGreaterThan(0);
      expect(result.encounters).toEqual({ count: patient.encounters.length, distinct: patient.encounters.length });
      expect(await page.locator('#encounter-count').textContent()).toBe(String(patient.encounters.length));
      // fhirclient followed the next links as they are: sealed cursors, one per page after the first.
      const followed = s.journal.filter((l) => /^HTTP 200: \w+ GET \S+\/fhir\/Encounter\?_cursor=[A-Za-z0-9_-]+$/.test(l));
      expect(followed).toHaveLength(Math.ceil(patient.encounters.length / 5) - 1);

      // The newest encounter's CCD, decoded as UTF-8 and shown as text, never as HTML.
      const practice = t.sandbox.data.practices.find((p) => p.practiceId === PRACTICE);
      const newest = [...patient.encounters].sort((x, y) => y.instant - x.instant)[0];
      if (!practice || !newest) throw new Error('no practice or encounter in the sandbox data');
      expect(result.document?.title).toContain(newest.summary.encounterDate.slice(0, 10));
      expect(result.document?.title).toContain(newest.summary.type);
      expect(await page.locator('#document').textContent()).toBe(ccdFor(practice, patient, newest));
      expect(await page.locator('#document *').count()).toBe(0);

      // client.refresh() obtained a new access token, and it works.
      expect(result).toMatchObject({ refreshed: true, tokenChanged: true, patientAfterRefresh: result.patient?.id });

      // A correct server gives the browser nothing to complain about (CSP, CORS, failed loads).
      expect(s.errors).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('tells the app access_denied when the person cancels at the patient picker', { timeout: 120_000 }, async ({ onTestFailed }) => {
    if (!app || !svc || !browser) throw new Error('setup failed');
    const [a, t] = [app, svc];
    const s = await openSession(browser, 'cancel');
    const fromLine = t.logs.length;
    onTestFailed(() => report(s, t, 'cancel', fromLine));
    try {
      const { page } = s;
      await launchAndLogIn(s, a, t);
      await s.step('choose Cancel at the patient picker', () => page.getByRole('button', { name: 'Cancel' }).click({ timeout: STEP_MS }));

      const result = await s.step('return to the app with the error', () => appResult(a, page));
      await s.shot('app-result');
      expect(new URL(page.url()).searchParams.get('error')).toBe('access_denied');
      expect(result.error).toMatch(/^access_denied\b/);
      expect(result.step).toBe('ready');
      expect(await page.locator('#result').textContent()).toContain('access_denied');
      expect(s.errors).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
