// The per-source connection limit (src/http-server.ts, admitConnections) counts by source, the
// key the queues of unproven callers use too (src/net/addresses.ts): one IPv6 /64 is one
// source, however many of its addresses connect. Before, it counted exact addresses, so the
// holder of a /64 could take every one of HTTP_MAX_CONNECTIONS by moving between them.
// Sockets here are stand-ins with what the admission reads of a real one (its peer, bytes
// read, destroy, close): binding several addresses of one /64 needs a machine configured
// for it. The limit over real connections is test/connection-limits.test.ts (IPv4 sources).
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { admitConnections, type ClosedBecause } from '../../src/http-server.ts';

class PeerSocket extends EventEmitter {
  destroyed = false;
  readonly bytesRead = 1;
  constructor(readonly remoteAddress: string | undefined) {
    super();
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.emit('close');
    }
    return this;
  }
}

function admission(perSource: number) {
  const closed: ClosedBecause[] = [];
  const admit = admitConnections({ maxConnectionsPerSource: perSource, headersTimeoutMs: 60_000 }, (why) => closed.push(why));
  const connect = (address: string | undefined) => {
    const socket = new PeerSocket(address);
    admit(socket as unknown as Socket);
    return socket;
  };
  return { connect, closed };
}

describe('the connections one source may hold', () => {
  it('counts every address of one IPv6 /64 as one source', () => {
    const { connect, closed } = admission(4);
    const held = Array.from({ length: 4 }, (_, i) => connect(`2001:db8:a:b::${i + 1}`));
    expect(held.every((s) => !s.destroyed)).toBe(true);
    // A fifth address of the same /64 (written another way) is over the bound…
    expect(connect('2001:DB8:A:B:ffff:ffff:ffff:ffff').destroyed).toBe(true);
    expect(connect('2001:db8:a:b:0:0:0:99%eth0').destroyed).toBe(true);
    expect(closed).toEqual(['source-limit', 'source-limit']);
    // …another /64 is another source…
    expect(connect('2001:db8:a:c::1').destroyed).toBe(false);
    // …and a place freed in the /64 can be taken again, from any of its addresses.
    held[0]?.destroy();
    expect(connect('2001:db8:a:b::77').destroyed).toBe(false);
    expect(connect('2001:db8:a:b::78').destroyed).toBe(true);
  });

  it('counts an IPv4 peer the same over IPv4 and over a dual-stack socket, and each IPv4 address apart', () => {
    const { connect } = admission(2);
    expect(connect('127.0.0.1').destroyed).toBe(false);
    expect(connect('::ffff:127.0.0.1').destroyed).toBe(false);
    expect(connect('127.0.0.1').destroyed).toBe(true);
    expect(connect('127.0.0.2').destroyed).toBe(false);
  });

  it('closes a connection whose peer is unknown', () => {
    const { connect, closed } = admission(2);
    expect(connect(undefined).destroyed).toBe(true);
    expect(closed).toEqual(['source-limit']);
  });
});
