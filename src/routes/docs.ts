/**
 * The contract, browsable: `/openapi.yaml` (the repository's openapi.yaml, naming this
 * deployment's public base) and `/docs`, Scalar's interactive API reference over it. The
 * page's script is served from here (`/docs/scalar.js`, the standalone bundle of the pinned
 * `@scalar/api-reference`), so the page loads nothing from any other origin, and its CSP
 * says so. All three are public, behind no door: they describe the API and hold no patient data.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Scalar } from '@scalar/hono-api-reference';
import { Hono, type MiddlewareHandler } from 'hono';
import type { AppEnv } from './env.ts';
import { lazyAsset, sendAsset } from './static-asset.ts';

const SPEC_FILE = new URL('../../openapi.yaml', import.meta.url);
const SCALAR_BUNDLE = '@scalar/api-reference/browser/standalone.js';
/**
 * Where openapi.yaml names this service (its servers, OAuth URLs): the address `npm start`
 * serves at, which the README's examples use. The served copy names the public base instead.
 */
const DOCUMENTED_BASE = /http:\/\/localhost:8080(?![0-9])/g;

/**
 * RFC 9512's media type for YAML: generic tools (browsers, proxies, editors) know it, where
 * the vendor type `application/vnd.oai.openapi` is known to few; OpenAPI tools read either.
 */
const YAML = 'application/yaml';

/** The routes `/openapi.yaml`, `/docs` and `/docs/scalar.js`; `publicBase` as in the config. */
export function docsRoutes(publicBase: string): Hono<AppEnv> {
  const spec = lazyAsset(async () => (await readFile(SPEC_FILE, 'utf8')).replace(DOCUMENTED_BASE, () => publicBase));
  const script = lazyAsset(async () => readFile(createRequire(import.meta.url).resolve(SCALAR_BUNDLE)));
  const app = new Hono<AppEnv>();
  // The document changes only with a deployment: caches may keep it a few minutes, then revalidate.
  app.get('/openapi.yaml', async (c) => sendAsset(c, await spec(), YAML, 'public, max-age=300'));
  app.get('/docs/scalar.js', async (c) => sendAsset(c, await script(), 'text/javascript; charset=utf-8', 'public, max-age=86400'));
  app.get(
    '/docs',
    pagePolicy(new URL(publicBase).origin),
    Scalar<AppEnv>({
      // Relative to /docs, so the page also works behind a proxy that adds a path prefix.
      url: 'openapi.yaml',
      cdn: 'docs/scalar.js',
      pageTitle: 'Nextech FHIR facade: API reference',
      // The default fonts, the developer toolbar (share, upload), the AI agent (on by default
      // on localhost: it searches Scalar's registry) and telemetry all reach Scalar's
      // servers; the page talks to this service only.
      withDefaultFonts: false,
      showDeveloperTools: 'never',
      agent: { disabled: true },
      telemetry: false,
      documentDownloadType: 'yaml',
    }),
  );
  return app;
}

/**
 * Adds the page's CSP to the HTML the middleware renders. Scripts: this origin, plus the
 * hash of each inline script (Scalar's start-up call), so no other inline script runs.
 * Styles need 'unsafe-inline': the bundle injects its CSS as <style> elements it creates,
 * with no way to give them a nonce. Fetches (the document, "Test Request") go to this
 * service only.
 */
function pagePolicy(apiOrigin: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    if (c.res.status !== 200) return;
    const html = await c.res.text();
    const scripts = [...html.matchAll(/<script(?![^>]*\ssrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
      (m) => `'sha256-${createHash('sha256').update(m[1] ?? '', 'utf8').digest('base64')}'`,
    );
    c.res = new Response(html, { status: 200, headers: c.res.headers });
    c.header(
      'content-security-policy',
      [
        "default-src 'none'",
        `script-src 'self' ${scripts.join(' ')}`,
        "style-src 'self' 'unsafe-inline'",
        `connect-src 'self' ${apiOrigin}`,
        "img-src 'self' data:",
        "font-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
      ].join('; '),
    );
    c.header('cache-control', 'no-cache');
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
  };
}
