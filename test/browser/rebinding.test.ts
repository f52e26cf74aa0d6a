/**
 * DNS rebinding in headless Chromium (issue 18, item 5). An attacker's page is served under
 * a name the attacker controls; once that name resolves to 127.0.0.1, the page's own origin
 * points at the service, and with anonymous access on (the sandbox default) its same-origin
 * fetches used to read patients. Chromium resolves the name as the attacker's DNS would
 * (`--host-resolver-rules`), the page at http://rebind.attacker.example:PORT/ asks for
 * /fhir/Patient from its own origin, and the service refuses: the Host is not its own. The
 * same request from a page at http://localhost:PORT/ (what a person running `npm start`
 * opens) is still answered.
 *
 * Artefacts (a screenshot per step, the browser journal) go to test-results/browser/.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestService, type TestService } from '../helpers/service.ts';
import { launchChromium, openSession } from './chromium.ts';
import { waitFor } from '../helpers/wait.ts';

const REBOUND = 'rebind.attacker.example';
/** Another site's name, for a page of its own that merely embeds the service's URLs. */
const ELSEWHERE = 'embed.attacker.example';

let svc: TestService | undefined;
let browser: Browser | undefined;
/** The other site's server: one page whose images and script point at the service's `/fhir`. */
let elsewhere: Server | undefined;

beforeAll(async () => {
  svc = await startTestService();
  const fhir = svc.fhir;
  elsewhere = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>elsewhere</title>
<img src="${fhir}/Patient?family=smith"><img src="${fhir}/Patient?family=garcia"><script src="${fhir}/Patient?family=jones"></script>`);
  });
  await new Promise<void>((resolve) => elsewhere?.listen(0, '127.0.0.1', resolve));
  // The attacker's DNS, rebound: its name now answers with this machine's loopback address.
  browser = await launchChromium([`--host-resolver-rules=MAP ${REBOUND} 127.0.0.1, MAP ${ELSEWHERE} 127.0.0.1`]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => elsewhere?.close(resolve));
  await svc?.close();
});

interface Read {
  status: number;
  resourceType?: string;
  patients: number;
}

/** What the page's own script gets when it reads a Patient search from its own origin. */
function readPatients(page: Page): Promise<Read> {
  return page.evaluate(async () => {
    const res = await fetch('/fhir/Patient?family=smith', { headers: { accept: 'application/fhir+json' } });
    const body = (await res.json()) as { resourceType?: string; entry?: unknown[] };
    return { status: res.status, resourceType: body.resourceType, patients: body.entry?.length ?? 0 };
  });
}

describe('a DNS-rebinding page in Chromium', () => {
  it('cannot read patients from its own (rebound) origin, while a page on localhost still can', { timeout: 60_000 }, async ({ onTestFailed }) => {
    if (!svc || !browser) throw new Error('setup failed');
    const port = new URL(svc.origin).port;
    const s = await openSession(browser, 'rebinding');
    onTestFailed(() => console.error(`browser journal (rebinding):\n${s.journal.join('\n')}`));
    try {
      const { page } = s;
      const attacker = `http://${REBOUND}:${port}`;
      const landed = await s.step('open the attacker page under the rebound name', () => page.goto(`${attacker}/`));
      // The page itself reached the service (Chromium resolved the name to it) and was refused.
      expect(landed?.status()).toBe(421);
      expect(new URL(page.url()).origin).toBe(attacker);
      svc.sandbox.resetCalls();
      const stolen = await s.step('read /fhir/Patient from the rebound origin', () => readPatients(page));
      expect(stolen).toEqual({ status: 421, resourceType: 'OperationOutcome', patients: 0 });
      expect(svc.sandbox.calls).toHaveLength(0);
      await s.shot('rebound-refused');

      // The same script on the service's own origin (the README's http://localhost:PORT).
      await s.step('open a page on localhost', () => page.goto(`${svc?.origin ?? ''}/healthz`));
      const own = await s.step('read /fhir/Patient from localhost', () => readPatients(page));
      expect(own.status).toBe(200);
      expect(own.resourceType).toBe('Bundle');
      expect(own.patients).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });

  it('spends nothing on a page of another site that embeds its URLs (images, a script): no upstream call', { timeout: 60_000 }, async ({ onTestFailed }) => {
    if (!svc || !browser || !elsewhere) throw new Error('setup failed');
    const s = await openSession(browser, 'embedding');
    onTestFailed(() => console.error(`browser journal (embedding):\n${s.journal.join('\n')}`));
    try {
      svc.sandbox.resetCalls();
      const from = svc.logs.length;
      const page = `http://${ELSEWHERE}:${(elsewhere.address() as AddressInfo).port}/`;
      await s.step('open another site\'s page embedding the service', () => s.page.goto(page, { waitUntil: 'load' }));
      // Each embedded URL reached the service (the browser asked; it then blocks what it may not
      // show the page), and each was refused before the door.
      const asked = () => svc?.logs.slice(from).filter((l) => l.msg === 'request') ?? [];
      await waitFor(() => asked().length >= 3, 20_000, { what: 'the three embedded requests' });
      expect(asked().map((l) => l.status)).toEqual([403, 403, 403]);
      expect(svc.sandbox.calls).toHaveLength(0);
    } finally {
      await s.close();
    }
  });
});
