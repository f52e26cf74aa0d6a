/**
 * IP addresses as the service reasons about them, in one place: a peer's address as Node
 * reports it (IPv4-mapped on a dual-stack socket, zoned, any letter case) made plain; the
 * *source* a connection or request counts against — an IPv4 address, or an IPv6 /64 (a host
 * is commonly given a whole /64 and can pick any address in it); loopback; and the address
 * ranges operators write in configuration (TRUSTED_PROXIES), checked by config.ts and made
 * into lists here by the same parser. No I/O, no framework: config.ts imports it.
 */
import { BlockList, isIP } from 'node:net';

type Family = 'ipv4' | 'ipv6';

const familyOf = (address: string): Family => (isIP(address) === 4 ? 'ipv4' : 'ipv6');

/** A bare address: IPv4-mapped IPv6 as IPv4, without a zone, in lower case; undefined if it is none. */
export function plainAddress(text: string): string | undefined {
  const bare = text.replace(/%.*$/, '');
  if (isIP(bare) === 0) return undefined;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare)?.[1];
  return mapped !== undefined && isIP(mapped) === 4 ? mapped : bare.toLowerCase();
}

/**
 * The source an address counts against — the key of the per-source connection limit
 * (http-server.ts) and of the queues of callers not yet proven (routes/client-source.ts):
 * a plain IPv4 address itself, an IPv6 address's /64.
 */
export function sourceKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = expandIpv6(address);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : address;
}

/** The source of an address as Node reports a peer's: undefined when there is none, or it is not an address. */
export function sourceOf(peer: string | undefined): string | undefined {
  const plain = peer === undefined ? undefined : plainAddress(peer);
  return plain === undefined ? undefined : sourceKey(plain);
}

const LOOPBACK = addressList(['127.0.0.0/8', '::1']);

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string | undefined): boolean {
  const plain = address === undefined ? undefined : plainAddress(address);
  return plain !== undefined && inList(LOOPBACK, plain);
}

export interface AddressRange {
  address: string;
  family: Family;
  /** The CIDR prefix length; undefined for a single address. */
  prefix?: number;
}

/** An IP address or a CIDR range of them as written in configuration (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`); undefined if it is neither. */
export function addressRange(entry: string): AddressRange | undefined {
  const [address = '', prefix, extra] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return undefined;
  const family: Family = version === 4 ? 'ipv4' : 'ipv6';
  if (prefix === undefined) return { address, family };
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (version === 4 ? 32 : 128)) return undefined;
  return { address, family, prefix: Number(prefix) };
}

/** The list of `entries` (addresses and ranges, validated with addressRange); throws on one that is neither. */
export function addressList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const range = addressRange(entry);
    if (range === undefined) throw new Error('not an address or range (validate entries with addressRange first)');
    if (range.prefix === undefined) list.addAddress(range.address, range.family);
    else list.addSubnet(range.address, range.prefix, range.family);
  }
  return list;
}

/** Whether a plain address is in the list. */
export const inList = (list: BlockList, address: string): boolean => list.check(address, familyOf(address));

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
