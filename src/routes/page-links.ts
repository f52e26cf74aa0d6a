/**
 * The links of one request's searchset, and the cursor a followed link presents.
 *
 * `first`, `next` and `previous` are always `{base}/{path}?_cursor=…`: the search sealed for
 * this caller and practice (page-cursors.ts), whichever way it came, so following them puts
 * no search value into a URL. R4 leaves their form to the server: paging links "are opaque to
 * the client, have no dictated structure, and only the server understands them"
 * (https://hl7.org/fhir/R4/http.html#paging).
 *
 * `self` says what this page is. For a GET search it lists the parameters applied (what R4
 * asks of a RESTful search, https://hl7.org/fhir/R4/search.html#conformance), all of which
 * the client itself put in the URL it sent: echoing them adds no exposure. A page reached by
 * a cursor is named by that cursor (the URL the client used), and a POST search's by a new
 * one: its values were sent in a body precisely to keep them out of URLs. Parameters that
 * were ignored are reported in the bundle's outcome entry either way.
 */
import { FhirError, outcome } from '../fhir/outcome.ts';
import type { LinkRelation, PageLinks } from '../fhir/bundle.ts';
import { MAX_URL_LENGTH } from './limits.ts';
import type { CursorBinding, PageCursors } from './page-cursors.ts';

/** The one parameter of a paging link. */
export const CURSOR_PARAM = '_cursor';

/** Parameters of every interaction (https://hl7.org/fhir/R4/http.html#parameters), allowed beside a cursor. */
const PROTOCOL_PARAMS: ReadonlySet<string> = new Set(['_format', '_pretty']);

/**
 * The longest link written: the service's own URL cap (routes/limits.ts) less room for a
 * longer host than the public base names (a proxy may pass another on), so a link this
 * service writes is always one it accepts.
 */
export const MAX_LINK_LENGTH = MAX_URL_LENGTH - 1024;

/** What a request asks for: its parameters, taken from the cursor it presents when it presents one. */
export interface SearchInput {
  pairs: [string, string][];
  /** The cursor presented, which names this page (`self`). */
  cursor?: string;
}

/**
 * The parameters of a request: as sent, or those its cursor stands for — which then go
 * through every check (door, scopes, patient compartment) as if the client had sent them.
 * Throws 400 for a cursor that does not open for `binding` or does not come alone, 410 for
 * one that expired. The cursor is never echoed.
 */
export function searchInput(sent: [string, string][], cursors: PageCursors, binding: CursorBinding): SearchInput {
  const cursor = sent.filter(([k]) => k === CURSOR_PARAM);
  if (cursor.length === 0) return { pairs: sent };
  if (cursor.length > 1 || sent.some(([k]) => k !== CURSOR_PARAM && !PROTOCOL_PARAMS.has(k))) {
    throw cursorError(400, 'invalid', 'a paging link stands for its whole search: follow it as it is, with no other search parameter');
  }
  const value = cursor[0]?.[1] ?? '';
  const opened = cursors.open(value, binding);
  switch (opened.kind) {
    case 'invalid':
      throw cursorError(400, 'invalid', 'this paging link does not open here: it was altered, or made for another caller, practice or search; run the search again');
    case 'expired':
      throw cursorError(410, 'not-found', 'this paging link has expired; run the search again');
    case 'query':
      return { pairs: [...new URLSearchParams(opened.query)], cursor: value };
  }
}

export interface PageLinkOptions {
  cursors: PageCursors;
  binding: CursorBinding;
  /** This request's FHIR base, without a trailing slash. */
  baseUrl: string;
  /** The cursor the request presented. */
  cursor?: string;
  /** Whether `self` may list the search's parameters: a GET request that sent them in its URL. */
  echoSelf: boolean;
}

/** The link writer of one request's searchset. Throws 400 `too-long` when a link would not fit a URL here. */
export function pageLinks(opts: PageLinkOptions): PageLinks {
  const at = `${opts.baseUrl}/${opts.binding.path}?`;
  return {
    url(relation: LinkRelation, query: string): string {
      if (relation === 'self' && opts.cursor !== undefined) return `${at}${CURSOR_PARAM}=${opts.cursor}`;
      if (relation === 'self' && opts.echoSelf) return `${at}${query}`;
      const url = `${at}${CURSOR_PARAM}=${opts.cursors.seal(query, opts.binding)}`;
      if (url.length > MAX_LINK_LENGTH) {
        throw new FhirError(
          400,
          outcome('error', 'too-long', `The search is too large to page: its links would be longer than ${MAX_LINK_LENGTH} characters, more than a URL may be here; send fewer or shorter search values`),
        );
      }
      return url;
    },
  };
}

const cursorError = (status: number, code: 'invalid' | 'not-found', why: string) =>
  new FhirError(status, outcome('error', code, `${CURSOR_PARAM}: ${why}`, [CURSOR_PARAM]));
