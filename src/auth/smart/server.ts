/**
 * The SMART App Launch authorization server the apps see (standalone launch, authorization
 * code + PKCE S256, refresh, OpenID Connect id_tokens), brokering to Nextech's OAuth: the
 * user logs in at Nextech, the facade exchanges Nextech's code, and hands the app its own
 * tokens that carry the user's Nextech tokens sealed inside. All state travels sealed
 * (sealer.ts), so replicas sharing SMART_KEY need no session store. Spent codes and
 * refresh-token families are remembered in the shared state (each client's codes within its
 * share, SINGLE_USE_PER_CLIENT), and while it cannot decide the token endpoint answers 503
 * `temporarily_unavailable` rather than decide alone; finished logins are remembered in bounded
 * memory, per replica.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { SmartClient, SmartSettings } from '../../config.ts';
import type { CallContext } from '../../source/call.ts';
import type { EhrSource, SourcePatient } from '../../source/ehr-source.ts';
import { BoundedMemory } from '../bounded-memory.ts';
import { MemoryStore } from '../../shared/memory-store.ts';
import type { SharedStore } from '../../shared/store.ts';
import type { IdTokens } from '../id-token.ts';
import { exchangeCode, NextechOAuthError, refreshGrant, type NextechOAuthClient, type NextechTokens } from '../nextech-oauth.ts';
import { cannotDecideNow, OAuthError, SHARED_STATE_RETRY_SECONDS, sharedDecision } from '../oauth-error.ts';
import type { AccessClaims, CodeClaims, GrantClaims, PendingClaims, PickerClaims, RefreshClaims } from './claims.ts';
import { isValidChallenge, verifyPkceS256 } from './pkce.ts';
import type { Sealer } from './sealer.ts';
import { RefreshFamilies } from './refresh-families.ts';
import { narrow, parseScopes, USER_CONTEXTS, type Scopes } from './scopes.ts';

export { OAuthError } from '../oauth-error.ts';

/** How the picker turns Nextech rows into Patient ids and back (the resource id scheme). */
export interface PatientIdScheme {
  issue(practiceId: string, record: SourcePatient): string | undefined;
  open(practiceId: string, id: string): { patientId: number; term: string } | undefined;
}

export interface SmartServerDeps {
  settings: SmartSettings;
  sealer: Sealer;
  oauth: NextechOAuthClient;
  nextechAuthorizeUrl: string;
  publicBaseUrl: string;
  defaultPracticeId?: string;
  supportedTypes: readonly string[];
  /** The types a `patient/` scope may name (not those whose resources name many patients). */
  patientTypes: readonly string[];
  /** The EHR the picker searches, as the signed-in user. */
  source: EhrSource;
  patientIds: PatientIdScheme;
  /** Signs id_tokens; without it `openid` is not granted. */
  idTokens?: IdTokens;
  now: () => number;
  /** Where spent codes are remembered: shared by the replicas with REDIS_URL (default: this process). */
  store?: SharedStore;
  /** Live codes one client may have spent at once (SINGLE_USE_PER_CLIENT). */
  codesPerClient: number;
}

/** What became of a login (its `jti`), so a reloaded page can say so. */
export type LoginOutcome = { at: 'picker'; txn: string } | { at: 'done'; how: 'approved' | 'cancelled' };

const CODE_SECONDS = 60;
const LOGIN_SECONDS = 600;
const REFRESH_SECONDS = { offline: 30 * 86_400, online: 12 * 3600 };
/** Logins and codes remembered at most, per replica. */
const MEMORY = 100_000;

export class SmartServer {
  readonly #usedCodes: SharedStore;
  readonly #logins: BoundedMemory<LoginOutcome>;
  readonly #refreshFamilies: RefreshFamilies;

