/**
 * FHIR search value escaping (https://hl7.org/fhir/R4/search.html#escaping): `\,` `\|` `\$`
 * and `\\` stand for the literal characters; an unescaped comma separates OR-ed values and
 * an unescaped `|` separates a token's system from its code.
 */

/** Splits on every unescaped `sep`, leaving escapes in place in each part. */
export function splitUnescaped(value: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (ch === '\\' && i + 1 < value.length) {
      current += ch + (value[i + 1] as string);
      i++;
    } else if (ch === sep) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** Removes the escapes: `a\,b` → `a,b`. */
export function unescapeValue(value: string): string {
  return value.replace(/\\([\\,|$])/g, '$1');
}
