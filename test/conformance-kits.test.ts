/**
 * Checks the official test kits make, as they make them (Inferno's US Core, SMART App
 * Launch, Backend Services and Bulk Data kits), over real HTTP: what the server declares
 * must be true, and an error must be the one the kit expects.
 */
import type { CapabilityStatement } from 'fhir/r4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientKeyPair, signAssertion, tokenForm, type ClientKeyPair } from './helpers/backend.ts';
import { fhirFetch, startTestService, type TestService } from './helpers/service.ts';
import { launch, SMART_ENV } from './helpers/smart.ts';

let svc: TestService;
let keys: ClientKeyPair;

beforeAll(async () => {
  keys = await clientKeyPair('RS384');
  svc = await startTestService({
    ...SMART_ENV,
    BACKEND_CLIENTS: JSON.stringify([{ client_id: 'hie', jwks: keys.jwks, practices: ['1001'], scope: 'system/*.rs' }]),
  });
});
afterAll(() => svc.close());

const assertion = () =>
  signAssertion({ clientId: 'hie', tokenEndpoint: `${svc.origin}/auth/token`, privateKey: keys.privateKey, kid: keys.kid, alg: keys.alg });

describe('US Core (us_core_instantiate)', () => {
  it('instantiates the US Core Server CapabilityStatement, and Bulk Data where export is offered', async () => {
    const { body } = await fhirFetch<CapabilityStatement>(`${svc.fhir}/metadata`);
    expect(body.instantiates).toContain('http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server');
    expect(body.instantiates).toContain('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data');
  });
});

describe('Backend Services (backend_services_invalid_grant_type_test)', () => {
  it('answers a valid client assertion with an unknown grant_type 400 unsupported_grant_type', async () => {
    const form = tokenForm(await assertion(), 'system/*.rs');
    form.set('grant_type', 'not_a_grant_type');
    const res = await fetch(`${svc.origin}/auth/token`, { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('unsupported_grant_type');
  });

  it('still issues a token for the same assertion with grant_type=client_credentials', async () => {
    const res = await fetch(`${svc.origin}/auth/token`, { method: 'POST', body: tokenForm(await assertion(), 'system/*.rs') });
    expect(res.status).toBe(200);
  });

  it('answers an unknown grant_type from a SMART client, or with no client at all, 400 unsupported_grant_type', async () => {
    for (const body of [
      new URLSearchParams({ grant_type: 'password', client_id: 'test-app', username: 'u', password: 'p' }),
      new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code' }),
      new URLSearchParams({ grant_type: 'CLIENT_CREDENTIALS' }),
    ]) {
      const res = await fetch(`${svc.origin}/auth/token`, { method: 'POST', body });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('unsupported_grant_type');
    }
  });
});

describe('SMART discovery (scopes_supported)', () => {
  it('advertises only scopes a launch can be granted: every advertised patient/ and user/ scope comes back in the token', async () => {
    const conf = (await (await fetch(`${svc.fhir}/.well-known/smart-configuration`)).json()) as { scopes_supported: string[] };
    expect(conf.scopes_supported).not.toContain('patient/Group.rs');
    expect(conf.scopes_supported).toContain('user/Group.rs');
    const person = conf.scopes_supported.filter((s) => /^(patient|user)\//.test(s));
    const { token } = await launch(svc, ['launch/patient', ...person].join(' '));
    const granted = token.scope.split(' ');
    // `patient/*.rs` and `user/*.rs` cover each type's own scope, which the grant then leaves out as redundant.
    for (const scope of person) {
      const [context] = scope.split('/');
      expect(granted.includes(scope) || granted.includes(`${context ?? ''}/*.rs`), scope).toBe(true);
    }
  });

  it('never grants patient/Group.rs, which no patient-scoped request could use', async () => {
    const { token } = await launch(svc, 'launch/patient patient/Group.rs patient/Patient.rs');
    expect(token.scope.split(' ')).not.toContain('patient/Group.rs');
    expect(token.scope.split(' ')).toContain('patient/Patient.rs');
  });
});
