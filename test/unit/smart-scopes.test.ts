// SMART scopes (src/auth/smart/scopes.ts) as data: requested scope string → the scope
// string granted; then `allows` and `narrow` over parsed grants. The facade is read-only,
// so only r and s survive. https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
import { describe, expect, it } from 'vitest';
import { allows, narrow, parseScopes, type ScopeContext } from '../../src/auth/smart/scopes.ts';

const SUPPORTED = ['Patient', 'Observation', 'Condition', 'DocumentReference'];
const parse = (scope: string) => parseScopes(scope, SUPPORTED);

interface ParseCase {
  name: string;
  scope: string;
  granted: string;
}

const parseCases: ParseCase[] = [
  // v2 permissions
  { name: 'v2 .rs is kept as read and search', scope: 'patient/Patient.rs', granted: 'patient/Patient.rs' },
  { name: 'v2 .r is read only', scope: 'patient/Observation.r', granted: 'patient/Observation.r' },
  { name: 'v2 .s is search only', scope: 'user/Condition.s', granted: 'user/Condition.s' },
  { name: 'v2 .cruds is cut to .rs', scope: 'user/Observation.cruds', granted: 'user/Observation.rs' },
  { name: 'v2 .cr is cut to .r', scope: 'patient/Patient.cr', granted: 'patient/Patient.r' },
  { name: 'v2 .cud grants nothing', scope: 'patient/Patient.cud', granted: '' },
  { name: 'v2 .c grants nothing', scope: 'patient/Patient.c', granted: '' },
  { name: 'out-of-order permissions are ignored', scope: 'patient/Patient.sr patient/Observation.dus', granted: '' },
  { name: 'repeated permissions are ignored', scope: 'patient/Patient.rrs', granted: '' },
  { name: 'upper-case permissions are ignored', scope: 'patient/Patient.RS', granted: '' },
  { name: 'an empty permission is ignored', scope: 'patient/Patient.', granted: '' },
  // v1 permissions
  { name: 'v1 .read is written back as .rs', scope: 'patient/Patient.read', granted: 'patient/Patient.rs' },
  { name: 'v1 .* is cut to .rs', scope: 'user/Observation.*', granted: 'user/Observation.rs' },
  { name: 'v1 .write grants nothing', scope: 'patient/Observation.write', granted: '' },
  { name: 'v1 .READ is not v1', scope: 'patient/Observation.READ', granted: '' },
  { name: 'a suffix naming an Object property is ignored', scope: 'patient/Patient.constructor', granted: '' },
  // wildcards and types
  { name: 'a wildcard type is kept', scope: 'patient/*.rs', granted: 'patient/*.rs' },
  { name: 'v1 wildcard everything is cut to .rs', scope: 'user/*.*', granted: 'user/*.rs' },
  { name: 'an unsupported type is dropped', scope: 'patient/Encounter.rs patient/Patient.r', granted: 'patient/Patient.r' },
  { name: 'resource types are case-sensitive', scope: 'patient/patient.rs', granted: '' },
  { name: 'a type fully covered by the same context wildcard is dropped', scope: 'patient/Patient.r patient/*.rs', granted: 'patient/*.rs' },
  { name: 'a type adding search to a read-only wildcard is kept', scope: 'patient/*.r patient/Observation.rs', granted: 'patient/*.r patient/Observation.rs' },
  { name: 'a user wildcard does not absorb patient scopes', scope: 'user/*.rs patient/Patient.rs', granted: 'patient/Patient.rs user/*.rs' },
  // contexts
  { name: 'system scopes are dropped (no backend services)', scope: 'system/Patient.rs system/*.read', granted: '' },
  { name: 'an unknown context is dropped', scope: 'practitioner/Patient.rs', granted: '' },
  // granular scopes
  { name: 'a granular scope grants nothing', scope: 'patient/Observation.rs?category=laboratory', granted: '' },
  {
    name: 'a granular scope does not block its siblings',
    scope: 'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs patient/Patient.rs',
    granted: 'patient/Patient.rs',
  },
  // merging, order, and the other scopes
  { name: 'the same type twice merges permissions', scope: 'patient/Observation.r patient/Observation.s', granted: 'patient/Observation.rs' },
  { name: 'v1 and v2 forms of one scope merge', scope: 'patient/Patient.read patient/Patient.rs', granted: 'patient/Patient.rs' },
  {
    name: 'output is ordered patient then user, wildcard first, then by type',
    scope: 'user/Patient.rs patient/Observation.rs user/*.r patient/Condition.s',
    granted: 'patient/Condition.s patient/Observation.rs user/*.r user/Patient.rs',
  },
  {
    name: 'identity, launch and refresh scopes follow in a fixed order',
    scope: 'offline_access fhirUser openid launch/patient patient/Patient.rs',
    granted: 'patient/Patient.rs launch/patient openid fhirUser offline_access',
  },
  { name: 'online_access is kept', scope: 'online_access openid', granted: 'openid online_access' },
  { name: 'EHR launch, profile and unknown scopes are dropped', scope: 'launch launch/encounter profile email foo openid', granted: 'openid' },
  { name: 'extra whitespace is tolerated', scope: '  openid \t fhirUser  ', granted: 'openid fhirUser' },
  { name: 'the empty string grants nothing', scope: '', granted: '' },
];

