/**
 * SMART App Launch 2.x scopes, as far as this read-only facade supports them: parsing a
 * requested scope string down to what can be granted, checking an interaction against a
 * grant, and narrowing a grant (a refresh may ask for less, never more).
 * https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
 *
 * Apps a person launches (`patient/`, `user/`) are only ever granted read (`r`) and search
 * (`s`). Backend Services clients (`system/`) may also be granted create, update and delete
 * (`c`, `u`, `d`), which only the types that take writes use (Group, for bulk export cohorts).
 * v1 suffixes map as the spec says (`.read` ⇒ `.rs`, `.write` ⇒ `.cud`, `.*` ⇒ `.cruds`).
 * Granted scopes are written back in v2 form.
 */

/** Whose data a resource scope reaches: the patient in context, or what the user may see. */
export type ScopeContext = 'patient' | 'user' | 'system';

/** Read and/or search (and, in `system/` only, writes) on one resource type (or `*`) in one context. */
export interface ResourceScope {
  context: ScopeContext;
  /** A resource type, or '*' for every type. */
  resourceType: string;
  read: boolean;
  search: boolean;
  /** Writes: present (true) only in `system/` scopes that grant them. */
  create?: true;
  update?: true;
  delete?: true;
}

/** An interaction a scope may allow. */
export type ScopeInteraction = 'read' | 'search' | 'create' | 'update' | 'delete';
const WRITES = ['create', 'update', 'delete'] as const;
type Writes = Pick<ResourceScope, (typeof WRITES)[number]>;
const writesOf = (r: Writes, keep: (w: (typeof WRITES)[number]) => boolean = () => true): Writes =>
  Object.fromEntries(WRITES.filter((w) => r[w] === true && keep(w)).map((w) => [w, true]));
const anyWrite = (r: Writes) => WRITES.some((w) => r[w] === true);

/** A parsed, normalised grant. */
export interface Scopes {
  resources: ResourceScope[];
  launchPatient: boolean;
  openid: boolean;
  fhirUser: boolean;
  offlineAccess: boolean;
  onlineAccess: boolean;
  /** The normalised scope string actually granted. */
  text: string;
}

type Flags = Omit<Scopes, 'resources' | 'text'>;

/** Non-resource scopes, in the order `text` writes them. */
const FLAG_SCOPES: ReadonlyArray<[keyof Flags, string]> = [
  ['launchPatient', 'launch/patient'],
  ['openid', 'openid'],
  ['fhirUser', 'fhirUser'],
  ['offlineAccess', 'offline_access'],
  ['onlineAccess', 'online_access'],
];

const RESOURCE_SCOPE = /^(patient|user|system)\/([A-Za-z]+|\*)\.([a-z]+|\*)$/;
// v2 permissions are a non-empty subset of "cruds" in that order; anything out of order
// (e.g. `.sr`, `.dus`) is undefined and ignored.
const V2_PERMISSIONS = /^c?r?u?d?s?$/;
// v1 suffixes, as their v2 equivalents. A Map, not an object literal, so that a suffix
// such as `constructor` cannot find an inherited property.
const V1_PERMISSIONS: ReadonlyMap<string, string> = new Map([['read', 'rs'], ['write', 'cud'], ['*', 'cruds']]);
const CONTEXT_ORDER: readonly ScopeContext[] = ['patient', 'user', 'system'];
/** What apps a person launches may be granted; `system/` belongs to Backend Services. */
export const USER_CONTEXTS: readonly ScopeContext[] = ['patient', 'user'];
export const SYSTEM_CONTEXTS: readonly ScopeContext[] = ['system'];
// When several contexts allow an interaction, `allows` reports the broadest.
const BREADTH_ORDER: readonly ScopeContext[] = ['system', 'user', 'patient'];

/**
 * Parses a space-separated scope string, keeping only what this server supports:
 * read-only resource scopes in the given contexts on a supported type or `*`,
 * plus `launch/patient`, `openid`, `fhirUser`, `offline_access` and `online_access`.
 * Scopes of other contexts (by default `system/`, which only Backend Services clients get),
 * unknown scopes, and granular scopes with `?` query parameters are dropped whole, so a
 * granular scope grants nothing. `patient/` scopes name only `patientTypes`: a type whose
 * resources name many patients (Group) is never granted to one patient's context.
 */
export function parseScopes(
  scope: string,
  supportedTypes: readonly string[],
  contexts: readonly ScopeContext[] = USER_CONTEXTS,
  patientTypes: readonly string[] = supportedTypes,
): Scopes {
  const tokens = scope.split(/\s+/).filter((t) => t !== '');
  const resources: ResourceScope[] = [];
  for (const token of tokens) {
    const parsed = parseResourceScope(token, contexts, (context) => (context === 'patient' ? patientTypes : supportedTypes));
    if (parsed) resources.push(parsed);
  }
  return build(resources, flagsWhere((key, name) => tokens.includes(name)));
}

/**
 * Whether the scopes allow `interaction` on `resourceType`. Returns the context that
 * allows it, preferring `user` over `patient` (so 'patient' means only patient scopes
 * do and the request must be confined to the patient in context), or undefined.
 */
