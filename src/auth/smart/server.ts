/**
 * The SMART App Launch authorization server the apps see (standalone launch, authorization
 * code + PKCE S256, refresh), brokering to Nextech's OAuth: the user logs in at Nextech,
 * the facade exchanges Nextech's code, and hands the app its own tokens that carry the
 * user's Nextech tokens sealed inside. All state travels sealed (sealer.ts), so replicas
 * sharing SMART_KEY need no session store. Only authorization codes are remembered, in
 * memory, to refuse a replay on this replica.
 */
import { randomUUID } from 'node:crypto';
import type { SmartClient, SmartSettings } from '../../config.ts';
import { parsePatientId } from '../../mapping/ids.ts';
import type { NextechClient } from '../../nextech/client.ts';
import { exchangeCode, refreshGrant, type NextechOAuthClient, type NextechTokens } from '../nextech-oauth.ts';
import type { AccessClaims, CodeClaims, GrantClaims, PendingClaims, PickerClaims, RefreshClaims } from './claims.ts';
import { isValidChallenge, verifyPkceS256 } from './pkce.ts';
import type { Sealer } from './sealer.ts';
import { OAuthError } from '../oauth-error.ts';

export { OAuthError } from '../oauth-error.ts';
import { narrow, parseScopes } from './scopes.ts';

export interface SmartServerDeps {
  settings: SmartSettings & { key: string };
  sealer: Sealer;
  oauth: NextechOAuthClient;
  nextechAuthorizeUrl: string;
  publicBaseUrl: string;
  defaultPracticeId?: string;
  supportedTypes: readonly string[];
  nextech: NextechClient;
  now: () => number;
}

const CODE_SECONDS = 60;
const LOGIN_SECONDS = 600;
const REFRESH_SECONDS = { offline: 30 * 86_400, online: 12 * 3600 };

export class SmartServer {
  readonly #usedCodes = new Map<string, number>();

  constructor(readonly deps: SmartServerDeps) {}

  get callbackUrl(): string {
    return `${this.deps.publicBaseUrl}/auth/callback`;
  }

  client(clientId: string | undefined): SmartClient | undefined {
    return this.deps.settings.clients.find((c) => c.clientId === clientId);
  }

  /** The practice a FHIR base (`aud`) names, or undefined when it is not one of ours. */
  practiceOfAud(aud: string): string | undefined {
    const base = this.deps.publicBaseUrl;
    const a = aud.replace(/\/+$/, '');
    if (a === `${base}/fhir`) return this.deps.defaultPracticeId;
    const m = new RegExp(`^${escapeRegExp(base)}/practices/([A-Za-z0-9-]{1,64})/fhir$`).exec(a);
    return m?.[1];
  }

  /** Validates an authorize request (client and redirect already checked) and returns Nextech's login URL. */
  startLogin(client: SmartClient, q: Record<string, string | undefined>): string {
    if (q.response_type !== 'code') throw new OAuthError('unsupported_response_type', 'response_type must be code');
    if (q.code_challenge_method !== 'S256' || !isValidChallenge(q.code_challenge ?? '')) {
      throw new OAuthError('invalid_request', 'PKCE with code_challenge_method=S256 is required');
    }
    const prac = q.aud ? this.practiceOfAud(q.aud) : undefined;
    if (!q.aud || !prac) throw new OAuthError('invalid_request', 'aud must be the FHIR base URL of this server');
    const scopes = parseScopes(q.scope ?? '', this.deps.supportedTypes);
    if (scopes.resources.length === 0) throw new OAuthError('invalid_scope', 'no supported resource scope was requested');
    const pending: PendingClaims = {
      cid: client.clientId,
      ruri: q.redirect_uri ?? '',
      cc: q.code_challenge ?? '',
      scope: grantedText(scopes.text),
      aud: q.aud.replace(/\/+$/, ''),
      prac,
      ...(q.state !== undefined ? { st: q.state } : {}),
    };
    const state = this.deps.sealer.seal('pending', { ...pending }, LOGIN_SECONDS);
    const url = new URL(this.deps.nextechAuthorizeUrl);
    url.searchParams.set('client_id', this.deps.oauth.clientId);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('redirect_uri', this.callbackUrl);
    // Nextech's documentation spells it redirect_url; send both.
    url.searchParams.set('redirect_url', this.callbackUrl);
    if (this.deps.oauth.resource) url.searchParams.set('resource', this.deps.oauth.resource);
    url.searchParams.set('state', state);
    return url.toString();
  }

  openPending(state: string | undefined): PendingClaims | undefined {
    return state ? this.deps.sealer.open<PendingClaims>('pending', state) : undefined;
  }

