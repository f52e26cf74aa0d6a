/**
 * The service on the embedded sandbox, composed: what `npm start` runs with no
 * configuration, and what the tests start. The sandbox is started on a free port and the
 * service is handed an Upstream built from it — its API, its OAuth client with a refresh
 * token it issues, its login page, a demo SMART app — then the sandbox is stopped after the
 * service. With NEXTECH_BASE_URL set nothing is composed: the service runs on that Nextech,
 * exactly as the production entry runs it. Only development code may import this module.
 */
import type { Config, SmartClient } from '../config.ts';
import {
  SANDBOX_CLIENT_ID,
  SANDBOX_CLIENT_SECRET,
  SANDBOX_PASSWORD,
  SANDBOX_PRACTICE_IDS,
  SANDBOX_RESOURCE,
  SANDBOX_USERNAME,
  parseFaultSpec,
  startSandbox,
  type RunningSandbox,
} from '../sandbox/index.ts';
import { startService, type RunningService, type StartOptions } from '../server.ts';
import { upstreamFromConfig, type Upstream } from '../upstream.ts';

/** The demo app registered on the sandbox when SMART_CLIENTS is not set. */
export const DEMO_SMART_CLIENT: SmartClient = {
  clientId: 'demo-app',
  name: 'Demo SMART app',
  redirectUris: ['http://localhost:3000/callback'],
};

export interface DevService extends RunningService {
  /** The embedded sandbox, when no NEXTECH_BASE_URL was configured. */
  sandbox?: RunningSandbox;
}

/**
 * Starts the service on the embedded sandbox when `config` names no Nextech, otherwise on
 * the configured one. `close()` stops the service, then the sandbox.
 */
export async function startDevService(config: Readonly<Config>, opts: Omit<StartOptions, 'upstream'>): Promise<DevService> {
  if (config.nextechBaseUrl !== undefined) return startService(config, { ...opts, upstream: upstreamFromConfig(config) });
  // SANDBOX_FAULTS makes the embedded sandbox misbehave on purpose (demos, benchmarks).
  const sandbox = await startSandbox({ port: 0, ...(config.sandboxFaults ? { faults: parseFaultSpec(config.sandboxFaults) } : {}) });
  try {
    const running = await startService(config, { ...opts, upstream: sandboxUpstream(sandbox, config) });
    return {
      ...running,
      sandbox,
      close: async () => {
        await running.close();
        await sandbox.close();
      },
    };
  } catch (err) {
    await sandbox.close();
    throw err;
  }
}

/** The running sandbox as the service's upstream, with managed credentials it issues now. */
export function sandboxUpstream(sandbox: RunningSandbox, config: Readonly<Config>): Upstream {
  const defaultPracticeId = config.defaultPracticeId ?? SANDBOX_PRACTICE_IDS[0];
  const practices = sandbox.sandbox.data.practices.map((p) => p.practiceId).join(', ');
  const oauth = { tokenUrl: sandbox.tokenUrl, clientId: SANDBOX_CLIENT_ID, clientSecret: SANDBOX_CLIENT_SECRET, resource: SANDBOX_RESOURCE };
  return {
    baseUrl: sandbox.apiBaseUrl,
    managed: { ...oauth, refreshToken: sandbox.sandbox.issueTokens(SANDBOX_CLIENT_ID).refreshToken },
    oauth,
    authorizeUrl: sandbox.authorizeUrl,
    ...(defaultPracticeId ? { defaultPracticeId } : {}),
    dev: {
      description: `embedded sandbox at ${sandbox.apiBaseUrl} (practices ${practices}; default ${defaultPracticeId ?? '-'})`,
      example: 'Patient?family=smith&birthdate=ge1970',
      login: `Nextech login on the sandbox: ${SANDBOX_USERNAME} / ${SANDBOX_PASSWORD}`,
      demoSmartClient: DEMO_SMART_CLIENT,
      registerRedirectUri: (uri) => sandbox.sandbox.registerRedirectUri(SANDBOX_CLIENT_ID, uri),
    },
  };
}
