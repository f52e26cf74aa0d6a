/**
 * The facade as the bench runs it: its own process (as `npm start`), configured only through
 * its environment, in passthrough mode — each connection's Nextech token is forwarded, as the
 * proxy forwards it — with the Nextech rate budget at its ceiling, access logs off, and
 * reuse of upstream answers off (overhead figures) or at its defaults (economy figures).
 */
import { z } from 'zod';
import { startServiceProcess, type ServiceProcess } from '../soak/service-process.ts';
import { ROLES, type BenchFixtures, type Role } from './fixtures.ts';
import type { PatientIds } from './scenarios.ts';

export interface ServiceSettings {
  apiBaseUrl: string;
  practiceId: string;
  /** RESOURCE_ID_KEY, the same for every service of a run so ids stay valid across them. */
  idKey: string;
  /** Reuse of upstream answers (listings, patient searches) on, at the service defaults; off: REUSE_OFF_ENV. */
  reuse: boolean;
  nodeArgs?: readonly string[];
  /** Another project folder whose facade to run (e.g. an older commit's tree, for a "before"); default this one. */
  root?: string;
}

/**
 * What turns every reuse of upstream answers off, so each request reaches Nextech as it does
 * through the proxy (the overhead figures). With reuse on (the economy figures) none of these
 * is set: the service's defaults apply.
 */
export const REUSE_OFF_ENV: Readonly<Record<string, string>> = {
  ENCOUNTER_CACHE_SECONDS: '0',
  PATIENT_CACHE_SECONDS: '0',
};

/** The environment an operator would write for this bench. */
export function benchServiceEnv(s: ServiceSettings): Record<string, string> {
  return {
    NEXTECH_BASE_URL: s.apiBaseUrl,
    NEXTECH_AUTH: 'passthrough',
    NEXTECH_PRACTICE_ID: s.practiceId,
    RESOURCE_ID_KEY: s.idKey,
    // The most the service allows, per token: the bench measures the service, not Nextech's limit.
    NEXTECH_RATE_LIMIT_PER_SECOND: '1000',
    ...(s.reuse ? {} : REUSE_OFF_ENV),
    // No access log lines: neither side of the comparison writes logs.
    LOG_LEVEL: 'warn',
  };
}

export function startBenchService(s: ServiceSettings, onLine?: (line: string) => void): Promise<ServiceProcess> {
  return startServiceProcess({
    env: benchServiceEnv(s),
    ...(s.nodeArgs ? { nodeArgs: s.nodeArgs } : {}),
    ...(s.root ? { cwd: s.root } : {}),
    ...(onLine ? { onLine } : {}),
  });
}

const SearchSetSchema = z.object({ entry: z.array(z.object({ resource: z.object({ id: z.string() }) })).min(1) });

/** The FHIR id of each bench patient, found by chart number (POST _search: no identifier in a URL). */
export async function resolveIds(origin: string, f: BenchFixtures, authorization: string): Promise<PatientIds> {
  const idOf = async (role: Role): Promise<string> => {
    const res = await fetch(`${origin}/practices/${f.practiceId}/fhir/Patient/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      body: new URLSearchParams({ identifier: f.patients[role].chartNumber }),
    });
    const parsed = SearchSetSchema.safeParse(await res.json());
    const id = parsed.success ? parsed.data.entry[0]?.resource.id : undefined;
    if (res.status !== 200 || id === undefined) throw new Error(`could not find the bench patient for ${role} (HTTP ${res.status})`);
    return id;
  };
  const ids = await Promise.all(ROLES.map(idOf));
  const [fortyFive = '', threeBy3Mb = '', tenBy1Mb = '', paging = ''] = ids;
  return { fortyFive, threeBy3Mb, tenBy1Mb, paging };
}
