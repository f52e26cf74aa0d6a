/**
 * The small HTML pages the SMART server shows a person: the patient picker (after logging
 * in to Nextech, for `launch/patient`), the page for a login already finished, and error
 * pages. Plain words, one column, readable on a phone, usable with a keyboard and a screen
 * reader. Everything interpolated is escaped; pages are never cached, framed or scripted.
 *
 * Browsers enforce a page's CSP `form-action` on the redirect that follows a form POST, so
 * a page whose forms end in a redirect to the app allows the app's redirect URI there.
 */

export interface PickerRow {
  id: string;
  name: string;
  birthDate?: string;
  chart?: string;
}

export interface Page {
  html: string;
  headers: Record<string, string>;
}

/** A link back to the app. */
export interface Back {
  label: string;
  href: string;
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch);

/** The CSP source that allows navigating to `uri`: its origin, or its scheme for an app's custom scheme. */
export function cspSourceOf(uri: string): string | undefined {
  try {
    const url = new URL(uri);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.origin;
    return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) ? url.protocol : undefined;
  } catch {
    return undefined;
  }
}

function headers(redirectUri?: string): Record<string, string> {
  const target = redirectUri === undefined ? undefined : cspSourceOf(redirectUri);
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; form-action 'self'${target ? ` ${target}` : ''}; frame-ancestors 'none'; base-uri 'none'`,
  };
}

const STYLE = `body{font:1.05rem/1.5 system-ui,sans-serif;max-width:36rem;margin:0 auto;padding:1rem;color:#1a1a1a}
h1{font-size:1.4rem;line-height:1.25}ul{padding-left:1.2rem}li{margin:.3rem 0}
.patients{list-style:none;padding:0}.patients li{margin:.5rem 0}
button,input,a.button{font:inherit;padding:.6rem .9rem;border-radius:.4rem;min-height:2.75rem}
input{border:1px solid #666;width:100%;box-sizing:border-box;margin:.3rem 0 .6rem}
button{border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;cursor:pointer}
.patient{width:100%;text-align:left;background:#fff;color:#1a1a1a;border-color:#666}
.patient small{display:block;color:#444}.secondary{background:#fff;color:#1d4ed8}
a.button{display:inline-block;border:1px solid #1d4ed8;color:#1d4ed8;text-decoration:none}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}`;

function layout(title: string, body: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title>
<style>${STYLE}</style></head><body><main><h1>${esc(title)}</h1>${body}</main></body></html>`;
}

const backLink = (back: Back | undefined) => (back ? `<p><a class="button" href="${esc(back.href)}">${esc(back.label)}</a></p>` : '');

/** An error page; with `back`, a link that returns to the app (which learns the sign-in failed). */
export function errorPage(message: string, back?: Back): Page {
  return { html: layout('Cannot continue', `<p>${esc(message)}</p>${backLink(back)}`), headers: headers() };
}

/** A login already finished: a reloaded callback, or the picker submitted twice. */
export function donePage(app: string, how: 'approved' | 'cancelled', back?: Back): Page {
  const what =
    how === 'approved'
      ? `You already chose a patient for ${app}, and it received its access. Nothing more is needed here.`
      : `You cancelled this request from ${app}. It received no access.`;
  return {
    html: layout('This sign-in is finished', `<p>${esc(what)}</p><p>To start again, go back to ${esc(app)} and sign in once more.</p>${backLink(back)}`),
    headers: headers(),
  };
}

export interface PickerView {
  txn: string;
  app: string;
  /** What the app may do, in plain words. */
  access: readonly string[];
  query: string;
  /** Search results, or undefined before any search. */
  rows?: readonly PickerRow[];
  /** The app's redirect URI: the choose and cancel forms end in a redirect there. */
  redirectUri: string;
  /** A message about the last search (e.g. Nextech did not answer). */
  notice?: string;
}

/** The patient picker: what the app asks for, a search, one button per patient, and Cancel. */
export function pickerPage(v: PickerView): Page {
  const txn = `<input type="hidden" name="txn" value="${esc(v.txn)}">`;
  const access = `<p><strong>${esc(v.app)}</strong> asks to:</p><ul>${v.access.map((a) => `<li>${esc(a)}</li>`).join('')}</ul>`;
  const search = `<form method="post" action="pick" role="search">${txn}
<label for="q">Patient name or chart number</label>
<input id="q" name="q" value="${esc(v.query)}" autocomplete="off" required maxlength="100"${v.rows === undefined ? ' autofocus' : ''}>
<button type="submit" name="action" value="search">Search</button></form>`;
  const results =
    v.notice !== undefined
      ? `<p role="alert">${esc(v.notice)}</p>`
      : v.rows === undefined
      ? ''
      : v.rows.length === 0
        ? '<p role="status">No patient found. Check the spelling, or try the chart number.</p>'
        : `<h2>Choose the patient</h2><ul class="patients">${v.rows
            .map((r) => {
              const detail = [r.birthDate ? `born ${r.birthDate}` : '', r.chart ? `chart ${r.chart}` : ''].filter(Boolean).join(', ');
              return `<li><form method="post" action="pick">${txn}<input type="hidden" name="patient" value="${esc(r.id)}">
<button class="patient" type="submit" name="action" value="choose">${esc(r.name)}${detail ? `<small>${esc(detail)}</small>` : ''}</button></form></li>`;
            })
            .join('')}</ul>`;
  const cancel = `<form method="post" action="pick">${txn}<p>Do not want to share?
<button class="secondary" type="submit" name="action" value="cancel">Cancel</button></p></form>`;
  // Cancel sits with what is asked, so it is never below a long list of patients.
  return { html: layout(`Choose a patient for ${v.app}`, `${access}${cancel}${search}${results}`), headers: headers(v.redirectUri) };
}
