/**
 * /metrics is not public: loopback peers only, unless METRICS_TOKEN is set, and then only
 * with that bearer. Tried from this machine's own non-loopback address too, with a forged
 * X-Forwarded-For claiming loopback.
 */
import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { startTestService } from './helpers/service.ts';

/** This machine's first non-loopback IPv4 address (CI and development machines have one). */
function outsideAddress(): string {
  const found = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && !i.internal && i.family === 'IPv4');
  if (!found) throw new Error('this test needs a non-loopback IPv4 interface');
  return found.address;
}

describe('/metrics', () => {
  it('answers loopback peers and hides from every other address, whatever the headers claim', async () => {
    // Anonymous access off: with it on, nothing answers a request addressed to this machine's
    // other address (test/rebinding.test.ts); here only /metrics's own rule is at work.
    const svc = await startTestService({ HOST: '0.0.0.0', ANONYMOUS_ACCESS: 'false' });
    try {
      const port = new URL(svc.origin).port;
      const local = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(local.status).toBe(200);
      expect(await local.text()).toContain('fhir_http_request_duration_seconds');
      const outside = await fetch(`http://${outsideAddress()}:${port}/metrics`, { headers: { 'x-forwarded-for': '127.0.0.1', forwarded: 'for=127.0.0.1' } });
      expect(outside.status).toBe(404);
      expect(await outside.text()).not.toContain('fhir_http_request_duration_seconds');
      // The rest of the service answers that address as usual.
      expect((await fetch(`http://${outsideAddress()}:${port}/healthz`)).status).toBe(200);
    } finally {
      await svc.close();
    }
  });

  it('with METRICS_TOKEN, answers only that bearer, from anywhere', async () => {
    const token = 'metrics-scraper-token-0123456789';
    const svc = await startTestService({ HOST: '0.0.0.0', ANONYMOUS_ACCESS: 'false', METRICS_TOKEN: token });
    try {
      const port = new URL(svc.origin).port;
      for (const url of [`http://127.0.0.1:${port}/metrics`, `http://${outsideAddress()}:${port}/metrics`]) {
        expect((await fetch(url)).status).toBe(404);
        expect((await fetch(url, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(404);
        expect((await fetch(url, { headers: { authorization: `Bearer ${token.toUpperCase()}` } })).status).toBe(404);
        expect((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      }
    } finally {
      await svc.close();
    }
  });
});