  constructor(readonly deps: SmartServerDeps) {
    const store = deps.store ?? new MemoryStore(deps.now, { entries: MEMORY });
    this.#usedCodes = store;
    this.#logins = new BoundedMemory(MEMORY, 'evict', deps.now);
    this.#refreshFamilies = new RefreshFamilies(store, MEMORY, deps.now, REFRESH_SECONDS.offline * 1000);
  }

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

  /**
   * Validates an authorize request (client and redirect already checked) and returns
   * Nextech's login URL. `browser` is the value of the login cookie of the browser asking:
   * the rest of the login (callback, picker) is served only to the browser holding it, so a
   * `state` or picker transaction seen in a log or a URL is useless elsewhere.
   */
  startLogin(client: SmartClient, q: Record<string, string | undefined>, browser: string): string {
    if (q.response_type !== 'code') throw new OAuthError('unsupported_response_type', 'response_type must be code');
    if (q.code_challenge_method !== 'S256' || !isValidChallenge(q.code_challenge ?? '')) {
      throw new OAuthError('invalid_request', 'PKCE with code_challenge_method=S256 is required');
    }
    const prac = q.aud ? this.practiceOfAud(q.aud) : undefined;
    if (!q.aud || !prac) throw new OAuthError('invalid_request', 'aud must be the FHIR base URL of this server');
    const scopes = this.scopes(q.scope ?? '');
    if (scopes.resources.length === 0) throw new OAuthError('invalid_scope', 'no supported resource scope was requested');
    if (q.nonce !== undefined && q.nonce.length > 256) throw new OAuthError('invalid_request', 'nonce is too long');
    const pending: PendingClaims = {
      cid: client.clientId,
      ruri: q.redirect_uri ?? '',
      cc: q.code_challenge ?? '',
      scope: this.#grantable(scopes),
      aud: q.aud.replace(/\/+$/, ''),
      prac,
      jti: randomUUID(),
      bh: browserHash(browser),
      ...(q.state !== undefined ? { st: q.state } : {}),
      ...(q.nonce !== undefined ? { nonce: q.nonce } : {}),
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

  /** The scopes of this server in a scope string (patient/ and user/ contexts). */
  scopes(text: string): Scopes {
    return parseScopes(text, this.deps.supportedTypes, USER_CONTEXTS, this.deps.patientTypes);
  }

  openPending(state: string | undefined): PendingClaims | undefined {
    return state ? this.deps.sealer.open<PendingClaims>('pending', state) : undefined;
  }

  /** Whether `browser` (its login cookie) is the browser that started this login. */
  sameBrowser(login: { bh: string }, browser: string | undefined): boolean {
    if (browser === undefined) return false;
    const a = Buffer.from(browserHash(browser), 'base64url');
    const b = Buffer.from(login.bh, 'base64url');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** What already became of this login, if it was used before (a reloaded page). */
  outcomeOf(login: { jti: string }): LoginOutcome | undefined {
    return this.#logins.get(login.jti);
  }

  /** Exchanges Nextech's code; then either the picker (launch/patient) or the app's code. */
  async finishLogin(pending: PendingClaims, code: string): Promise<{ picker: string } | { redirect: string }> {
    const tokens = await exchangeCode(this.deps.oauth, code, this.callbackUrl);
    const withTokens: PickerClaims = { ...pending, ...this.#nextechClaims(tokens), sid: randomUUID() };
    if (this.scopes(pending.scope).launchPatient) {
      const txn = this.deps.sealer.seal('picker', { ...withTokens }, LOGIN_SECONDS);
      this.#remember(pending, { at: 'picker', txn });
      return { picker: txn };
    }
    return { redirect: this.issueCode(withTokens) };
  }

  openPicker(txn: string | undefined): PickerClaims | undefined {
    return txn ? this.deps.sealer.open<PickerClaims>('picker', txn) : undefined;
  }

  /** The app's redirect with a fresh authorization code (and its state). Marks the login done. */
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
      sid: p.sid,
      jti: randomUUID(),
      ...(p.nrt ? { nrt: p.nrt } : {}),
      ...(patient ? { pat: patient } : {}),
      ...(p.nonce !== undefined ? { nonce: p.nonce } : {}),
    };
    this.#remember(p, { at: 'done', how: 'approved' });
    return this.redirectTo(p, { code: this.deps.sealer.seal('code', { ...claims }, CODE_SECONDS) });
  }

  /** The user said no (the picker's Cancel): `error=access_denied` for the app. Marks the login done. */
  cancel(p: PickerClaims): string {
    this.#remember(p, { at: 'done', how: 'cancelled' });
    return this.errorRedirect(p, new OAuthError('access_denied', 'the user cancelled'));
  }

  /** RFC 6749 §4.1.2.1: an error for the app at its registered redirect URI, with its state. */
  errorRedirect(login: { ruri: string; st?: string }, err: OAuthError): string {
    return this.redirectTo(login, { error: err.error, error_description: err.description });
  }

  redirectTo(login: { ruri: string; st?: string }, params: Record<string, string>): string {
    const url = new URL(login.ruri);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    if (login.st !== undefined) url.searchParams.set('state', login.st);
    return url.toString();
  }

  /**
   * The token endpoint's SMART grants: authorization_code (with PKCE) and refresh_token.
   * `client` is the authenticated client, or undefined when the request authenticated none:
   * a refresh token is bound to its client, so a public client may refresh without
   * `client_id` (as fhirclient does); a confidential client must authenticate.
   */
  async token(client: SmartClient | undefined, form: URLSearchParams): Promise<Record<string, unknown>> {
    const grant = form.get('grant_type');
    if (grant === 'authorization_code') {
      if (!client) throw new OAuthError('invalid_client', 'client_id is required', 401);
      return this.#codeGrant(client, form);
    }
    if (grant === 'refresh_token') return this.#refreshGrant(client, form);
    throw new OAuthError('unsupported_grant_type', 'grant_type must be authorization_code, refresh_token or client_credentials');
  }

  /** The claims of a live access token whose client is still registered and whose sign-in was not revoked, else undefined. */
  openAccess(token: string): AccessClaims | undefined {
    const claims = this.deps.sealer.open<AccessClaims>('access', token);
    if (!claims || !this.client(claims.cid)) return undefined;
    return this.#refreshFamilies.revokedHere(claims.sid) ? undefined : claims;
  }

  /** Whether a sign-in is still good on every replica (none revoked it for a reused refresh token). */
  async signedIn(sid: string | undefined): Promise<boolean> {
    return !(await this.#refreshFamilies.revoked(sid));
  }

  /** Calls to Nextech for a login in progress (the picker) run as that user. */
  callFor(p: PickerClaims): CallContext {
    return {
      practiceId: p.prac,
      credential: { kind: 'bearer', token: p.nat, vouched: true },
      callerKey: `smart:${p.cid}:${p.sid}`,
    };
  }

  /** Whether a patient id names a patient of the practice the user may see (one Nextech search). */
  async patientExists(p: PickerClaims, id: string): Promise<boolean> {
    const loc = this.deps.patientIds.open(p.prac, id);
    if (!loc) return false;
    return (await this.deps.source.patientByKey(this.callFor(p), loc)) !== undefined;
  }

  async #codeGrant(client: SmartClient, form: URLSearchParams): Promise<Record<string, unknown>> {
    const code = this.deps.sealer.open<CodeClaims & { exp: number }>('code', form.get('code') ?? '');
    if (!code || code.cid !== client.clientId || code.ruri !== form.get('redirect_uri')) {
      throw new OAuthError('invalid_grant', 'the code is invalid, expired, or was issued to another client or redirect_uri');
    }
    if (!verifyPkceS256(form.get('code_verifier') ?? '', code.cc)) throw new OAuthError('invalid_grant', 'PKCE verification failed');
    await this.#spend(code.jti, code.exp, client.clientId);
    const { ruri: _r, cc: _c, jti: _j, nexp, nat, nrt, nonce, ...grant } = code;
    const scopes = this.scopes(grant.scope);
    let rjti: string | undefined;
    if (this.#wantsRefresh(scopes, nrt)) {
      rjti = await sharedDecision(
        () => this.#refreshFamilies.issue(grant.sid, this.#refreshSeconds(scopes)),
        // The code is spent (its claim landed just before): a retry would be refused as a replay.
        () => new OAuthError('invalid_grant', 'the sign-in could not be recorded (shared state unavailable); log in again'),
      );
    }
    return this.#tokens(grant, nat, nexp, nrt, rjti, nonce);
  }

  async #refreshGrant(client: SmartClient | undefined, form: URLSearchParams): Promise<Record<string, unknown>> {
    const presented = form.get('refresh_token') ?? '';
    const opened = this.deps.sealer.open<RefreshClaims & { exp?: number }>('refresh', presented);
    if (!opened) throw new OAuthError('invalid_grant', 'the refresh token is invalid or expired');
    // A token from before sign-ins were named carries no sid: it is named by itself, so it too is
    // spent once (refresh-families.ts), and its successors carry that name as their sign-in's.
    const old = { ...opened, sid: opened.sid ?? unnamedSignIn(presented) };
    const owner = this.client(old.cid);
    if (!owner) throw new OAuthError('invalid_grant', 'the client of this refresh token is no longer registered');
    if (client && client.clientId !== owner.clientId) throw new OAuthError('invalid_grant', 'the refresh token was issued to another client');
    if (!client && owner.clientSecret !== undefined) throw new OAuthError('invalid_client', 'this client must authenticate', 401);
    let scope = old.scope;
    const asked = form.get('scope');
    if (asked) {
      // A refresh can only keep or shrink what was granted.
      scope = narrow(this.scopes(old.scope), this.scopes(asked)).text;
      if (this.scopes(scope).resources.length === 0) throw new OAuthError('invalid_scope', 'no granted scope requested');
    }
    // Spent and replaced in one step before Nextech is asked: no moment in which a store outage
    // could leave the token spent with no successor recorded.
    const refreshTtl = this.#refreshSeconds(this.scopes(scope));
    const next = await sharedDecision(
      () => this.#refreshFamilies.rotate(old, refreshTtl),
      () => cannotDecideNow('The refresh token'),
    );
    let tokens: NextechTokens;
    try {
      tokens = await refreshGrant(this.deps.oauth, old.nrt);
    } catch (err) {
      // Only a refusal ends the session; an outage must not make the app drop its refresh token.
      if (err instanceof NextechOAuthError && err.reason !== 'refused') {
        await this.#giveBack(old, next);
        throw new OAuthError('temporarily_unavailable', 'Nextech could not be reached to renew the session; retry shortly', 503);
      }
      throw new OAuthError('invalid_grant', 'Nextech refused to renew the session; log in again');
    }
    const { nrt: _n, exp: _e, rjti: _r, ...grant } = old;
    const { nat, nexp, nrt } = this.#nextechClaims(tokens);
    return this.#tokens({ ...grant, scope }, nat, nexp, nrt, next);
  }

  /** Gives a spent refresh token back for a retry; when the shared state cannot take it back, the session is over. */
  async #giveBack(old: RefreshClaims, next: string): Promise<void> {
    await sharedDecision(
      () => this.#refreshFamilies.restore(old, next),
      () => new OAuthError('invalid_grant', 'Nextech could not be reached and the session could not be kept for a retry (shared state unavailable); log in again'),
    );
  }

