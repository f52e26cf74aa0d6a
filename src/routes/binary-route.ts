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
import { practiceIds, type RequestContext } from '../resources/context.ts';
import { authorize, forbidden, patientNumberOfId } from '../auth/smart/compartment.ts';
import { auditLine } from './audit.ts';
import type { AppEnv } from './env.ts';
import { fhirJson } from './respond.ts';

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir']);

/**
 * Whether the client prefers the raw document: `text/html` with a higher quality than any
 * JSON type (on a tie, whichever it listed first). No Accept, or a wildcard, means FHIR JSON.
 */
function wantsHtml(accept: string | undefined, format: string | undefined): boolean {
  if (format) return /^(html|text\/html)$/i.test(format);
  let html = { q: 0, at: Infinity };
  let json = { q: 0, at: Infinity };
  (accept ?? '').split(',').forEach((part, at) => {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2)) || 0;
    if (type === 'text/html' && q > html.q) html = { q, at };
    if (JSON_TYPES.has(type) && q > json.q) json = { q, at };
  });
  return html.q > 0 && (html.q > json.q || (html.q === json.q && html.at < json.at));
}

export async function binaryRoute(c: Context<AppEnv>, ctx: RequestContext): Promise<Response> {
  const id = c.req.param('id') ?? '';
  const ids = practiceIds(ctx);
  const patient = ctx.grant ? authorize(ctx.grant, ids, 'Binary', 'read') : undefined;
  if (patient !== undefined && patientNumberOfId(ids, 'Binary', id) !== patient) {
    throw forbidden('The access token only allows the patient in context');
  }
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
  return fhirJson(c, applyView(binary, view, binaryModule.view));
}
