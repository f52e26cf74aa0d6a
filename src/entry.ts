/**
 * What a process entry does around the service, shared by src/index.ts (production) and
 * src/dev.ts (`npm start`): load the configuration (exit 2 naming every bad variable),
 * start the service the entry composes, print the banner, and shut down cleanly on
 * SIGTERM/SIGINT. The entries differ only in how they read the configuration and what they start.
 */
import type { Logger } from 'pino';
import { startupBanner } from './banner.ts';
import { ConfigError, loadConfig, type Config, type LoadOptions } from './config.ts';
import { createLogger, loggableError } from './logging.ts';
import type { RunningService } from './server.ts';
import { ClusterStore, isWorker, joinCluster, runPrimary } from './cluster.ts';
import type { SharedStore } from './shared/store.ts';

export interface Entry extends LoadOptions {
  /** Starts the service for this configuration (`extras`: what a cluster worker adds). */
  start(config: Readonly<Config>, logger: Logger, extras: WorkerExtras): Promise<RunningService>;
}

export interface WorkerExtras {
  /** The primary's shared store, for a WORKERS > 1 worker without Redis. */
  clusterStore?: SharedStore;
}

/** Runs the entry in this process; exits non-zero when it cannot start. */
export function runEntry(entry: Entry): void {
  main(entry).catch((err: unknown) => {
    process.stderr.write(`Failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

async function main(entry: Entry): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, undefined, { requireNextech: entry.requireNextech === true });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  // WORKERS > 1: this process becomes the primary (src/cluster.ts); the workers run what follows.
  if (config.workers > 1 && !isWorker()) {
    runPrimary(config, logger);
    return;
  }
  const worker = isWorker();
  const service = await entry.start(config, logger, worker && !config.redis ? { clusterStore: new ClusterStore(config.workers) } : {});
  if (worker) joinCluster(service.metrics, startupBanner(service));
  else process.stdout.write(`${startupBanner(service).join('\n')}\n`);
  logger.info({ port: service.config.port, sandbox: service.upstream.dev !== undefined, auth: service.config.auth, ...(worker ? { worker: process.pid } : {}) }, worker ? 'worker started' : 'started');

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
  // A bug must not take the service down: log it and keep serving. Only the error's name and
  // its stack frames: the message (the stack's first line) may carry request data.
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: loggableError(reason) }, 'unhandled rejection');
  });
  process.on('uncaughtException', (err) => {
    logger.error({ err: loggableError(err) }, 'uncaught exception');
  });
}
