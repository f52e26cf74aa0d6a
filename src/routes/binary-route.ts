/**
 * `GET [base]/Binary/{id}`: the CCD as the raw document when the client asks for
 * `text/html` (https://hl7.org/fhir/R4/binary.html#rest), else as a FHIR Binary resource.
 * The raw HTML comes from an EHR, so it is served sandboxed: no scripts, no sniffing.
 */
import type { Context } from 'hono';
import { assertJsonAcceptable } from '../fhir/negotiate.ts';
import { parseView } from '../fhir/search/parse.ts';
import { applyView } from '../fhir/view.ts';
import { binaryModule, readBinary, readCcd } from '../resources/binary.ts';
import type { RequestContext } from '../resources/context.ts';
import { auditLine } from './audit.ts';
import type { AppEnv } from './env.ts';
import { fhirJson } from './respond.ts';

function wantsHtml(accept: string | undefined, format: string | undefined): boolean {
  if (format) return /^(html|text\/html)$/i.test(format);
  return (accept ?? '').split(',').some((part) => {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    return type === 'text/html' && !params.includes('q=0');
  });
}

export async function binaryRoute(c: Context<AppEnv>, ctx: RequestContext): Promise<Response> {
  const id = c.req.param('id') ?? '';
  const format = new URL(c.req.url).searchParams.get('_format') ?? undefined;
  if (wantsHtml(c.req.header('accept'), format)) {
    const ccd = await readCcd(ctx, id);
    auditLine(c, 'read', 'Binary', { resourceType: 'Binary', id, contentType: 'text/html' });
    return c.body(ccd.html, 200, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:",
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
  }
  assertJsonAcceptable(c.req.header('accept'), format);
  const view = parseView([...new URL(c.req.url).searchParams.entries()]);
  const binary = await readBinary(ctx, id);
  auditLine(c, 'read', 'Binary', binary);
  return fhirJson(c, applyView(binary, view, binaryModule.summaryElements));
}
