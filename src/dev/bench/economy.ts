/**
 * The economy scenarios: how few Nextech calls the facade makes for what clients ask, with
 * listing reuse on (ENCOUNTER_CACHE_SECONDS at its default) and one caller. Paging a large
 * search to its end, 200 identical searches at once, and a scripted app session. Each starts
 * from a service that has made no call yet; the upstream counts the calls.
 */
import { Agent, request } from 'undici';
import { z } from 'zod';
import { proxyPathFor, type Side } from './overhead.ts';
import type { Upstream } from './upstream.ts';
import type { CallTally } from './upstream-ipc.ts';

export interface EconomyDeps {
  upstream: Upstream;
  practiceId: string;
  proxy: Side;
  /** `Bearer …` of the one caller. */
  authorization: string;
}

/** One FHIR request of a walk or session: its status, time, size and the upstream calls it made. */
export interface Step {
  label: string;
  status: number;
  ms: number;
  bytes: number;
  upstreamCalls: number;
  /** Those calls by endpoint. */
  byEndpoint: Record<string, number>;
}

const BundleSchema = z.object({
  link: z.array(z.object({ relation: z.string(), url: z.string() })).optional(),
  entry: z.array(z.object({ resource: z.object({ resourceType: z.string(), id: z.string().optional() }).optional() })).optional(),
});
type Bundle = z.infer<typeof BundleSchema>;

async function get(url: string, authorization: string, upstream: Upstream, label: string): Promise<{ step: Step; bundle?: Bundle }> {
  const t0 = performance.now();
  const res = await fetch(url, { headers: { authorization } });
  const text = await res.text();
  const ms = performance.now() - t0;
  const calls = await upstream.takeCalls();
  const parsed = BundleSchema.safeParse(res.status === 200 ? JSON.parse(text) : undefined);
  const step = { label, status: res.status, ms, bytes: Buffer.byteLength(text), upstreamCalls: calls.total, byEndpoint: calls.byEndpoint };
  return parsed.success ? { step, bundle: parsed.data } : { step };
}

const nextOf = (b: Bundle | undefined) => b?.link?.find((l) => l.relation === 'next')?.url;

export interface PagingResult {
  pages: Step[];
  /** The proxy request making the first page's calls (relative to its practice base). */
  proxyPath?: string;
  /** The proxy's equivalent: the facade's first-page calls, once (a client of it gets the whole listing in one go). */
  proxy: { ms: number; bytes: number; upstreamCalls: number };
}

/** Follows `next` from the first page to the last (at most `maxPages`). */
export async function walkPages(facade: Side, fhirPath: string, d: EconomyDeps, maxPages = 200): Promise<PagingResult> {
  await d.upstream.takeCalls();
  const base = `${facade.origin}/practices/${d.practiceId}/fhir/`;
  const pages: Step[] = [];
  let url: string | undefined = base + fhirPath;
  let firstCalls: CallTally | undefined;
  while (url !== undefined && pages.length < maxPages) {
    if (pages.length === 0) {
      // The first page's calls, in detail, are what the proxy makes.
      const t0 = performance.now();
      const res = await fetch(url, { headers: { authorization: d.authorization } });
      const text = await res.text();
      const ms = performance.now() - t0;
      firstCalls = await d.upstream.takeCalls(true);
      pages.push({ label: 'page 1', status: res.status, ms, bytes: Buffer.byteLength(text), upstreamCalls: firstCalls.total, byEndpoint: firstCalls.byEndpoint });
      url = res.status === 200 ? nextOf(BundleSchema.parse(JSON.parse(text))) : undefined;
      continue;
    }
    const { step, bundle } = await get(url, d.authorization, d.upstream, `page ${pages.length + 1}`);
    pages.push(step);
    url = step.status === 200 ? nextOf(bundle) : undefined;
  }
  const proxyPath = firstCalls ? proxyPathFor(firstCalls) : undefined;
  if (proxyPath === undefined) return { pages, proxy: { ms: 0, bytes: 0, upstreamCalls: 0 } };
  const t0 = performance.now();
  const res = await fetch(`${d.proxy.origin}/practices/${d.practiceId}/${proxyPath}`, { headers: { authorization: d.authorization } });
  const bytes = (await res.arrayBuffer()).byteLength;
  const ms = performance.now() - t0;
  return { pages, proxyPath, proxy: { ms, bytes, upstreamCalls: (await d.upstream.takeCalls()).total } };
}

export interface BurstResult {
  requests: number;
  statuses: Record<string, number>;
  ms: number;
  upstreamCalls: number;
  byEndpoint: Record<string, number>;
}

/** `n` identical GETs at once, each on its own connection; counts statuses and upstream calls. */
export async function burst(url: string, n: number, authorization: string, upstream: Upstream): Promise<BurstResult> {
  await upstream.takeCalls();
  const agent = new Agent({ keepAliveTimeout: 1000 });
  const statuses: Record<string, number> = {};
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: n }, async () => {
        try {
          const res = await request(url, { dispatcher: agent, headers: { authorization }, headersTimeout: 60_000, bodyTimeout: 60_000 });
          await res.body.arrayBuffer();
          statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
        } catch {
          statuses['no answer'] = (statuses['no answer'] ?? 0) + 1;
        }
      }),
    );
  } finally {
    await agent.close();
  }
  const ms = performance.now() - t0;
  const calls = await upstream.takeCalls();
  return { requests: n, statuses, ms, upstreamCalls: calls.total, byEndpoint: calls.byEndpoint };
}

export interface DuplicatesResult {
  /** Upstream calls of one such request on its own (the probe, on a service with reuse off). */
  callsPerRequest: number;
  facade: BurstResult;
  proxy: BurstResult;
}

/** The scripted session: find a patient, read it, list its encounters and documents, two more pages of documents. */
export async function appSession(facade: Side, family: string, d: EconomyDeps): Promise<Step[]> {
  await d.upstream.takeCalls();
  const base = `${facade.origin}/practices/${d.practiceId}/fhir/`;
  const steps: Step[] = [];
  const run = async (label: string, url: string | undefined): Promise<Bundle | undefined> => {
    if (url === undefined) throw new Error(`app session: no URL for "${label}"`);
    const { step, bundle } = await get(url, d.authorization, d.upstream, label);
    steps.push(step);
    if (step.status !== 200) throw new Error(`app session: "${label}" answered ${step.status}`);
    return bundle;
  };
  const found = await run('Patient search', `${base}Patient?family=${encodeURIComponent(family)}`);
  const id = found?.entry?.[0]?.resource?.id;
  if (id === undefined) throw new Error('app session: the patient search found nobody');
  await run('Patient read', `${base}Patient/${id}`);
  await run('Encounter search', `${base}Encounter?patient=${id}`);
  const docs = await run('DocumentReference search', `${base}DocumentReference?patient=${id}`);
  const second = await run('next page', nextOf(docs));
  await run('next page', nextOf(second));
  return steps;
}
