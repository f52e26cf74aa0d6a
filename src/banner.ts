/**
 * The start-up banner both entries print (src/index.ts, src/dev.ts): where the FHIR base
 * is, what Nextech it serves, and which doors are open — plain lines from the running
 * service, so it is the same whichever entry started it.
 */
import { getHeapStatistics } from 'node:v8';
import type { RunningService } from './server.ts';

/** The banner's lines, in order. */
export function startupBanner(service: RunningService, heapLimitBytes = getHeapStatistics().heap_size_limit): string[] {
  const base = `${service.config.publicBaseUrl}/fhir`;
  const dev = service.upstream.dev;
  const lines = [`FHIR base: ${base}`, `CapabilityStatement: curl -s ${base}/metadata`];
  lines.push(`API reference: ${service.config.publicBaseUrl}/docs`, `OpenAPI: ${service.config.publicBaseUrl}/openapi.yaml`);
  if (dev) lines.push(`Nextech: ${dev.description}`, `Try:  curl -s '${base}/${dev.example}'`);
  const auth = service.services.auth;
  if (auth?.smart) lines.push(`SMART: ${base}/.well-known/smart-configuration${dev ? ` (${dev.login})` : ''}`);
  if (auth?.backend) lines.push(`Backend Services: token endpoint ${auth.urls.token} (${auth.backend.deps.settings.clients.length} client(s))`);
  const doors = service.services.doors;
  if (doors.passthrough) lines.push('Passthrough: a Nextech access token as Bearer is forwarded to Nextech');
  if (doors.anonymous) {
    // Only requests addressed to the service are answered (routes/host-guard.ts: DNS rebinding).
    const addressed = [...new Set([new URL(service.config.publicBaseUrl).host, `localhost:${service.config.port}`])].join(' or ');
    lines.push(
      `ANONYMOUS ACCESS IS ON: requests without a token read patient data with the service's Nextech credentials (listening on ${service.config.host}; answered when addressed to ${addressed})`,
    );
  }
  if (!auth?.smart && !auth?.backend && !doors.passthrough && !doors.anonymous) {
    lines.push('NO DOOR IS OPEN: every FHIR request will be refused (configure SMART_CLIENTS, BACKEND_CLIENTS, NEXTECH_AUTH=passthrough or ANONYMOUS_ACCESS)');
  }
  const heapMb = Math.round(heapLimitBytes / 1048576);
  lines.push(`Document memory: ${Math.round(service.config.documentMemoryBytes / 1048576)} MB of a ${heapMb} MB JavaScript heap (DOCUMENT_MEMORY_MB; the heap: --max-old-space-size)`);
  lines.push(`Metrics: ${service.config.metricsToken ? 'GET /metrics with the METRICS_TOKEN bearer' : 'GET /metrics from loopback only'}`);
  const redis = service.config.redis;
  // The host only: a Redis URL may carry a password.
  if (redis) {
    lines.push(
      `Shared state: Redis at ${new URL(redis.url).host} (keys under ${redis.prefix}); if it is unavailable, each replica takes 1/${service.config.replicas} of the Nextech budget (REPLICAS)`,
    );
  }
  return lines;
}
