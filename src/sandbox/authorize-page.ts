/**
 * The sandbox's interactive login page for `GET /oauth2/authorize`, standing in for
 * Nextech's hosted login. It posts back to the same URL with the OAuth parameters in
 * hidden fields; every echoed value is escaped.
 */
import { escapeHtml } from './html.ts';

/** The OAuth parameters the form carries through the login. */
export interface AuthorizeParams {
  clientId: string;
  redirectUri: string;
  responseType: string;
  resource: string;
  state: string;
}

const hidden = (name: string, value: string): string =>
  `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;

/** The login form, optionally with an error message above it. */
export function authorizePage(params: AuthorizeParams, error?: string): string {
  const alert = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>\n` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sign in – Nextech sandbox</title>
</head>
<body>
<main>
<h1>Sign in to the Nextech sandbox</h1>
<p>Use username <code>demo</code> and password <code>demo</code>.</p>
${alert}<form method="post" action="/oauth2/authorize">
${hidden('client_id', params.clientId)}
${hidden('redirect_uri', params.redirectUri)}
${hidden('response_type', params.responseType)}
${hidden('resource', params.resource)}
${hidden('state', params.state)}
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
`;
}
