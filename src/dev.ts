/**
 * Development entry, `npm start`: with no configuration, the embedded sandbox and the
 * service composed on it (src/dev/compose.ts), so `npm install && npm start` serves FHIR at
 * once. With NEXTECH_BASE_URL set it runs the service on that Nextech, as the production
 * entry (src/index.ts) does. The product never imports the sandbox; only this entry and src/dev/ do.
 */
import { startDevService } from './dev/compose.ts';
import { runEntry } from './entry.ts';

runEntry({ start: (config, logger) => startDevService(config, { logger }) });
