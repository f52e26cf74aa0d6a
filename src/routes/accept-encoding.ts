/**
 * Accept-Encoding negotiation (RFC 9110 §12.5.3): which of the content codings we offer a
 * client accepts most, as a pure function of the header. A coding listed with `q=0` is
 * refused, `*` stands for every coding not listed, and `identity` listed with a higher
 * weight than every offered coding means "rather not at all". Among equal weights the
 * earlier offer wins (we offer `br` before `gzip`: smaller, and as fast at the levels used).
 * No header means no compression: RFC 9110 allows any coding then, but a client that says
 * nothing may be one that cannot decode.
 */

/** The codings this service can produce. */
export type Coding = 'br' | 'gzip';

/** A qvalue (RFC 9110 §12.4.2): 0 to 1 with at most three decimals. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/** The weight of each coding the header names (lower-cased; `x-gzip` is gzip); a malformed weight drops the entry. */
export function parseAcceptEncoding(header: string): Map<string, number> {
  const weights = new Map<string, number>();
  for (const item of header.split(',')) {
    const [name = '', ...params] = item.split(';').map((s) => s.trim().toLowerCase());
    if (name === '') continue;
    const q = params.find((p) => p.startsWith('q='))?.slice(2);
    if (q !== undefined && !QVALUE.test(q)) continue;
    const coding = name === 'x-gzip' ? 'gzip' : name;
    // Listed twice: the lower weight holds (refusing is the safer reading).
    weights.set(coding, Math.min(weights.get(coding) ?? 1, q === undefined ? 1 : Number(q)));
  }
  return weights;
}

/** The coding of `offered` (in order of preference) the client accepts most; undefined: send the body as it is. */
export function chooseCoding(header: string | undefined, offered: readonly Coding[]): Coding | undefined {
  if (header === undefined) return undefined;
  const weights = parseAcceptEncoding(header);
  const any = weights.get('*');
  let best: { coding: Coding; q: number } | undefined;
  for (const coding of offered) {
    const q = weights.get(coding) ?? any ?? 0;
    if (q > 0 && (best === undefined || q > best.q)) best = { coding, q };
  }
  const identity = weights.get('identity');
  if (best === undefined || (identity !== undefined && identity > best.q)) return undefined;
  return best.coding;
}
