/**
 * Production entry, the one a container runs (`node --max-old-space-size=384 --import tsx
 * src/index.ts`, or `npm run start:prod`): the service on the Nextech its configuration
 * names. It refuses to start without NEXTECH_BASE_URL (exit 2, nothing listening): it never
 * falls back to the embedded sandbox — that is `npm start` (src/dev.ts).
 */
import { runEntry } from './entry.ts';
import { startService } from './server.ts';
import { upstreamFromConfig } from './upstream.ts';

runEntry({
  requireNextech: true,
  start: (config, logger, extras) => startService(config, { logger, upstream: upstreamFromConfig(config), ...extras }),
});
