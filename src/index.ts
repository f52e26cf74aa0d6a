/**
 * Process entry: load the configuration (exit non-zero naming every bad variable), start
 * the service, print where it listens, and shut down cleanly on SIGTERM/SIGINT.
 */
import { getHeapStatistics } from 'node:v8';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logging.ts';
import { startService } from './server.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const service = await startService(config, { logger });
  const base = `${service.config.publicBaseUrl}/fhir`;
  const lines = [`FHIR base: ${base}`, `CapabilityStatement: curl -s ${base}/metadata`];
  if (service.sandbox) {
    lines.push(
      `Nextech: embedded sandbox at ${service.sandbox.apiBaseUrl} (practices ${service.sandbox.sandbox.data.practices.map((p) => p.practiceId).join(', ')}; default ${service.config.defaultPracticeId ?? '-'})`,
      `Try:  curl -s '${base}/Patient?family=smith&birthdate=ge1970'`,
    );
  }
  const auth = service.services.auth;
  if (auth?.smart) {
    lines.push(`SMART: ${base}/.well-known/smart-configuration${service.sandbox ? ' (Nextech login on the sandbox: demo / demo)' : ''}`);
  }
  if (auth?.backend) lines.push(`Backend Services: token endpoint ${auth.urls.token} (${auth.backend.deps.settings.clients.length} client(s))`);
  if (service.services.doors.passthrough) lines.push('Passthrough: a Nextech access token as Bearer is forwarded to Nextech');
  if (service.services.doors.anonymous) {
    lines.push(`ANONYMOUS ACCESS IS ON: requests without a token read patient data with the service's Nextech credentials (listening on ${service.config.host})`);
  }
  const doors = service.services.doors;
  if (!auth?.smart && !auth?.backend && !doors.passthrough && !doors.anonymous) {
    lines.push('NO DOOR IS OPEN: every FHIR request will be refused (configure SMART_CLIENTS, BACKEND_CLIENTS, NEXTECH_AUTH=passthrough or ANONYMOUS_ACCESS)');
  }
  const heapMb = Math.round(getHeapStatistics().heap_size_limit / 1048576);
  lines.push(`Document memory: ${Math.round(service.config.documentMemoryBytes / 1048576)} MB of a ${heapMb} MB JavaScript heap (DOCUMENT_MEMORY_MB; the heap: --max-old-space-size)`);
  lines.push(`Metrics: ${service.config.metricsToken ? 'GET /metrics with the METRICS_TOKEN bearer' : 'GET /metrics from loopback only'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  logger.info({ port: service.config.port, sandbox: Boolean(service.sandbox), auth: service.config.auth }, 'started');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    service.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A bug must not take the service down: log it (no request data) and keep serving.
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: { name: reason instanceof Error ? reason.name : typeof reason, stack: reason instanceof Error ? reason.stack : undefined } }, 'unhandled rejection');
  });
  process.on('uncaughtException', (err) => {
    logger.error({ err: { name: err.name, stack: err.stack } }, 'uncaught exception');
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`Failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