  /** Exchanges Nextech's code; then either the picker (launch/patient) or the app's code. */
  async finishLogin(pending: PendingClaims, code: string): Promise<{ picker: string } | { redirect: string }> {
    const tokens = await exchangeCode(this.deps.oauth, code, this.callbackUrl);
    const withTokens: PickerClaims = { ...pending, ...this.#nextechClaims(tokens) };
    if (parseScopes(pending.scope, this.deps.supportedTypes).launchPatient) {
      return { picker: this.deps.sealer.seal('picker', { ...withTokens }, LOGIN_SECONDS) };
    }
    return { redirect: this.issueCode(withTokens) };
  }

  openPicker(txn: string | undefined): PickerClaims | undefined {
    return txn ? this.deps.sealer.open<PickerClaims>('picker', txn) : undefined;
  }

  /** The app's redirect with a fresh authorization code (and its state). */
  issueCode(p: PickerClaims, patient?: string): string {
    const claims: CodeClaims = {
      cid: p.cid,
      scope: p.scope,
      prac: p.prac,
      aud: p.aud,
      ruri: p.ruri,
      cc: p.cc,
      nat: p.nat,
      nexp: p.nexp,
      jti: randomUUID(),
      ...(p.nrt ? { nrt: p.nrt } : {}),
      ...(patient ? { pat: patient } : {}),
    };
    const url = new URL(p.ruri);
    url.searchParams.set('code', this.deps.sealer.seal('code', { ...claims }, CODE_SECONDS));
    if (p.st !== undefined) url.searchParams.set('state', p.st);
    return url.toString();
  }

  /** The token endpoint: authorization_code (with PKCE) and refresh_token grants. */
  async token(client: SmartClient, form: URLSearchParams): Promise<Record<string, unknown>> {
    const grant = form.get('grant_type');
    if (grant === 'authorization_code') return this.#codeGrant(client, form);
    if (grant === 'refresh_token') return this.#refreshGrant(client, form);
    throw new OAuthError('unsupported_grant_type', 'grant_type must be authorization_code or refresh_token');
  }

  openAccess(token: string): AccessClaims | undefined {
    return this.deps.sealer.open<AccessClaims>('access', token);
  }

  #codeGrant(client: SmartClient, form: URLSearchParams): Record<string, unknown> {
    const code = this.deps.sealer.open<CodeClaims & { exp: number }>('code', form.get('code') ?? '');
    if (!code || code.cid !== client.clientId || code.ruri !== form.get('redirect_uri')) {
      throw new OAuthError('invalid_grant', 'the code is invalid, expired, or was issued to another client or redirect_uri');
    }
    if (!verifyPkceS256(form.get('code_verifier') ?? '', code.cc)) throw new OAuthError('invalid_grant', 'PKCE verification failed');
    this.#spend(code.jti, code.exp);
    const { ruri: _r, cc: _c, jti: _j, nexp, nat, nrt, ...grant } = code;
    return this.#tokens(grant, nat, nexp, nrt);
  }

  async #refreshGrant(client: SmartClient, form: URLSearchParams): Promise<Record<string, unknown>> {
    const old = this.deps.sealer.open<RefreshClaims>('refresh', form.get('refresh_token') ?? '');
    if (!old || old.cid !== client.clientId) throw new OAuthError('invalid_grant', 'the refresh token is invalid or expired');
    let scope = old.scope;
    const asked = form.get('scope');
    if (asked) {
      const granted = parseScopes(old.scope, this.deps.supportedTypes);
      // A refresh can only keep or shrink what was granted.
      scope = grantedText(narrow(granted, parseScopes(asked, this.deps.supportedTypes)).text);
      if (parseScopes(scope, this.deps.supportedTypes).resources.length === 0) throw new OAuthError('invalid_scope', 'no granted scope requested');
    }
    let tokens: NextechTokens;
    try {
      tokens = await refreshGrant(this.deps.oauth, old.nrt);
    } catch {
      throw new OAuthError('invalid_grant', 'Nextech refused to renew the session; log in again');
    }
    const { nrt: _n, exp: _e, ...grant } = old as RefreshClaims & { exp?: number };
    const { nat, nexp, nrt } = this.#nextechClaims(tokens);
    return this.#tokens({ ...grant, scope }, nat, nexp, nrt);
  }

  #tokens(grant: GrantClaims, nat: string, nexp: number, nrt: string | undefined): Record<string, unknown> {
    const nowS = Math.floor(this.deps.now() / 1000);
    // Never outlive the Nextech token inside.
    const ttl = Math.max(1, Math.min(this.deps.settings.accessTokenSeconds, nexp - nowS));
    const access: AccessClaims = { ...grant, nat };
    const scopes = parseScopes(grant.scope, this.deps.supportedTypes);
    const wantsRefresh = (scopes.offlineAccess || scopes.onlineAccess) && nrt !== undefined;
    const refreshTtl = scopes.offlineAccess ? REFRESH_SECONDS.offline : REFRESH_SECONDS.online;
    return {
      access_token: this.deps.sealer.seal('access', { ...access }, ttl),
      token_type: 'Bearer',
      expires_in: ttl,
      scope: grant.scope,
      ...(wantsRefresh ? { refresh_token: this.deps.sealer.seal('refresh', { ...grant, nrt }, refreshTtl) } : {}),
      ...(grant.pat ? { patient: grant.pat, need_patient_banner: true } : {}),
    };
  }

  #nextechClaims(t: NextechTokens): { nat: string; nexp: number; nrt?: string } {
    const nexp = Math.floor(this.deps.now() / 1000) + t.expiresIn;
    return { nat: t.accessToken, nexp, ...(t.refreshToken ? { nrt: t.refreshToken } : {}) };
  }

  #spend(jti: string, exp: number): void {
    const nowS = this.deps.now() / 1000;
    for (const [k, e] of this.#usedCodes) if (e < nowS) this.#usedCodes.delete(k);
    if (this.#usedCodes.has(jti)) throw new OAuthError('invalid_grant', 'the code was already used');
    this.#usedCodes.set(jti, exp);
  }

  /** Whether a patient id names a patient of the practice the user may see (one Nextech search). */
  async patientExists(p: PickerClaims, id: string): Promise<boolean> {
    const loc = parsePatientId(id);
    if (!loc) return false;
    const rows = await this.deps.nextech.searchPatients({ practiceId: p.prac, callerToken: p.nat }, loc.term);
    return rows.some((r) => r.patientId === loc.patientId);
  }
}

/** The scopes this server grants: no id_token is issued, so not openid/fhirUser. */
function grantedText(text: string): string {
  return text
    .split(' ')
    .filter((s) => s !== 'openid' && s !== 'fhirUser')
    .join(' ');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
