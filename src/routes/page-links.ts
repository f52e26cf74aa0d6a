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
 *
 * A link this service writes is one it accepts: before any work, a search checks once
 * (`assertFits`, on its longest link) that its links fit a URL here and stand for a search
 * within the caps; what a presented cursor opens to is checked against the caps like anything
 * a client sends (`searchInput`).
 */
import { FhirError, outcome } from '../fhir/outcome.ts';
import type { LinkRelation, PageLinks } from '../fhir/bundle.ts';
import { assertWithinCaps, exceedsCaps } from '../fhir/search/caps.ts';
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

/** Where a request's cursor may open: the cursors, and what this request is (caller, practice, path). */
export interface Paging {
  cursors: PageCursors;
  binding: CursorBinding;
}

/**
 * The parameters a request stands for, and the one place the caps on them are checked
 * (SEARCH_CAPS): those it sent in its URL and body (routes/request-pairs.ts reads them), or —
 * when it presents a cursor and `paging` says where cursors open — those the cursor stands
 * for, which then go through every check (caps, door, scopes, patient compartment) as if the
 * client had sent them. A cursor is only a search its caller could have sent itself.
 *
 * Throws 400 too-costly over the caps, 400 for a cursor that does not open for the binding or
 * does not come alone, 410 for one that expired. The cursor is never echoed.
 */
export function searchInput(sent: [string, string][], paging?: Paging): SearchInput {
  const input = paging === undefined ? { pairs: sent } : opened(sent, paging);
  assertWithinCaps(input.pairs);
  return input;
}

function opened(sent: [string, string][], { cursors, binding }: Paging): SearchInput {
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

export interface PageLinkOptions extends Paging {
  /** This request's FHIR base, without a trailing slash. */
  baseUrl: string;
  /** The cursor the request presented. */
  cursor?: string;
  /** Whether `self` may list the search's parameters: a GET request that sent them in its URL. */
  echoSelf: boolean;
}

/** The link writer of one request's searchset. */
export function pageLinks(opts: PageLinkOptions): PageLinks {
  const at = `${opts.baseUrl}/${opts.binding.path}?`;
  return {
    url(relation: LinkRelation, query: string): string {
      if (relation === 'self' && opts.cursor !== undefined) return `${at}${CURSOR_PARAM}=${opts.cursor}`;
      if (relation === 'self' && opts.echoSelf) return `${at}${query}`;
      return `${at}${CURSOR_PARAM}=${opts.cursors.seal(query, opts.binding)}`;
    },
    assertFits(query: string): void {
      // Measured, not sealed: one deflate, no encryption.
      if (at.length + CURSOR_PARAM.length + 1 + opts.cursors.sealedLength(query) > MAX_LINK_LENGTH) {
        throw new FhirError(
          400,
          outcome('error', 'too-long', `The search is too large to page: its links would be longer than ${MAX_LINK_LENGTH} characters, more than a URL may be here; send fewer or shorter search values`),
        );
      }
      // A link may stand for more than was sent: the patient in context, for a patient-scoped token.
      const why = exceedsCaps(new URLSearchParams(query));
      if (why !== undefined) throw new FhirError(400, outcome('error', 'too-costly', `The search is too large to page: its links would ask more than a request may (${why})`));
    },
  };
}

const cursorError = (status: number, code: 'invalid' | 'not-found', why: string) =>
  new FhirError(status, outcome('error', code, `${CURSOR_PARAM}: ${why}`, [CURSOR_PARAM]));
