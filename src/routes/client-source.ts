/**
 * Where a request comes from: the TCP peer's address, or — only when that peer is a proxy the
 * operator listed in TRUSTED_PROXIES — the client address the proxies forwarded in
 * `X-Forwarded-For`. With no trusted proxies (the default) the header is never read, so nothing
 * a client writes moves it elsewhere.
 *
 * Passthrough callers Nextech has not accepted yet queue by it (source/nextech/client.ts), cut
 * down to what one party controls: its source (net/addresses.ts: an IPv4 address, or an IPv6
 * /64), the same key the per-source connection limit counts (http-server.ts).
 */
import type { BlockList } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { addressList, inList, plainAddress, sourceKey } from '../net/addresses.ts';
import type { AppEnv } from './env.ts';

/**
 * The client's address: the peer, unless the peer is a trusted proxy — then, walking
 * `X-Forwarded-For` from its right end (each proxy appends the address it was called from),
 * the first address no trusted proxy stands for. An entry that is not an address stops the
 * walk at the last trusted hop: what lies left of it is whatever a client wrote.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | undefined, trusted: BlockList | undefined): string | undefined {
  let address = peer === undefined ? undefined : plainAddress(peer);
  if (address === undefined || trusted === undefined || forwardedFor === undefined) return address;
  const hops = forwardedFor.split(',');
  while (inList(trusted, address) && hops.length > 0) {
    const hop = plainAddress(stripPort((hops.pop() ?? '').trim()));
    if (hop === undefined) break;
    address = hop;
  }
  return address;
}

/** Sets `source` on every request: the key of where it comes from (absent when unknown). */
export function clientSource(trustedProxies: readonly string[]): MiddlewareHandler<AppEnv> {
  const trusted = trustedProxies.length > 0 ? addressList(trustedProxies) : undefined;
  return async (c, next) => {
    const address = clientAddress(peerAddress(c), trusted ? c.req.header('x-forwarded-for') : undefined, trusted);
    if (address !== undefined) c.set('source', sourceKey(address));
    await next();
  };
}

/** The TCP peer's address as Node reports it; undefined for a request the Node server did not serve (in-process). */
export function peerAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}

/** `[v6]:port` → `v6`, `v4:port` → `v4` (some proxies write ports); anything else as it is. */
function stripPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed?.[1] !== undefined) return bracketed[1];
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(hop);
  return v4?.[1] ?? hop;
}
