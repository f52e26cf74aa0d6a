import type { Binary, Bundle, CapabilityStatement, DocumentReference, Encounter, Patient } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextechIdOf } from './helpers/expected.ts';
import { APP, authorizeUrl, launch, pkce, SMART_ENV, tokenCall } from './helpers/smart.ts';
import { expectOutcome, fhirFetch, startTestService, type TestService } from './helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService(SMART_ENV);
});
afterAll(() => svc.close());

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe('SMART discovery', () => {
  it('publishes the same endpoints in .well-known/smart-configuration at every base and in the CapabilityStatement', async () => {
    for (const base of [svc.fhir, `${svc.origin}/practices/1002/fhir`]) {
      const conf = (await (await fetch(`${base}/.well-known/smart-configuration`)).json()) as Record<string, unknown>;
      expect(conf.authorization_endpoint).toBe(`${svc.origin}/auth/authorize`);
      expect(conf.token_endpoint).toBe(`${svc.origin}/auth/token`);
      expect(conf.code_challenge_methods_supported).toEqual(['S256']);
      expect(conf.capabilities).toEqual(expect.arrayContaining(['launch-standalone', 'context-standalone-patient', 'permission-v2']));
      const { body } = await fhirFetch<CapabilityStatement>(`${base}/metadata`);
      const security = body.rest?.[0]?.security;
      expect(security?.service?.[0]?.coding?.[0]?.code).toBe('SMART-on-FHIR');
      const uris = security?.extension?.[0]?.extension ?? [];
      expect(uris.find((e) => e.url === 'authorize')?.valueUri).toBe(conf.authorization_endpoint);
      expect(uris.find((e) => e.url === 'token')?.valueUri).toBe(conf.token_endpoint);
    }
  });
});

