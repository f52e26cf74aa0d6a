/**
 * The `Prefer` request header (RFC 7240) as FHIR uses it: `respond-async` (the asynchronous
 * request pattern, https://hl7.org/fhir/R4/async.html) and `handling=strict|lenient`
 * (https://hl7.org/fhir/R4/search.html#errors). Several preferences come comma-separated, or
 * in several headers (which arrive joined by commas); names are case-insensitive and values
 * may be quoted. A preference written after a `;` (as a parameter of another) is honoured too,
 * as clients write `Prefer: respond-async; handling=lenient`. Unknown ones are ignored (RFC 7240 §2).
 */

export interface Preferences {
  respondAsync: boolean;
  handling?: 'strict' | 'lenient';
}

export function preferences(header: string | undefined): Preferences {
  const out: Preferences = { respondAsync: false };
  for (const token of (header ?? '').split(/[,;]/)) {
    const eq = token.indexOf('=');
    const name = (eq < 0 ? token : token.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? '' : token.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (name === 'respond-async') out.respondAsync = true;
    // The first of a preference given twice counts (RFC 7240 §2).
    else if (name === 'handling' && out.handling === undefined && (value === 'strict' || value === 'lenient')) out.handling = value;
  }
  return out;
}
