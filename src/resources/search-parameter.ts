/**
 * SearchParameter: the definitions of the search parameters this server defines itself
 * (those whose `definition` is under `{base}/SearchParameter/`), derived from the same
 * declarations the search engine uses, readable at `[base]/SearchParameter/{id}` so that
 * the CapabilityStatement's `definition` URLs resolve.
 */
import type { SearchParameter } from 'fhir/r4';
import { notFound } from '../fhir/outcome.ts';
import type { SearchParamDef } from '../fhir/search/types.ts';
import type { ResourceModule } from './registry-types.ts';

const OWN = '{base}/SearchParameter/';

/** The SearchParameter resource of one of our own parameter definitions. */
function searchParameterOf(type: string, def: SearchParamDef, baseUrl: string): SearchParameter {
  return {
    resourceType: 'SearchParameter',
    id: def.definition.slice(OWN.length),
    url: def.definition.replace('{base}', baseUrl),
    name: def.name,
    status: 'active',
    experimental: false,
    publisher: 'nextech-fhir-facade',
    description: def.documentation,
    code: def.name,
    base: [type],
    type: def.type,
    ...(def.expression ? { expression: def.expression } : {}),
    ...(def.targets ? { target: [...def.targets] as SearchParameter['target'] } : {}),
    multipleOr: def.multipleOr ?? true,
    multipleAnd: def.multipleAnd ?? true,
  };
}

/** The SearchParameter module over the parameters the given modules define themselves. */
export function searchParameterModuleFor(modules: readonly ResourceModule[]): ResourceModule {
  const own = new Map(
    modules.flatMap((m) =>
      m.searchParams.filter((p) => p.definition.startsWith(OWN)).map((p) => [p.definition.slice(OWN.length), { type: m.type, def: p }] as const),
    ),
  );
  return {
    type: 'SearchParameter',
    profile: 'http://hl7.org/fhir/StructureDefinition/SearchParameter',
    documentation: 'Definitions of the search parameters this server defines itself.',
    interactions: ['read'],
    conformance: true,
    searchParams: [],
    capabilities: { includes: [], revincludes: [], sorts: [] },
    view: {
      summary: new Set(['url', 'version', 'name', 'status', 'experimental', 'date', 'publisher', 'code', 'base', 'type']),
      mandatory: new Set(['url', 'name', 'status', 'description', 'code', 'base', 'type']),
    },
    read: (ctx, id) => {
      const found = own.get(id);
      return found ? Promise.resolve(searchParameterOf(found.type, found.def, ctx.baseUrl)) : Promise.reject(notFound('SearchParameter'));
    },
  };
}
