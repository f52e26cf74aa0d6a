import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { resourceModules } from '../src/resources/registry.ts';

interface Operation {
  parameters?: ({ name?: string; in?: string } | { $ref: string })[];
}
type PathItem = Partial<Record<'get' | 'post' | 'put' | 'delete', Operation>>;
const spec = parse(readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8')) as { paths: Record<string, PathItem> };

describe('openapi.yaml', () => {
  it('documents metadata and every registered interaction', () => {
    expect(spec.paths['/metadata']?.get).toBeDefined();
    for (const m of resourceModules) {
      if (m.interactions.includes('search-type')) {
        expect(spec.paths[`/${m.type}`]?.get, `GET /${m.type}`).toBeDefined();
        expect(spec.paths[`/${m.type}/_search`]?.post, `POST /${m.type}/_search`).toBeDefined();
      }
      if (m.interactions.includes('read')) expect(spec.paths[`/${m.type}/{id}`]?.get, `GET /${m.type}/{id}`).toBeDefined();
      if (m.interactions.includes('create')) expect(spec.paths[`/${m.type}`]?.post, `POST /${m.type}`).toBeDefined();
      if (m.interactions.includes('update')) expect(spec.paths[`/${m.type}/{id}`]?.put, `PUT /${m.type}/{id}`).toBeDefined();
      if (m.interactions.includes('delete')) expect(spec.paths[`/${m.type}/{id}`]?.delete, `DELETE /${m.type}/{id}`).toBeDefined();
      for (const op of m.operations ?? []) {
        expect(spec.paths[`/${m.type}/$${op.name}`]?.get, `GET $${op.name}`).toBeDefined();
        expect(spec.paths[`/${m.type}/$${op.name}`]?.post, `POST $${op.name}`).toBeDefined();
      }
    }
  });

  it('lists every search parameter of every resource, and no others', () => {
    for (const m of resourceModules.filter((x) => x.interactions.includes('search-type'))) {
      const documented = (spec.paths[`/${m.type}`]?.get?.parameters ?? [])
        .filter((p): p is { name: string; in: string } => 'in' in p && p.in === 'query')
        .map((p) => p.name.split(':')[0]);
      expect(new Set(documented)).toEqual(new Set(m.searchParams.map((p) => p.name)));
    }
  });

  it('documents no FHIR path the registry does not serve', () => {
    const served = new Set([
      '/metadata',
      '/healthz',
      '/readyz',
      '/metrics',
      '/openapi.yaml',
      '/docs',
      '/docs/scalar.js',
      '/.well-known/smart-configuration',
      '/auth/authorize',
      '/auth/callback',
      '/auth/pick',
      '/auth/token',
      '/auth/introspect',
      '/auth/jwks',
      '/auth/.well-known/openid-configuration',
      // Bulk Data Access (src/bulk/export-routes.ts).
      '/Group/{id}/$export',
      '/bulk/status/{job}',
      '/bulk/files/{job}/{name}',
    ]);
    for (const m of resourceModules) {
      if (m.interactions.includes('search-type')) for (const suffix of ['', '/_search']) served.add(`/${m.type}${suffix}`);
      if (m.interactions.includes('read')) served.add(`/${m.type}/{id}`);
      for (const op of m.operations ?? []) served.add(`/${m.type}/$${op.name}`);
    }
    expect(Object.keys(spec.paths).filter((p) => !served.has(p))).toEqual([]);
  });
});