export function allows(scopes: Scopes, resourceType: string, interaction: ScopeInteraction): ScopeContext | undefined {
  const matching = scopes.resources.filter(
    (r) => (r.resourceType === '*' || r.resourceType === resourceType) && r[interaction] === true,
  );
  return BREADTH_ORDER.find((context) => matching.some((r) => r.context === context));
}

/**
 * Narrows `requested` to what `granted` allows: each requested resource scope keeps only
 * the permissions a granted scope of the same context and type (or `*`) holds, and each
 * flag needs both. A refresh can never widen a grant, nor move it to another context.
 */
export function narrow(granted: Scopes, requested: Scopes): Scopes {
  const resources: ResourceScope[] = [];
  for (const want of requested.resources) {
    for (const have of granted.resources) {
      if (have.context !== want.context) continue;
      // Requested `*` against a granted type yields that type; a requested type against a
      // granted `*` or the same type yields the requested type.
      let resourceType: string | undefined;
      if (want.resourceType === '*') resourceType = have.resourceType;
      else if (have.resourceType === '*' || have.resourceType === want.resourceType) resourceType = want.resourceType;
      if (resourceType === undefined) continue;
      resources.push({
        context: want.context,
        resourceType,
        read: want.read && have.read,
        search: want.search && have.search,
        ...writesOf(want, (w) => have[w] === true),
      });
    }
  }
  return build(resources, flagsWhere((key) => granted[key] && requested[key]));
}

function flagsWhere(test: (key: keyof Flags, name: string) => boolean): Flags {
  const flags: Flags = { launchPatient: false, openid: false, fhirUser: false, offlineAccess: false, onlineAccess: false };
  for (const [key, name] of FLAG_SCOPES) flags[key] = test(key, name);
  return flags;
}

function parseResourceScope(
  token: string,
  contexts: readonly ScopeContext[],
  typesOf: (context: ScopeContext) => readonly string[],
): ResourceScope | undefined {
  // Granular scopes (`patient/Observation.rs?category=...`) restrict by search parameters
  // this facade does not enforce; granting the unrestricted scope would widen the request.
  if (token.includes('?')) return undefined;
  const match = RESOURCE_SCOPE.exec(token);
  if (!match) return undefined;
  const [, name, resourceType, permissions] = match;
  const context = contexts.find((c) => c === name);
  if (context === undefined) return undefined;
  if (resourceType === undefined || permissions === undefined) return undefined;
  if (resourceType !== '*' && !typesOf(context).includes(resourceType)) return undefined;
  const perms = permissionsOf(permissions, context === 'system');
  if (!perms) return undefined;
  return { context, resourceType, ...perms };
}

/** What a v1 or v2 permission suffix grants here (writes only when `writes`), or undefined if nothing. */
function permissionsOf(suffix: string, writes: boolean): Omit<ResourceScope, 'context' | 'resourceType'> | undefined {
  const v2 = V1_PERMISSIONS.get(suffix) ?? (V2_PERMISSIONS.test(suffix) ? suffix : undefined);
  if (v2 === undefined) return undefined;
  const read = v2.includes('r');
  const search = v2.includes('s');
  const w: Writes = writes ? writesOf({ ...(v2.includes('c') ? { create: true } : {}), ...(v2.includes('u') ? { update: true } : {}), ...(v2.includes('d') ? { delete: true } : {}) }) : {};
  return read || search || anyWrite(w) ? { read, search, ...w } : undefined;
}

/** Merges, prunes and orders resource scopes, then writes the scope string. */
function build(resources: readonly ResourceScope[], flags: Flags): Scopes {
  const merged = new Map<string, ResourceScope>();
  for (const r of resources) {
    if (!r.read && !r.search && !anyWrite(r)) continue;
    const key = `${r.context}/${r.resourceType}`;
    const prev = merged.get(key);
    merged.set(
      key,
      prev ? { ...prev, read: prev.read || r.read, search: prev.search || r.search, ...writesOf(prev), ...writesOf(r) } : { ...r },
    );
  }
  const all = [...merged.values()];
  // A type scope adds nothing when the same context's `*` already holds all its permissions.
  const kept = all.filter((r) => {
    if (r.resourceType === '*') return true;
    const wild = merged.get(`${r.context}/*`);
    return !(wild && (wild.read || !r.read) && (wild.search || !r.search) && WRITES.every((w) => wild[w] === true || r[w] !== true));
  });
  kept.sort(compareResourceScopes);
  const words = [
    ...kept.map((r) => `${r.context}/${r.resourceType}.${r.create ? 'c' : ''}${r.read ? 'r' : ''}${r.update ? 'u' : ''}${r.delete ? 'd' : ''}${r.search ? 's' : ''}`),
    ...FLAG_SCOPES.filter(([key]) => flags[key]).map(([, name]) => name),
  ];
  return { resources: kept, ...flags, text: words.join(' ') };
}

/** Context order, then `*` first, then resource types by code point (locale-independent). */
function compareResourceScopes(a: ResourceScope, b: ResourceScope): number {
  const byContext = CONTEXT_ORDER.indexOf(a.context) - CONTEXT_ORDER.indexOf(b.context);
  if (byContext !== 0) return byContext;
  if (a.resourceType === b.resourceType) return 0;
  if (a.resourceType === '*') return -1;
  if (b.resourceType === '*') return 1;
  return a.resourceType < b.resourceType ? -1 : 1;
}