describe('parseScopes', () => {
  it.each(parseCases)('$name', ({ scope, granted }) => {
    expect(parse(scope).text).toBe(granted);
  });

  it('parses its own output to the same grant', () => {
    for (const { scope } of parseCases) {
      const once = parse(scope);
      expect(parse(once.text), scope).toEqual(once);
    }
  });

  it('sets the flags and resources it writes', () => {
    expect(parse('patient/*.read launch/patient openid fhirUser offline_access')).toEqual({
      resources: [{ context: 'patient', resourceType: '*', read: true, search: true }],
      launchPatient: true,
      openid: true,
      fhirUser: true,
      offlineAccess: true,
      onlineAccess: false,
      text: 'patient/*.rs launch/patient openid fhirUser offline_access',
    });
  });
});

interface AllowsCase {
  name: string;
  scope: string;
  type: string;
  interaction: 'read' | 'search';
  expected: ScopeContext | undefined;
}

const allowsCases: AllowsCase[] = [
  { name: 'a patient scope allows in patient context', scope: 'patient/Patient.rs', type: 'Patient', interaction: 'read', expected: 'patient' },
  { name: 'a user scope allows in user context', scope: 'user/Patient.rs', type: 'Patient', interaction: 'search', expected: 'user' },
  { name: 'user is preferred when both contexts allow', scope: 'patient/*.rs user/Observation.rs', type: 'Observation', interaction: 'read', expected: 'user' },
  { name: 'patient is returned when only the patient scope has the interaction', scope: 'patient/Observation.rs user/Observation.r', type: 'Observation', interaction: 'search', expected: 'patient' },
  { name: 'a wildcard covers any type', scope: 'user/*.r', type: 'Condition', interaction: 'read', expected: 'user' },
  { name: 'read does not imply search', scope: 'patient/Observation.r', type: 'Observation', interaction: 'search', expected: undefined },
  { name: 'search does not imply read', scope: 'patient/Observation.s', type: 'Observation', interaction: 'read', expected: undefined },
  { name: 'a scope on another type does not allow', scope: 'patient/Patient.rs', type: 'Observation', interaction: 'read', expected: undefined },
  { name: 'a granular scope allows nothing', scope: 'patient/Observation.rs?category=laboratory', type: 'Observation', interaction: 'search', expected: undefined },
  { name: 'a system scope allows nothing', scope: 'system/*.rs', type: 'Patient', interaction: 'read', expected: undefined },
  { name: 'identity scopes allow no resource', scope: 'openid fhirUser', type: 'Patient', interaction: 'read', expected: undefined },
];

describe('allows', () => {
  it.each(allowsCases)('$name', ({ scope, type, interaction, expected }) => {
    expect(allows(parse(scope), type, interaction)).toBe(expected);
  });
});

interface NarrowCase {
  name: string;
  granted: string;
  requested: string;
  result: string;
}

