/**
 * Two replicas of the production entry (src/index.ts, configured only by environment, as an
 * operator runs them) on one embedded sandbox, sharing a real redis-server on loopback. Each
 * is addressed directly; their PUBLIC_BASE_URL is replica a's address, so a SMART login comes
 * back to a and a Backend Services assertion names the token endpoint both accept.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sandboxNextechEnv } from '../../src/dev/sandbox-env.ts';
import { startServiceProcess, type ServiceProcess } from '../../src/dev/soak/service-process.ts';
import { SANDBOX_CLIENT_ID, startSandbox, type RunningSandbox } from '../../src/sandbox/index.ts';
import { clientKeyPair, signAssertion, tokenForm, type ClientKeyPair } from './backend.ts';
import { freePort, startRedis, type RealRedis } from './real-servers.ts';
import { SMART_ENV } from './smart.ts';
import type { TestService } from './service.ts';

/** The registered Backend Services clients, by id. */
export const BACKEND_IDS = ['hie', 'other-hie'] as const;

export interface Replicas {
  upstream: RunningSandbox;
  redis: RealRedis;
  a: ServiceProcess;
  b: ServiceProcess;
  /** Each replica as the SMART test helpers address a service. */
  svc(r: ServiceProcess): TestService;
  /** Every line either replica wrote. */
  lines: string[];
  /** A fresh client assertion of a registered Backend Services client. */
  assertion(clientId?: (typeof BACKEND_IDS)[number]): Promise<string>;
  /** A Backend Services token request's answer at one replica. */
  backendToken(r: ServiceProcess, form: URLSearchParams): Promise<Response>;
  /** A connection of the test's own to the replicas' Redis. */
  redisClient(): Redis;
  close(): Promise<void>;
}

export async function startReplicas(env: Record<string, string> = {}): Promise<Replicas> {
  const upstream = await startSandbox({ port: 0 });
  const redis = await startRedis();
  const ports = [await freePort(), await freePort()] as const;
  const publicBase = `http://127.0.0.1:${ports[0]}`;
  upstream.sandbox.registerRedirectUri(SANDBOX_CLIENT_ID, `${publicBase}/auth/callback`);
  const keys = new Map<string, ClientKeyPair>();
  for (const id of BACKEND_IDS) keys.set(id, await clientKeyPair('ES384', `${id}-key`));
  const backendClients = BACKEND_IDS.map((id) => ({ client_id: id, jwks: { keys: [keys.get(id)?.publicJwk] }, practices: ['1001'], scope: 'system/*.rs' }));
  const lines: string[] = [];
  // The same keys on both, as an operator gives every replica.
  const secrets = {
    RESOURCE_ID_KEY: randomBytes(32).toString('base64url'),
    SMART_KEY: randomBytes(32).toString('base64url'),
    SHARED_STATE_KEY: randomBytes(32).toString('base64url'),
    // One volume for both, as the manifests mount it.
    DATA_DIR: mkdtempSync(join(tmpdir(), 'facade-replicas-data-')),
  };
  const [a, b] = await Promise.all(
    ports.map((port) =>
      startServiceProcess({
        port,
        onLine: (l) => lines.push(l),
        env: {
          ...sandboxNextechEnv(upstream),
          PUBLIC_BASE_URL: publicBase,
          ...secrets,
          ...SMART_ENV,
          BACKEND_CLIENTS: JSON.stringify(backendClients),
          ANONYMOUS_ACCESS: 'true',
          REDIS_URL: redis.url,
          REPLICAS: '2',
          LOG_LEVEL: 'info',
          ...env,
        },
      }),
    ),
  );
  if (!a || !b) throw new Error('two replicas expected');
  const connections: Redis[] = [];
  return {
    upstream,
    redis,
    a,
    b,
    lines,
    svc: (r) => ({ origin: r.origin, fhir: `${r.origin}/fhir` }) as TestService,
    assertion: (clientId = 'hie') => {
      const pair = keys.get(clientId);
      if (!pair) throw new Error(`no key for ${clientId}`);
      return signAssertion({ clientId, tokenEndpoint: `${publicBase}/auth/token`, privateKey: pair.privateKey, kid: pair.kid, alg: 'ES384' });
    },
    backendToken: (r, form) =>
      fetch(`${r.origin}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() }),
    redisClient: () => {
      const c = new Redis(redis.url);
      connections.push(c);
      return c;
    },
    close: async () => {
      for (const c of connections) c.disconnect();
      await Promise.all([a.stop(), b.stop()]);
      await redis.close();
      await upstream.close();
    },
  };
}

export { tokenForm };