describe('SMART standalone launch', () => {
  it('runs discovery → authorize → Nextech login → patient picker → token → FHIR calls → refresh', async () => {
    const { token, picked } = await launch(svc, 'launch/patient patient/*.rs offline_access');
    expect(token.token_type).toBe('Bearer');
    expect(token.patient).toBe(picked);
    expect(token.scope).toContain('patient/*.rs');
    expect(token.refresh_token).toBeDefined();
    // Nextech's own token never reaches the app: the facade's are sealed.
    expect(token.access_token.startsWith('v1.')).toBe(true);

    const me = await fhirFetch<Patient>(`${svc.fhir}/Patient/${token.patient}`, bearer(token.access_token));
    expect(me.status).toBe(200);
    const encounters = await fhirFetch<Bundle>(`${svc.fhir}/Encounter`, bearer(token.access_token));
    expect(encounters.status).toBe(200);
    for (const e of encounters.body.entry ?? []) expect((e.resource as Encounter).subject?.reference).toBe(`Patient/${token.patient}`);

    const refreshed = await tokenCall(svc, { grant_type: 'refresh_token', refresh_token: token.refresh_token ?? '', client_id: APP.clientId });
    expect(refreshed.status).toBe(200);
    const next = (await refreshed.json()) as { access_token: string; refresh_token: string; patient: string };
    expect(next.patient).toBe(token.patient);
    expect(next.refresh_token).not.toBe(token.refresh_token);
    expect((await fhirFetch(`${svc.fhir}/Patient/${token.patient}`, bearer(next.access_token))).status).toBe(200);
  });

  it('confines patient/ scopes to the patient in context', async () => {
    const { token } = await launch(svc, 'launch/patient patient/*.rs');
    const others = await fhirFetch<Bundle>(`${svc.fhir}/Patient?family=smith&_count=50`, { headers: { authorization: `Bearer ${token.access_token}` } });
    for (const e of others.body.entry ?? []) expect((e.resource as Patient).id).toBe(token.patient);
    // Another patient of the practice, and the id this server gives it (found with a user/ token).
    const me = await fhirFetch<Patient>(`${svc.fhir}/Patient/${token.patient}`, bearer(token.access_token));
    const someoneElse = svc.sandbox.data.practices[0]?.patients.find((p) => p.patientId !== nextechIdOf(me.body));
    const { token: user } = await launch(svc, 'user/*.rs');
    const found = await fhirFetch<Bundle>(`${svc.fhir}/Patient?identifier=${encodeURIComponent(someoneElse?.json.chartNumber ?? '')}`, bearer(user.access_token));
    const otherId = (found.body.entry ?? []).map((e) => e.resource as Patient).find((p) => nextechIdOf(p) === someoneElse?.patientId)?.id ?? '';
    expect(otherId).not.toBe('');
    svc.sandbox.resetCalls();
    await expectOutcome(`${svc.fhir}/Patient/${otherId}`, 403, bearer(token.access_token));
    await expectOutcome(`${svc.fhir}/Encounter?patient=${otherId}`, 403, bearer(token.access_token));
    await expectOutcome(`${svc.fhir}/DocumentReference/$docref?patient=${otherId}`, 403, bearer(token.access_token));
    expect(svc.sandbox.calls.filter((c) => c.path.includes(`${someoneElse?.patientId}`))).toHaveLength(0);
  });

  it('enforces resource scopes: a patient/Patient.rs token cannot read Encounter', async () => {
    const { token } = await launch(svc, 'launch/patient patient/Patient.rs');
    expect((await fhirFetch(`${svc.fhir}/Patient/${token.patient}`, bearer(token.access_token))).status).toBe(200);
    const { issue } = await expectOutcome(`${svc.fhir}/Encounter?patient=${token.patient}`, 403, bearer(token.access_token));
    expect(issue.code).toBe('forbidden');
    await expectOutcome(`${svc.fhir}/DocumentReference?patient=${token.patient}`, 403, bearer(token.access_token));
  });

  it('reads a CCD\'s Binary, raw or FHIR, with the scopes that read its DocumentReference, and not without them', async () => {
    const { token } = await launch(svc, 'launch/patient patient/DocumentReference.rs');
    const docs = await fhirFetch<Bundle>(`${svc.fhir}/DocumentReference?patient=${token.patient ?? ''}&_count=1&_summary=true`, bearer(token.access_token));
    const url = (docs.body.entry?.[0]?.resource as DocumentReference | undefined)?.content[0]?.attachment.url ?? '';
    expect(url).toMatch(/\/Binary\//);
    const raw = await fetch(url, { headers: { authorization: `Bearer ${token.access_token}`, accept: 'text/html' } });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('text/html; charset=utf-8');
    // As a FHIR client asks for it (without a FHIR type, a Binary read answers the document itself).
    const asFhir = { headers: { ...bearer(token.access_token).headers, accept: 'application/fhir+json' } };
    expect((await fhirFetch<Binary>(url, asFhir)).body.resourceType).toBe('Binary');
    const { token: patientsOnly } = await launch(svc, 'launch/patient patient/Patient.rs');
    const { issue } = await expectOutcome(url, 403, bearer(patientsOnly.access_token));
    expect(issue.diagnostics).toBe("The access token's scopes do not allow read of Binary");
  });

  it('lets any token read the server\'s own SearchParameter, like the CapabilityStatement', async () => {
    const { token } = await launch(svc, 'launch/patient patient/Patient.rs');
    const sp = await fhirFetch(`${svc.fhir}/SearchParameter/DocumentReference-section`, bearer(token.access_token));
    expect(sp.status).toBe(200);
  });

  it('gives user/ scopes everything Nextech lets the user see, without a patient picker', async () => {
    const { token, picked } = await launch(svc, 'user/*.rs');
    expect(picked).toBeUndefined();
    expect(token.patient).toBeUndefined();
    const { body } = await fhirFetch<Bundle>(`${svc.fhir}/Patient?family=smith`, bearer(token.access_token));
    expect(body.total).toBeGreaterThan(1);
  });

  it('binds a token to the practice it was issued for', async () => {
    const { token } = await launch(svc, 'user/*.rs');
    await expectOutcome(`${svc.origin}/practices/1002/fhir/Patient?family=smith`, 403, bearer(token.access_token));
  });

  it('refuses tampered tokens, replayed codes, wrong verifiers and widened refreshes', async () => {
    const { token, code, verifier } = await launch(svc, 'launch/patient patient/Patient.rs offline_access');
    const tampered = `${token.access_token.slice(0, -4)}AAAA`;
    const bad = await expectOutcome(`${svc.fhir}/Patient/${token.patient}`, 401, bearer(tampered));
    expect(bad.headers.get('www-authenticate')).toContain('invalid_token');
    const replay = await tokenCall(svc, { grant_type: 'authorization_code', code, redirect_uri: APP.redirectUri, client_id: APP.clientId, code_verifier: verifier });
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');
    const widened = await tokenCall(svc, {
      grant_type: 'refresh_token',
      refresh_token: token.refresh_token ?? '',
      client_id: APP.clientId,
      scope: 'patient/*.rs user/*.rs',
    });
    const body = (await widened.json()) as { scope?: string; access_token?: string };
    if (widened.status === 200) {
      expect(body.scope).not.toContain('Encounter');
      expect(body.scope).not.toContain('user/');
      await expectOutcome(`${svc.fhir}/Encounter?patient=${token.patient}`, 403, bearer(body.access_token ?? ''));
    } else {
      expect(widened.status).toBe(400);
    }
  });

  it('rejects authorize requests without PKCE, with a wrong aud, or from unknown clients', async () => {
    const { challenge } = pkce();
    const noPkce = new URL(authorizeUrl(svc, { scope: 'user/*.rs', challenge }));
    noPkce.searchParams.delete('code_challenge');
    const r1 = await fetch(noPkce, { redirect: 'manual' });
    expect(new URL(r1.headers.get('location') ?? '').searchParams.get('error')).toBe('invalid_request');
    const r2 = await fetch(authorizeUrl(svc, { scope: 'user/*.rs', challenge, aud: 'https://elsewhere.example/fhir' }), { redirect: 'manual' });
    expect(new URL(r2.headers.get('location') ?? '').searchParams.get('error')).toBe('invalid_request');
    const unknown = new URL(authorizeUrl(svc, { scope: 'user/*.rs', challenge }));
    unknown.searchParams.set('client_id', 'nobody');
    const r3 = await fetch(unknown, { redirect: 'manual' });
    expect(r3.status).toBe(400);
    expect(r3.headers.get('location')).toBeNull();
  });

  it('refuses a code exchanged with the wrong PKCE verifier', async () => {
    const { challenge } = pkce();
    const start = await fetch(authorizeUrl(svc, { scope: 'user/*.rs', challenge }), { redirect: 'manual' });
    expect(start.status).toBe(302);
    const wrong = await tokenCall(svc, { grant_type: 'authorization_code', code: 'v1.nonsense', redirect_uri: APP.redirectUri, client_id: APP.clientId, code_verifier: pkce().verifier });
    expect(wrong.status).toBe(400);
  });
});
