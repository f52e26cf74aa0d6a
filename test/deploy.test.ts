/**
 * The deployment artefacts (issue 11): CI machines cannot pull container images or run a
 * cluster, so what can be checked here is checked for real —
 * - the Kubernetes manifests validate against the Kubernetes API schemas (kubernetes-models)
 *   and hang together (selectors, probes, requests, Secrets by reference, HPA ↔ REPLICAS);
 * - the Dockerfile passes a maintained linter (dockerfile-utils, the one behind VS Code's
 *   Docker support) and keeps its promises (pinned Node base, non-root, HEALTHCHECK, the
 *   compiled production entry);
 * - compose.yaml runs two replicas + Redis + HAProxy on the sandbox;
 * - the production entry the image runs, `node dist/index.js` from `npm run build`, starts
 *   from a clean `npm ci --omit=dev` tree and serves FHIR (and, unconfigured, refuses to).
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { ConfigMap, PersistentVolumeClaim, Service, type IConfigMap, type IPersistentVolumeClaim, type IService } from 'kubernetes-models/v1';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { NetworkPolicy, type INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { startSandbox } from '../src/sandbox/index.ts';
import { sandboxNextechEnv } from '../src/dev/sandbox-env.ts';
import { freePort } from './helpers/real-servers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const K8S = join(ROOT, 'deploy/kubernetes');

type Doc = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: unknown };
const MODELS: Record<string, new (d: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

function manifests(): Doc[] {
  return readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) => parseAllDocuments(readFileSync(join(K8S, f), 'utf8')).map((d) => d.toJS() as Doc));
}

interface Kinds {
  Deployment: IDeployment;
  Service: IService;
  ConfigMap: IConfigMap;
  HorizontalPodAutoscaler: IHorizontalPodAutoscaler;
  PodDisruptionBudget: IPodDisruptionBudget;
  NetworkPolicy: INetworkPolicy;
  PersistentVolumeClaim: IPersistentVolumeClaim;
}

function find<K extends keyof Kinds>(docs: Doc[], kind: K, name: string): Kinds[K] {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!d) throw new Error(`no ${kind} ${name}`);
  return d as unknown as Kinds[K];
}

/** The first container of a Deployment's pods. */
const containerOf = (d: IDeployment) => {
  const c = d.spec?.template.spec?.containers[0];
  if (!c) throw new Error('no container');
  return c;
};

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  const docs = manifests();

  it('validate against the Kubernetes API schemas, every one of a kind we know', () => {
    expect(docs.length).toBeGreaterThanOrEqual(8);
    for (const d of docs) {
      const Model = MODELS[`${d.apiVersion}/${d.kind}`];
      expect(Model, `${d.apiVersion} ${d.kind} ${d.metadata.name}`).toBeDefined();
      expect(() => new Model!(d as never).validate(), `${d.kind} ${d.metadata.name}`).not.toThrow();
    }
    // A broken manifest is caught (the validator is not a no-op).
    const broken = { ...find(docs, 'Deployment', 'nextech-fhir-facade'), spec: { replicas: 'two' } };
    expect(() => new Deployment(broken as never).validate()).toThrow();
  });

  it('are all listed in the kustomization', () => {
    const k = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect([...k.resources].sort()).toEqual(readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  });

  it('run the facade with probes, requests, a non-root user, Secrets by reference, and a drain longer than the grace period', () => {
    const deployment = find(docs, 'Deployment', 'nextech-fhir-facade');
    const pod = deployment.spec?.template.spec;
    const c = containerOf(deployment);
    expect(c.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe?.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    expect(Object.keys(c.resources?.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
    expect(pod?.securityContext?.runAsNonRoot).toBe(true);
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    // Every secret-looking variable comes from a Secret, never a literal.
    for (const e of c.env ?? []) {
      if (/(KEY|SECRET|TOKEN|PASSWORD|CLIENTS)$/.test(e.name)) expect(e.valueFrom?.secretKeyRef, e.name).toBeDefined();
    }
    const config = find(docs, 'ConfigMap', 'nextech-fhir-facade').data ?? {};
    expect(Object.keys(config).filter((k) => /(KEY|SECRET|TOKEN|PASSWORD)$/.test(k))).toEqual([]);
    const preStop = Number(c.lifecycle?.preStop?.exec?.command?.[1]);
    expect(pod?.terminationGracePeriodSeconds).toBeGreaterThan(Number(config.SHUTDOWN_GRACE_SECONDS) + preStop);
    expect(c.env?.find((e) => e.name === 'REDIS_URL')?.value).toMatch(/^redis:\/\/:\$\(REDIS_PASSWORD\)@nextech-fhir-redis:6379/);
  });

  it('select the facade pods consistently, and size the degraded budget by the autoscaler\'s maximum', () => {
    const deployment = find(docs, 'Deployment', 'nextech-fhir-facade');
    const labels = deployment.spec?.template.metadata?.labels ?? {};
    const selects = (selector: Record<string, string> | undefined) => selector !== undefined && Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(selects(deployment.spec?.selector.matchLabels)).toBe(true);
    expect(selects(find(docs, 'Service', 'nextech-fhir-facade').spec?.selector)).toBe(true);
    expect(selects(find(docs, 'PodDisruptionBudget', 'nextech-fhir-facade').spec?.selector?.matchLabels)).toBe(true);
    expect(selects(find(docs, 'NetworkPolicy', 'nextech-fhir-facade').spec?.podSelector?.matchLabels)).toBe(true);
    const hpa = find(docs, 'HorizontalPodAutoscaler', 'nextech-fhir-facade');
    expect(hpa.spec?.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'nextech-fhir-facade' });
    expect(String(hpa.spec?.maxReplicas)).toBe(find(docs, 'ConfigMap', 'nextech-fhir-facade').data?.REPLICAS);
    // Redis takes connections from the facade pods only, and never evicts (a forgotten code could be replayed).
    const redisPolicy = find(docs, 'NetworkPolicy', 'nextech-fhir-redis');
    expect(redisPolicy.spec?.ingress?.[0]?.from?.[0]?.podSelector?.matchLabels).toEqual(labels);
    expect(containerOf(find(docs, 'Deployment', 'nextech-fhir-redis')).args?.join(' ')).toContain('--maxmemory-policy noeviction');
  });

  it('give every replica the same DATA_DIR volume, and Redis a persistent one (groups are durable)', () => {
    const deployment = find(docs, 'Deployment', 'nextech-fhir-facade');
    const config = find(docs, 'ConfigMap', 'nextech-fhir-facade').data ?? {};
    const mount = containerOf(deployment).volumeMounts?.find((m) => m.mountPath === config.DATA_DIR);
    expect(mount, 'DATA_DIR is mounted').toBeDefined();
    const volume = deployment.spec?.template.spec?.volumes?.find((v) => v.name === mount?.name);
    const claim = find(docs, 'PersistentVolumeClaim', volume?.persistentVolumeClaim?.claimName ?? '');
    // Shared by the replicas, which may run on different nodes.
    expect(claim.spec?.accessModes).toEqual(['ReadWriteMany']);
    expect(deployment.spec?.template.spec?.securityContext?.fsGroup).toBe(deployment.spec?.template.spec?.securityContext?.runAsGroup);
    const redis = find(docs, 'Deployment', 'nextech-fhir-redis');
    const args = containerOf(redis).args?.join(' ') ?? '';
    expect(args).toContain('--appendonly yes');
    const dir = /--dir (\S+)/.exec(args)?.[1];
    const redisMount = containerOf(redis).volumeMounts?.find((m) => m.mountPath === dir);
    const redisVolume = redis.spec?.template.spec?.volumes?.find((v) => v.name === redisMount?.name);
    expect(find(docs, 'PersistentVolumeClaim', redisVolume?.persistentVolumeClaim?.claimName ?? '').spec?.accessModes).toEqual(['ReadWriteOnce']);
    // A ReadWriteOnce volume: the old pod goes before the new one starts.
    expect(redis.spec?.strategy?.type).toBe('Recreate');
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  it('passes the linter with no problem', () => {
    expect(lintDockerfile(text).map((d) => `${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`)).toEqual([]);
    // The linter does flag problems.
    expect(lintDockerfile('FROM node:20\nEXPOSE eighty\n').length).toBeGreaterThan(0);
  });

  it('builds on a pinned Node 20 release, runs the compiled production entry as a non-root user, with a health check and production dependencies only', () => {
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    for (const f of froms.filter((x) => x !== 'build')) expect(f).toMatch(/^node:20\.\d+\.\d+-bookworm-slim$/);
    const final = text.slice(text.lastIndexOf('\nFROM '));
    expect(final).toMatch(/^USER node$/m);
    // DATA_DIR's mount point belongs to that user, owner-only.
    expect(final).toMatch(/chown node:node \/var\/lib\/nextech-fhir && chmod 700 \/var\/lib\/nextech-fhir/);
    expect(final).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    expect(final).toMatch(/^CMD \["node", "dist\/index.js"\]$/m);
    expect(final).toContain('COPY --from=deps /app/node_modules');
    expect(text).toMatch(/npm ci --omit=dev/);
  });
});

describe('compose.yaml', () => {
  it('runs two facade replicas sharing Redis behind HAProxy, on the sandbox', () => {
    type Service = { environment?: Record<string, string>; build?: { target?: string }; volumes?: string[]; command?: string[] };
    const compose = parse(readFileSync(join(ROOT, 'compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
    expect(Object.keys(compose.services).sort()).toEqual(['facade-1', 'facade-2', 'lb', 'nextech-sandbox', 'redis']);
    for (const name of ['facade-1', 'facade-2']) {
      expect(compose.services[name]?.environment).toMatchObject({ REDIS_URL: 'redis://redis:6379', REPLICAS: '2', NEXTECH_BASE_URL: 'http://nextech-sandbox:8081/ehr/api' });
    }
    expect(compose.services['nextech-sandbox']?.build?.target).toBe('sandbox');
    // One DATA_DIR volume for both replicas; Redis persisted.
    for (const name of ['facade-1', 'facade-2']) {
      const dataDir = compose.services[name]?.environment?.DATA_DIR ?? '';
      expect(compose.services[name]?.volumes).toContain(`facade-data:${dataDir}`);
    }
    expect(compose.services.redis?.command?.join(' ')).toContain('--appendonly yes');
    expect(compose.services.redis?.volumes).toContain('redis-data:/data');
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual(['facade-data', 'redis-data']);
    const haproxy = readFileSync(join(ROOT, 'deploy/haproxy.cfg'), 'utf8');
    expect(haproxy).toMatch(/server facade-1 facade-1:8080/);
    expect(haproxy).toMatch(/server facade-2 facade-2:8080/);
  });
});

describe('the production entry from a clean npm ci --omit=dev tree', () => {
  const dir = mkdtempSync(join(tmpdir(), 'facade-prod-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds, installs production dependencies only, refuses to start unconfigured, and serves FHIR on a configured Nextech', async () => {
    for (const f of ['package.json', 'package-lock.json', 'openapi.yaml']) cpSync(join(ROOT, f), join(dir, f));
    cpSync(join(ROOT, 'mappings'), join(dir, 'mappings'), { recursive: true });
    const build = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist')], { encoding: 'utf8' });
    expect(build.status, build.stdout + build.stderr).toBe(0);
    cpSync(join(ROOT, 'src/mapping/r4-elements.json'), join(dir, 'dist/mapping/r4-elements.json'));
    // The product ships without the sandbox and the development tools.
    expect(readdirSync(join(dir, 'dist'))).not.toContain('sandbox');
    expect(readdirSync(join(dir, 'dist'))).not.toContain('dev');
    const ci = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, encoding: 'utf8' });
    expect(ci.status, ci.stderr.slice(-2000)).toBe(0);
    expect(readdirSync(join(dir, 'node_modules'))).not.toContain('vitest');

    const bare = spawnSync(process.execPath, ['dist/index.js'], { cwd: dir, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
    expect(bare.status).toBe(2);
    expect(bare.stderr).toMatch(/NEXTECH_BASE_URL: required/);

    const upstream = await startSandbox({ port: 0 });
    const port = await freePort();
    const child = spawn(process.execPath, ['--max-old-space-size=384', 'dist/index.js'], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        HOST: '127.0.0.1',
        ...sandboxNextechEnv(upstream),
        RESOURCE_ID_KEY: 'production entry test key, 32+ characters',
        ANONYMOUS_ACCESS: 'true',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const until = Date.now() + 20_000;
      while (!out.includes('FHIR base:')) {
        if (Date.now() > until || child.exitCode !== null) throw new Error(`did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const base = `http://127.0.0.1:${port}`;
      const search = await fetch(`${base}/fhir/Patient?family=smith`);
      expect(search.status).toBe(200);
      expect(((await search.json()) as { resourceType: string }).resourceType).toBe('Bundle');
      expect((await fetch(`${base}/openapi.yaml`)).status).toBe(200);
      expect((await fetch(`${base}/docs`)).status).toBe(200);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
      await upstream.close();
    }
  }, 180_000);
});
