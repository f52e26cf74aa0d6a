// Addresses as the service reasons about them (src/net/addresses.ts), as data: plain forms,
// the source an address counts against (an IPv4 address, or an IPv6 /64), loopback, and the
// ranges operators configure.
import { describe, expect, it } from 'vitest';
import { addressList, addressRange, inList, isLoopback, plainAddress, sourceKey, sourceOf } from '../../src/net/addresses.ts';

describe('the plain form of an address', () => {
  it.each<[string, string | undefined]>([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['::FFFF:203.0.113.9', '203.0.113.9'],
    ['2001:DB8::1', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['not-an-address', undefined],
    ['', undefined],
  ])('of %j is %j', (text, want) => {
    expect(plainAddress(text)).toBe(want);
  });
});

const keyCases: [string, string][] = [
  ['203.0.113.9', '203.0.113.9'],
  ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
  ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
  ['2001:db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
  ['2001:db8::', '2001:db8:0:0::/64'],
  ['::1', '0:0:0:0::/64'],
  ['64:ff9b::198.51.100.1', '64:ff9b:0:0::/64'],
];

describe('the source of an address', () => {
  for (const [address, key] of keyCases) {
    it(`of ${address} is ${key}`, () => {
      expect(sourceKey(address)).toBe(key);
    });
  }

  it('puts every address of one IPv6 /64 in one source, and another /64 in another', () => {
    expect(new Set(['2001:db8:a:b::1', '2001:db8:a:b:ffff:ffff:ffff:ffff', '2001:db8:a:b:1::'].map(sourceKey)).size).toBe(1);
    expect(sourceKey('2001:db8:a:c::1')).not.toBe(sourceKey('2001:db8:a:b::1'));
  });

  it('of a peer as Node reports it: IPv4-mapped as IPv4, zoned and cased IPv6 by its /64, nothing for no address', () => {
    expect(sourceOf('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(sourceOf('FD00:1::2')).toBe(sourceOf('fd00:1::5%lo'));
    expect(sourceOf('fd00:1::2')).toBe('fd00:1:0:0::/64');
    expect(sourceOf(undefined)).toBeUndefined();
    expect(sourceOf('junk')).toBeUndefined();
  });
});

describe('loopback', () => {
  it('is exactly 127/8 and ::1, in any spelling, and their IPv4-mapped forms', () => {
    const table: Array<[string | undefined, boolean]> = [
      ['127.0.0.1', true],
      ['127.255.0.9', true],
      ['::1', true],
      ['0:0:0:0:0:0:0:1', true],
      ['::ffff:127.0.0.1', true],
      ['192.0.2.2', false],
      ['::ffff:10.0.0.1', false],
      ['fd00::2', false],
      ['::2', false],
      ['128.0.0.1', false],
      ['127.0.0.1.evil', false],
      [undefined, false],
    ];
    for (const [address, want] of table) expect(isLoopback(address), String(address)).toBe(want);
  });
});

describe('configured address ranges', () => {
  it.each<[string, boolean]>([
    ['10.0.0.5', true],
    ['10.0.0.0/8', true],
    ['10.0.0.0/32', true],
    ['10.0.0.0/33', false],
    ['fd00::/8', true],
    ['fd00::/128', true],
    ['fd00::/129', false],
    ['10.0.0.0/8/8', false],
    ['10.0.0.0/x', false],
    ['10.0.0.0/', false],
    ['example.org', false],
    ['', false],
  ])('%j is %s', (entry, valid) => {
    expect(addressRange(entry) !== undefined).toBe(valid);
  });

  it('make a list of addresses and ranges, and nothing else', () => {
    const list = addressList(['10.0.0.0/8', '192.168.1.10', 'fd00::/8']);
    expect([inList(list, '10.9.9.9'), inList(list, '192.168.1.10'), inList(list, '192.168.1.11'), inList(list, 'fd00::1'), inList(list, 'fe80::1')]).toEqual([true, true, false, true, false]);
    expect(() => addressList(['10.0.0.0/40'])).toThrow();
  });
});