  #wantsRefresh(scopes: Scopes, nrt: string | undefined): boolean {
    return (scopes.offlineAccess || scopes.onlineAccess) && nrt !== undefined;
  }

  #refreshSeconds(scopes: Scopes): number {
    return scopes.offlineAccess ? REFRESH_SECONDS.offline : REFRESH_SECONDS.online;
  }

  /** The token response; a refresh token (id `rjti`, already recorded in its family) when the scopes ask for one. */
  async #tokens(grant: GrantClaims, nat: string, nexp: number, nrt: string | undefined, rjti: string | undefined, nonce?: string): Promise<Record<string, unknown>> {
    const nowS = Math.floor(this.deps.now() / 1000);
    // Never outlive the Nextech token inside.
    const ttl = Math.max(1, Math.min(this.deps.settings.accessTokenSeconds, nexp - nowS));
    const access: AccessClaims = { ...grant, nat };
    const scopes = this.scopes(grant.scope);
    const refreshTtl = this.#refreshSeconds(scopes);
    const idToken = scopes.openid && this.deps.idTokens ? await this.deps.idTokens.sign({ sub: this.subjectOf(grant), aud: grant.cid, ...(nonce !== undefined ? { nonce } : {}) }) : undefined;
    return {
      access_token: this.deps.sealer.seal('access', { ...access }, ttl),
      token_type: 'Bearer',
      expires_in: ttl,
      scope: grant.scope,
      ...(this.#wantsRefresh(scopes, nrt) && rjti !== undefined ? { refresh_token: this.deps.sealer.seal('refresh', { ...grant, nrt, rjti }, refreshTtl) } : {}),
      ...(idToken ? { id_token: idToken } : {}),
      ...(grant.pat ? { patient: grant.pat, need_patient_banner: true } : {}),
    };
  }

  /** The id_token `sub`: the Nextech sign-in (Nextech does not tell us who the person is). */
  subjectOf(grant: Pick<GrantClaims, 'sid'>): string {
    return grant.sid ?? 'unknown';
  }

  /** What this server grants of requested scopes: `openid` only with a signing key; never `fhirUser` (README). */
  #grantable(scopes: Scopes): string {
    return scopes.text
      .split(' ')
      .filter((s) => s !== 'fhirUser' && (s !== 'openid' || this.deps.idTokens !== undefined))
      .join(' ');
  }

  #nextechClaims(t: NextechTokens): { nat: string; nexp: number; nrt?: string } {
    const nexp = Math.floor(this.deps.now() / 1000) + t.expiresIn;
    return { nat: t.accessToken, nexp, ...(t.refreshToken ? { nrt: t.refreshToken } : {}) };
  }

  #remember(login: { jti: string }, outcome: LoginOutcome): void {
    this.#logins.set(login.jti, outcome, this.deps.now() + LOGIN_SECONDS * 1000);
  }

  /**
   * Spends a code once across every replica sharing the store (a replay at another one is
   * refused too), within its client's share of the store; 503 when the store cannot decide.
   */
  async #spend(jti: string, exp: number, clientId: string): Promise<void> {
    const quota = { owner: clientId, max: this.deps.codesPerClient };
    const claimed = await sharedDecision(
      () => this.#usedCodes.claim(`smart-code:${jti}`, Math.max(1, exp * 1000 - this.deps.now()) + 1000, quota),
      () => cannotDecideNow('The authorization code'),
    );
    if (claimed === 'taken') throw new OAuthError('invalid_grant', 'the code was already used');
    if (claimed === 'full') throw new OAuthError('temporarily_unavailable', 'too many codes in flight for this client; retry shortly', 503, SHARED_STATE_RETRY_SECONDS);
  }
}

const browserHash = (browser: string) => createHash('sha256').update(browser, 'utf8').digest('base64url');

/**
 * The sign-in a refresh token naming none stands for: a hash of the sealed token. Nothing can be
 * learnt from it, nor guessed: the token is AES-GCM ciphertext under a random 96-bit IV, and only
 * its holder can compute the hash. Never a UUID, so never another sign-in's.
 */
const unnamedSignIn = (sealed: string) => `t-${createHash('sha256').update(sealed, 'utf8').digest('base64url')}`;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
