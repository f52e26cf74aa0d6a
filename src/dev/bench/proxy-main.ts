/**
 * Entry of the bench's pass-through proxy process (proxy.ts): PROXY_UPSTREAM is the Nextech
 * API base to forward to; served as every baseline is (baseline-server.ts).
 */
import { serveBaseline } from './baseline-server.ts';
import { createProxyApp } from './proxy.ts';

const upstream = process.env.PROXY_UPSTREAM;
if (!upstream) throw new Error('PROXY_UPSTREAM is required');
serveBaseline((dispatcher) => createProxyApp(upstream, dispatcher));
