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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestService, type TestService } from '../helpers/service.ts';
import { launchChromium, openSession } from './chromium.ts';

const REBOUND = 'rebind.attacker.example';

let svc: TestService | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  svc = await startTestService();
  // The attacker's DNS, rebound: its name now answers with this machine's loopback address.
  browser = await launchChromium([`--host-resolver-rules=MAP ${REBOUND} 127.0.0.1`]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
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
});
