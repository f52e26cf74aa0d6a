/**
 * Shared set-up for the sandbox tests: a sandbox on port 0 with a ready access token, and
 * a `get` that sends the two documented headers (either can be overridden or dropped).
 */
import { expect } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.ts';
import type { SandboxOptions } from '../../src/sandbox/app.ts';

export interface TestSandbox extends RunningSandbox {
  accessToken: string;
  refreshToken: string;
  /** GET an API path (relative to apiBaseUrl) with a bearer token and practice header. */
  get(path: string, headers?: { token?: string | null; practiceId?: string | null }): Promise<Response>;
}

/** Starts a sandbox on a free port and issues a token for it. */
export async function startTestSandbox(options: SandboxOptions = {}): Promise<TestSandbox> {
  const running = await startSandbox(options);
  const { accessToken, refreshToken } = running.sandbox.issueTokens();
  return {
    ...running,
    accessToken,
    refreshToken,
    get(path, { token = accessToken, practiceId = '1001' } = {}) {
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (practiceId !== null) headers['x-nextech-practice-id'] = practiceId;
      return fetch(`${running.apiBaseUrl}${path}`, { headers });
    },
  };
}

/** POSTs an x-www-form-urlencoded body without following redirects. */
export function postForm(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
}

/** `expect.any(String)` typed as unknown, so object literals using it stay lint-clean. */
export const anyString: unknown = expect.any(String);
