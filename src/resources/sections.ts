/**
 * The `section` search parameter: checked against Nextech's list of CCD sections (cached
 * per practice and caller) before any encounter is fetched; an unknown name is a 400 that
 * lists the valid ones. Also resolves the section key inside a section document's id.
 */
import { invalidParam } from '../fhir/outcome.ts';
import type { SearchRequest } from '../fhir/search/types.ts';
import { sectionKey } from '../ids/resource-ids.ts';
import type { RequestContext } from './context.ts';

/** The canonical section name a search asks for, or undefined when it asks for none. */
export async function requestedSection(ctx: RequestContext, req: SearchRequest): Promise<string | undefined> {
  const occurrences = req.params.filter((p) => p.def.name === 'section');
  if (occurrences.length === 0) return undefined;
  const values = occurrences.flatMap((p) => p.values);
  const [only] = values;
  if (occurrences.length > 1 || values.length !== 1 || only?.kind !== 'token' || only.token.system !== undefined) {
    throw invalidParam('section', 'takes exactly one section name (Nextech returns one section at a time)');
  }
  const name = only.token.code ?? '';
  const categories = await ctx.services.source.sections(ctx.call);
  const match = categories.find((c) => c.toLowerCase() === name.toLowerCase());
  if (!match) throw invalidParam('section', `is not a CCD section; valid sections: ${categories.join(', ')}`);
  return match;
}

/** The section whose key a document id carries, or undefined if none matches. */
export async function sectionForKey(ctx: RequestContext, key: string): Promise<string | undefined> {
  const categories = await ctx.services.source.sections(ctx.call);
  return categories.find((c) => sectionKey(c) === key);
}
