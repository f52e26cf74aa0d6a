// Where a request comes from (src/routes/client-source.ts), as data: the peer alone unless it
// is a trusted proxy; then X-Forwarded-For walked from its right end, past every trusted hop,
// to the first address no trusted proxy stands for; junk stops the walk. (The source an
// address counts against is test/unit/addresses.test.ts.)
import { describe, expect, it } from 'vitest';
import { addressList } from '../../src/net/addresses.ts';
import { clientAddress } from '../../src/routes/client-source.ts';

const proxies = addressList(['10.0.0.0/8', '192.168.1.10', 'fd00::/8']);

const addressCases: { name: string; peer: string | undefined; xff?: string; trusted?: boolean; want: string | undefined }[] = [
  { name: 'no peer', peer: undefined, xff: '1.2.3.4', want: undefined },
  { name: 'a peer with no header', peer: '203.0.113.9', want: '203.0.113.9' },
  { name: 'an IPv4-mapped peer', peer: '::ffff:203.0.113.9', want: '203.0.113.9' },
  { name: 'an IPv6 peer, upper case', peer: '2001:DB8::1', want: '2001:db8::1' },
  { name: 'an untrusted peer’s header is ignored', peer: '203.0.113.9', xff: '198.51.100.1', want: '203.0.113.9' },
  { name: 'no trusted proxies at all: the header is ignored', peer: '10.0.0.5', xff: '198.51.100.1', trusted: false, want: '10.0.0.5' },
  { name: 'a trusted proxy names its client', peer: '10.0.0.5', xff: '198.51.100.1', want: '198.51.100.1' },
  { name: 'a trusted proxy reached as IPv4-mapped', peer: '::ffff:10.0.0.5', xff: '198.51.100.1', want: '198.51.100.1' },
  { name: 'what the client wrote before the proxy’s entry is not believed', peer: '10.0.0.5', xff: '127.0.0.1, 198.18.0.1, 198.51.100.1', want: '198.51.100.1' },
  { name: 'a chain of trusted proxies is walked through', peer: '10.0.0.5', xff: '198.51.100.1, 192.168.1.10, 10.9.9.9', want: '198.51.100.1' },
  { name: 'a chain stops at the first untrusted hop', peer: '10.0.0.5', xff: '10.1.1.1, 198.51.100.1, 10.9.9.9', want: '198.51.100.1' },
  { name: 'every hop trusted: the leftmost', peer: '10.0.0.5', xff: '10.1.1.1, 10.2.2.2', want: '10.1.1.1' },
  { name: 'junk stops the walk at the last trusted hop', peer: '10.0.0.5', xff: '198.51.100.1, not-an-address', want: '10.0.0.5' },
  { name: 'an empty entry is junk', peer: '10.0.0.5', xff: '198.51.100.1,', want: '10.0.0.5' },
  { name: 'an IPv4 entry with a port', peer: '10.0.0.5', xff: '198.51.100.1:4711', want: '198.51.100.1' },
  { name: 'a bracketed IPv6 entry with a port', peer: 'fd00::1', xff: '[2001:db8::7]:443', want: '2001:db8::7' },
  { name: 'an IPv6 entry with a zone', peer: 'fd00::1', xff: 'fe80::1%eth0', want: 'fe80::1' },
];

describe('the client address of a request', () => {
  for (const c of addressCases) {
    it(`is right for ${c.name}`, () => {
      expect(clientAddress(c.peer, c.xff, c.trusted === false ? undefined : proxies)).toBe(c.want);
    });
  }
});
