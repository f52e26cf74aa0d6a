/**
 * The contract over HTTP: /openapi.yaml is the repository's openapi.yaml naming the
 * service's public base, /docs is an API reference page whose scripts all come from the
 * service (its CSP says the same), /docs/scalar.js is JavaScript, and none of them needs a
 * door. What the page renders in a browser is test/browser/docs.test.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Script } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startTestService, type TestService } from './helpers/service.ts';

const REPO_SPEC = readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8');

interface Spec {
  servers: { url: string }[];
  paths: Record<string, unknown>;
  components: { securitySchemes: { smart: { flows: { authorizationCode: { tokenUrl: string } } } } };
}

/** The repository's document as a service at `base` should serve it. */
const expectedSpec = (base: string) => parse(REPO_SPEC.replaceAll('http://localhost:8080', base)) as Spec;

/** Every src/href of a tag in `html` that loads something (script src, link href). */
function loadedUrls(html: string): { tag: string; url: string }[] {
  return [...html.matchAll(/<(script|link|img|iframe)\b[^>]*?\s(?:src|href)="([^"]*)"/gi)].map((m) => ({ tag: m[1] ?? '', url: m[2] ?? '' }));
}

/** The CSP's directives by name. */
function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name = '', ...values]) => [name, values]),
  );
}

// Anonymous access off: every FHIR request needs a door, and the contract still needs none.
let svc: TestService | undefined;
beforeAll(async () => {
  svc = await startTestService({ ANONYMOUS_ACCESS: 'false' });
});
afterAll(async () => {
  await svc?.close();
});
const service = () => {
  if (!svc) throw new Error('setup failed');
  return svc;
};

describe('/openapi.yaml', () => {
  it('serves the repository document, naming the service as its server, to callers without a token', async () => {
    const { origin } = service();
    expect((await fetch(`${service().fhir}/Patient?family=smith`)).status).toBe(401);
    const res = await fetch(`${origin}/openapi.yaml`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/yaml');
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const text = await res.text();
    const served = parse(text) as Spec;
    expect(Object.keys(served.paths)).toEqual(Object.keys((parse(REPO_SPEC) as Spec).paths));
    expect(served).toEqual(expectedSpec(origin));
    expect(served.servers[0]?.url).toBe(`${origin}/fhir`);
    expect(text).not.toContain('localhost:8080');
  });

  it('answers 304 to a client that holds the current version, and plain bytes to one that refuses gzip', async () => {
    const { origin } = service();
    const first = await fetch(`${origin}/openapi.yaml`);
    expect(first.headers.get('content-encoding')).toBe('gzip');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await fetch(`${origin}/openapi.yaml`, { headers: { 'if-none-match': etag ?? '' } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const plain = await fetch(`${origin}/openapi.yaml`, { headers: { 'accept-encoding': 'gzip;q=0, identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await plain.text()).toBe(await first.text());
  });

  it('names PUBLIC_BASE_URL, when set, in its servers and OAuth URLs', async () => {
    const proxied = await startTestService({ PUBLIC_BASE_URL: 'https://fhir.example.org' });
    try {
      const served = parse(await (await fetch(`${proxied.origin}/openapi.yaml`)).text()) as Spec;
      expect(served).toEqual(expectedSpec('https://fhir.example.org'));
      expect(served.servers.map((s) => s.url)).toEqual(['https://fhir.example.org/fhir', 'https://fhir.example.org/practices/{practiceId}/fhir']);
      expect(served.components.securitySchemes.smart.flows.authorizationCode.tokenUrl).toBe('https://fhir.example.org/auth/token');
    } finally {
      await proxied.close();
    }
  });
});

describe('/docs', () => {
  it('is an HTML page that loads only same-origin scripts, pinned by its CSP', async () => {
    const { origin } = service();
    const res = await fetch(`${origin}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html\b/);
    const html = await res.text();

    const loaded = loadedUrls(html);
    expect(loaded.map((l) => l.tag)).toContain('script');
    for (const { url } of loaded) expect(new URL(url, `${origin}/docs`).origin, url).toBe(origin);
    expect(html).not.toMatch(/\bsrc="https?:/i);
    const scripts = loaded.filter((l) => l.tag === 'script').map((l) => new URL(l.url, `${origin}/docs`).pathname);
    expect(scripts).toEqual(['/docs/scalar.js']);
    // The page reads the document from this service.
    expect(html).toContain('"url": "openapi.yaml"');

    const csp = directives(res.headers.get('content-security-policy') ?? '');
    expect(csp.get('default-src')).toEqual(["'none'"]);
    const inline = [...html.matchAll(/<script(?![^>]*\ssrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
      (m) => `'sha256-${createHash('sha256').update(m[1] ?? '').digest('base64')}'`,
    );
    expect(inline).toHaveLength(1);
    expect(csp.get('script-src')).toEqual(["'self'", ...inline]);
    expect(csp.get('connect-src')).toEqual(["'self'", origin]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    // No other origin anywhere in the policy.
    for (const values of csp.values()) for (const v of values) if (/^https?:/.test(v)) expect(v).toBe(origin);
  });

  it('serves its script as JavaScript, from this service, to callers without a token', async () => {
    const { origin } = service();
    const res = await fetch(`${origin}/docs/scalar.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=86400');
    const source = await res.text();
    // It parses as a script (compiled, not run) and defines what the page calls.
    expect(() => new Script(source, { filename: 'scalar.js' })).not.toThrow();
    expect(source).toContain('createApiReference');
    const again = await fetch(`${origin}/docs/scalar.js`, { headers: { 'if-none-match': res.headers.get('etag') ?? '' } });
    expect(again.status).toBe(304);
  });
});