const narrowCases: NarrowCase[] = [
  { name: 'the same scopes stay as they are', granted: 'patient/Patient.rs openid fhirUser offline_access', requested: 'patient/Patient.rs openid fhirUser offline_access', result: 'patient/Patient.rs openid fhirUser offline_access' },
  { name: 'a subset of types is kept', granted: 'patient/Patient.rs patient/Observation.rs', requested: 'patient/Observation.rs', result: 'patient/Observation.rs' },
  { name: 'fewer permissions are kept', granted: 'patient/Patient.rs', requested: 'patient/Patient.r', result: 'patient/Patient.r' },
  { name: 'more permissions are cut back', granted: 'patient/Patient.r', requested: 'patient/Patient.rs', result: 'patient/Patient.r' },
  { name: 'an ungranted type is dropped', granted: 'patient/Patient.rs', requested: 'patient/Observation.rs', result: '' },
  { name: 'a type under a granted wildcard is kept', granted: 'patient/*.rs', requested: 'patient/Observation.r', result: 'patient/Observation.r' },
  { name: 'a requested wildcard shrinks to the granted types', granted: 'patient/Patient.rs patient/Condition.r', requested: 'patient/*.rs', result: 'patient/Condition.r patient/Patient.rs' },
  { name: 'a wildcard stays a wildcard when granted', granted: 'user/*.rs', requested: 'user/*.s', result: 'user/*.s' },
  { name: 'a user grant does not extend to patient scopes', granted: 'user/*.rs', requested: 'patient/Patient.rs', result: '' },
  { name: 'a patient grant does not extend to user scopes', granted: 'patient/*.rs', requested: 'user/Patient.rs', result: '' },
  { name: 'an ungranted flag is dropped', granted: 'openid patient/Patient.rs', requested: 'openid fhirUser offline_access launch/patient', result: 'openid' },
  { name: 'a flag not requested again is dropped', granted: 'openid fhirUser offline_access', requested: 'offline_access', result: 'offline_access' },
  { name: 'an empty request narrows to nothing', granted: 'patient/*.rs openid', requested: '', result: '' },
];

describe('narrow', () => {
  it.each(narrowCases)('$name', ({ granted, requested, result }) => {
    expect(narrow(parse(granted), parse(requested)).text).toBe(result);
  });

  it('never grants what the grant does not allow', () => {
    expect.hasAssertions();
    const interactions = ['read', 'search'] as const;
    for (const { granted, requested } of narrowCases) {
      const g = parse(granted);
      const n = narrow(g, parse(requested));
      for (const type of SUPPORTED) {
        for (const interaction of interactions) {
          const via = allows(n, type, interaction);
          if (via === undefined) continue;
          const covering = g.resources.filter((r) => r.context === via && (r.resourceType === '*' || r.resourceType === type));
          expect(covering.some((r) => r[interaction]), `${granted} / ${requested}: ${interaction} ${type}`).toBe(true);
        }
      }
    }
  });
});

describe('writes (system/ scopes only)', () => {
  const TYPES = ['Patient', 'Encounter', 'Group'];
  const system = (s: string) => parseScopes(s, TYPES, ['system']);
  const user = (s: string) => parseScopes(s, TYPES, ['patient', 'user']);

  it.each([
    { scope: 'system/Group.cruds system/*.rs', granted: 'system/*.rs system/Group.cruds' },
    { scope: 'system/Group.write', granted: 'system/Group.cud' },
    { scope: 'system/Group.*', granted: 'system/Group.cruds' },
    { scope: 'system/*.cruds system/Group.cud', granted: 'system/*.cruds' },
    { scope: 'system/Group.dc', granted: '' },
  ])('grants $scope as $granted', ({ scope, granted }) => {
    expect(system(scope).text).toBe(granted);
    expect(system(granted), 'its own output parses to the same grant').toEqual(system(scope));
  });

  it('never grants writes to apps a person launches', () => {
    expect(user('patient/*.cruds user/Group.write').text).toBe('patient/*.rs');
    expect(allows(user('user/Group.cruds'), 'Group', 'create')).toBeUndefined();
  });

  it('allows each write only as granted, and a refresh or a client registration never widens it', () => {
    const g = system('system/Group.cr system/Patient.rs');
    expect(allows(g, 'Group', 'create')).toBe('system');
    expect(allows(g, 'Group', 'update')).toBeUndefined();
    expect(allows(g, 'Patient', 'delete')).toBeUndefined();
    expect(narrow(system('system/*.rs'), system('system/Group.cud')).text).toBe('');
    expect(narrow(system('system/Group.cruds'), system('system/Group.ud system/*.r')).text).toBe('system/Group.rud');
  });
});
