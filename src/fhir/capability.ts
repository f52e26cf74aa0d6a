/**
 * The CapabilityStatement, from plain data the resource registry hands it (the same
 * declarations the routes use), so it lists exactly the interactions and search
 * parameters that work (https://hl7.org/fhir/R4/capabilitystatement.html).
 */
import type { CapabilityStatement, CapabilityStatementRestResource, CapabilityStatementRestSecurity } from 'fhir/r4';
import type { SearchCapabilities, SearchParamDef } from './search/types.ts';

/** What the statement says of one resource type. */
export interface CapabilityResource {
  type: string;
  profile: string;
  documentation: string;
  interactions: readonly ('read' | 'search-type' | 'create' | 'update' | 'delete')[];
  searchParams: readonly Pick<SearchParamDef, 'name' | 'type' | 'definition' | 'documentation'>[];
  capabilities: SearchCapabilities;
  operations?: readonly { name: string; definition: string; documentation: string }[];
}

export interface CapabilityInput {
  modules: readonly CapabilityResource[];
  baseUrl: string;
  software: { name: string; version: string };
  /** When the statement was built (service start). */
  date: string;
  /** How callers authenticate (rest.security). */
  security: CapabilitySecurity;
  /** Whether Group `$export` (Bulk Data Access) is offered. */
  bulkExport?: boolean;
}

/** rest.security as plain data: CORS, a description of the doors, and the OAuth endpoints when there are any. */
export interface CapabilitySecurity {
  cors: boolean;
  description: string;
  oauth?: { authorize?: string; token: string; introspect?: string };
}

/**
 * The US Core Server CapabilityStatement, which the Patient, Encounter and DocumentReference
 * profiles and searches declared here follow (the US Core test kit checks `instantiates`).
 */
const US_CORE_SERVER = 'http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server';
/** FHIR Bulk Data Access 2.0: what a server offering Group-level export instantiates and defines. */
const BULK_DATA = 'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data';
const GROUP_EXPORT = {
  name: 'export',
  definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export',
  documentation:
    'Bulk Data Access 2.0 asynchronous export of a Group\'s patients (Patient, Encounter, DocumentReference, Practitioner, Location, Organization) as NDJSON; Backend Services clients (system/Group) and people\'s SMART tokens with user/Group.rs and user-level read and search scopes on every exported type (run with the person\'s own Nextech sign-in); _type, _since (encounter dates), _typeFilter, _outputFormat.',
};

export function capabilityStatement({ modules, baseUrl, software, date, security, bulkExport }: CapabilityInput): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    instantiates: [US_CORE_SERVER, ...(bulkExport ? [BULK_DATA] : [])],
    status: 'active',
    date,
    publisher: 'nextech-fhir-facade',
    kind: 'instance',
    software,
    implementation: { description: 'FHIR R4 facade for the Nextech EHR API', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation: 'Read-only access to Nextech EHR data (JSON); cohorts (Group) that Backend Services clients create, update and delete for bulk export; bulk export as NDJSON.',
        security: restSecurity(security),
        resource: modules.map((m) => {
          const entry = resourceEntry(m, baseUrl);
          return bulkExport && m.type === 'Group' ? { ...entry, operation: [...(entry.operation ?? []), GROUP_EXPORT] } : entry;
        }),
      },
    ],
  };
}

/** SMART App Launch's declaration (https://hl7.org/fhir/smart-app-launch/conformance.html), when OAuth is offered. */
function restSecurity(security: CapabilitySecurity): CapabilityStatementRestSecurity {
  const oauth = security.oauth;
  const uris = oauth
    ? [
        ...(oauth.authorize ? [{ url: 'authorize', valueUri: oauth.authorize }] : []),
        { url: 'token', valueUri: oauth.token },
        ...(oauth.introspect ? [{ url: 'introspect', valueUri: oauth.introspect }] : []),
      ]
    : [];
  return {
    cors: security.cors,
    description: security.description,
    ...(oauth
      ? {
          service: [
            {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
              text: 'OAuth2 using SMART-on-FHIR profile (see .well-known/smart-configuration)',
            },
          ],
          extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: uris }],
        }
      : {}),
  };
}

function resourceEntry(m: CapabilityResource, baseUrl: string): CapabilityStatementRestResource {
  const canonical = (url: string) => url.replace('{base}', baseUrl);
  return {
    type: m.type,
    profile: m.profile,
    supportedProfile: [m.profile],
    documentation: m.documentation,
    interaction: m.interactions.map((code) => ({ code })),
    // Updates and deletes honour If-Match (version-aware updates).
    versioning: m.interactions.includes('update') ? 'versioned-update' : 'no-version',
    readHistory: false,
    updateCreate: false,
    conditionalCreate: false,
    conditionalRead: 'not-supported',
    conditionalUpdate: false,
    conditionalDelete: 'not-supported',
    ...(m.capabilities.includes.length > 0 ? { searchInclude: [...m.capabilities.includes] } : {}),
    ...(m.capabilities.revincludes.length > 0 ? { searchRevInclude: [...m.capabilities.revincludes] } : {}),
    ...(m.searchParams.length > 0
      ? {
          searchParam: m.searchParams.map((p) => ({
            name: p.name,
            definition: canonical(p.definition),
            type: p.type,
            documentation: p.documentation,
          })),
        }
      : {}),
    ...(m.operations && m.operations.length > 0
      ? { operation: m.operations.map((o) => ({ name: o.name, definition: o.definition, documentation: o.documentation })) }
      : {}),
  };
}
