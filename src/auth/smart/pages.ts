/**
 * The small HTML pages the SMART server shows a person: the patient picker (after logging
 * in to Nextech, for `launch/patient`) and error pages. Everything interpolated is escaped;
 * pages are never cached and never framed.
 */

export interface PickerRow {
  id: string;
  name: string;
  birthDate?: string;
  chart?: string;
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch);

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
};

function layout(title: string, body: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}li{margin:.4rem 0}</style>
</head><body><h1>${esc(title)}</h1>${body}</body></html>`;
}

export function errorPage(message: string): string {
  return layout('Cannot continue', `<p>${esc(message)}</p>`);
}

/** The patient picker: a search form, and one button per patient found. */
export function pickerPage(txn: string, query: string, rows: readonly PickerRow[] | undefined, client: string): string {
  const search = `<form method="get" action="pick"><input type="hidden" name="txn" value="${esc(txn)}">
<label>Patient name or chart number <input name="q" value="${esc(query)}" autofocus required></label>
<button type="submit">Search</button></form>`;
  const results =
    rows === undefined
      ? ''
      : rows.length === 0
        ? '<p>No patient found.</p>'
        : `<ul>${rows
            .map(
              (r) => `<li><form method="post" action="pick"><input type="hidden" name="txn" value="${esc(txn)}">
<input type="hidden" name="patient" value="${esc(r.id)}"><button type="submit">${esc(r.name)}</button>
${r.birthDate ? ` born ${esc(r.birthDate)}` : ''}${r.chart ? `, chart ${esc(r.chart)}` : ''}</form></li>`,
            )
            .join('')}</ul>`;
  return layout('Choose a patient', `<p>${esc(client)} asks for one patient's records.</p>${search}${results}`);
}
