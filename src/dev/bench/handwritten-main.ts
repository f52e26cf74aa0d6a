/**
 * Entry of the bench's hand-written facade process (handwritten.ts): HANDWRITTEN_UPSTREAM is
 * the Nextech API base, HANDWRITTEN_IDS the JSON table of the bench patients' FHIR ids;
 * served as every baseline is (baseline-server.ts), with the proxy's undici Agent.
 */
import { serveBaseline } from './baseline-server.ts';
import { createHandwrittenApp, type IdTable } from './handwritten.ts';

const upstream = process.env.HANDWRITTEN_UPSTREAM;
if (!upstream) throw new Error('HANDWRITTEN_UPSTREAM is required');
const ids = JSON.parse(process.env.HANDWRITTEN_IDS ?? '{}') as IdTable;
serveBaseline((dispatcher) => createHandwrittenApp(upstream, dispatcher, ids));
