/**
 * Headless Chromium for the browser tests, driven by playwright-core: one launch per file,
 * one fresh context (cookies, sessionStorage) per test, and a record of everything that
 * explains a failure in a browser and nowhere else: console errors (CSP and CORS blocks
 * are reported there), uncaught page errors, failed requests and HTTP errors. Each named
 * step takes a screenshot into test-results/browser/.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const ARTEFACTS = 'test-results/browser';

/** Debian's Chromium unless CHROMIUM_PATH names another; `args` are added to its command line (e.g. --host-resolver-rules). */
export async function launchChromium(args: readonly string[] = []): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: install Debian's (apt-get install chromium) or set CHROMIUM_PATH`);
  }
  mkdirSync(ARTEFACTS, { recursive: true });
  return chromium.launch({
    executablePath,
    headless: true,
    // The machine's network is closed; these keep Chromium from stalling on it.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...args],
  });
}

/** Values that must not reach test output: codes, states and sealed transactions. */
const SECRET_PARAMS = ['code', 'state', 'txn', 'access_token', 'refresh_token', 'code_challenge'];

/** A URL with the values of its secret query parameters cut out. */
export function redact(url: string, base?: string): string {
  try {
    const u = new URL(url, base);
    for (const name of SECRET_PARAMS) if (u.searchParams.has(name)) u.searchParams.set(name, '…');
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

/** Text (a console message) with every URL in it redacted. */
const redactText = (text: string) => text.replace(/https?:\/\/[^\s'"]+/g, (url) => redact(url));

/** Browsers ask every origin for one; whether it exists says nothing about the flow. */
const isFavicon = (url: string) => url.endsWith('/favicon.ico');

export interface BrowserSession {
  page: Page;
  /** Console errors and page errors, in order. */
  errors: string[];
  /** Console lines, failed requests and HTTP errors, in order: what to read after a failure. */
  journal: string[];
  /** Runs one step of the flow; on failure, screenshots the page and names the step and URL. */
  step<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Saves a screenshot named after the next step number. */
  shot(name: string): Promise<void>;
  /** Writes the journal to test-results/browser/<name>.log and closes the context. */
  close(): Promise<void>;
}

export async function openSession(browser: Browser, name: string): Promise<BrowserSession> {
  const context: BrowserContext = await browser.newContext({ locale: 'en-US' });
  const page = await context.newPage();
  const errors: string[] = [];
  const journal: string[] = [];
  let shots = 0;

  page.on('console', (m) => {
    const where = m.location().url;
    if (m.type() === 'error' && isFavicon(where)) return;
    const line = `console.${m.type()}: ${redactText(m.text())}${where ? ` (at ${redact(where)})` : ''}`;
    journal.push(line);
    if (m.type() === 'error') errors.push(line);
  });
  page.on('pageerror', (e) => {
    const line = `page error: ${redactText(e.message)}`;
    journal.push(line);
    errors.push(line);
  });
  page.on('requestfailed', (r) => {
    if (!isFavicon(r.url())) journal.push(`request failed: ${r.method()} ${redact(r.url())}: ${r.failure()?.errorText ?? '?'}`);
  });
  page.on('response', (r) => {
    if (isFavicon(r.url())) return;
    // Every page load and redirect, every call a script makes (fhirclient's discovery, token
    // and FHIR calls), and any HTTP error.
    const kind = r.request().resourceType();
    if (kind === 'document' || kind === 'fetch' || kind === 'xhr' || r.status() >= 400) {
      const to = r.headers().location;
      journal.push(`HTTP ${r.status()}: ${kind} ${r.request().method()} ${redact(r.url())}${to ? ` -> ${redact(to, r.url())}` : ''}`);
    }
  });
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) journal.push(`navigated: ${redact(f.url())}`);
  });

  const shot = async (label: string) => {
    shots += 1;
    const file = join(ARTEFACTS, `${name}-${String(shots).padStart(2, '0')}-${label}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch((e: unknown) => journal.push(`screenshot ${file} failed: ${String(e)}`));
  };

  return {
    page,
    errors,
    journal,
    shot,
    async step<T>(label: string, fn: () => Promise<T>): Promise<T> {
      try {
        return await fn();
      } catch (err) {
        await shot(`${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-failed`);
        const text = await page
          .locator('body')
          .innerText({ timeout: 2000 })
          .catch(() => '(no body)');
        const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
        throw new Error(`step "${label}" failed at ${redact(page.url())}: ${message}\n--- the page says ---\n${text.slice(0, 1500)}`, { cause: err });
      }
    },
    async close() {
      writeFileSync(join(ARTEFACTS, `${name}.log`), `${journal.join('\n')}\n`);
      await context.close();
    },
  };
}
