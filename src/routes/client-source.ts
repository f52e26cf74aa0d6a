/**
 * Where a request comes from: the TCP peer's address, or — only when that peer is a proxy the
 * operator listed in TRUSTED_PROXIES — the client address the proxies forwarded in
 * `X-Forwarded-For`. With no trusted proxies (the default) the header is never read, so nothing
 * a client writes moves it elsewhere.
 *
 * Passthrough callers Nextech has not accepted yet queue by it (source/nextech/client.ts), so
 * it is cut down to what one party controls: an IPv4 address, or an IPv6 /64 (a host is
 * commonly given a whole /64 and can pick any address in it).
 */
import { BlockList, isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from './env.ts';

/** The proxies whose forwarded address is believed (entries already validated by config.ts). */
export function trustList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

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
  while (isTrusted(trusted, address) && hops.length > 0) {
    const hop = plainAddress(stripPort((hops.pop() ?? '').trim()));
    if (hop === undefined) break;
    address = hop;
  }
  return address;
}

/** The queue key of an address: the address itself (IPv4), or its /64 (IPv6). */
export function sourceKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = expandIpv6(address);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : address;
}

/** Sets `source` on every request: the key of where it comes from (absent when unknown). */
export function clientSource(trustedProxies: readonly string[]): MiddlewareHandler<AppEnv> {
  const trusted = trustedProxies.length > 0 ? trustList(trustedProxies) : undefined;
  return async (c, next) => {
    const address = clientAddress(peerOf(c), trusted ? c.req.header('x-forwarded-for') : undefined, trusted);
    if (address !== undefined) c.set('source', sourceKey(address));
    await next();
  };
}

function peerOf(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    // Not served by the Node server (an in-process request): no peer to name.
    return undefined;
  }
}

function isTrusted(list: BlockList, address: string): boolean {
  return list.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
}

/** A bare address, IPv4-mapped IPv6 as IPv4 and without a zone; undefined if it is none. */
function plainAddress(text: string): string | undefined {
  const bare = text.replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 0) return undefined;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare)?.[1];
  return mapped !== undefined && isIP(mapped) === 4 ? mapped : bare.toLowerCase();
}

/** `[v6]:port` → `v6`, `v4:port` → `v4` (some proxies write ports); anything else as it is. */
function stripPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed?.[1] !== undefined) return bracketed[1];
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(hop);
  return v4?.[1] ?? hop;
}

/** The eight 16-bit groups of a valid IPv6 address, as lower-case hex without leading zeros. */
function expandIpv6(address: string): string[] | undefined {
  let text = address.toLowerCase();
  // A trailing dotted IPv4 part stands for the last two groups.
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => Number.parseInt(g, 16).toString(16));
}
