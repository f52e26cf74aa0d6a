// The sealer (src/auth/smart/sealer.ts) behind the facade's self-contained SMART tokens:
// what seals opens, and nothing else does — another kind, another secret, a changed byte,
// a forged expiry, a lapsed one, or text that was never sealed.
import { describe, expect, it } from 'vitest';
import { createRollingSealer, createSealer, type SealKind } from '../../src/auth/smart/sealer.ts';

const SECRET = 'a-test-secret-of-at-least-32-chars!!';
const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const KINDS: SealKind[] = ['access', 'refresh', 'code', 'pending', 'picker'];
const URL_SAFE = /^v1\.[A-Za-z0-9_-]+$/;

/** A sealer whose clock the test moves. */
function clocked(start = T0) {
  let now = start;
  const sealer = createSealer(SECRET, () => now);
  return { sealer, advance: (ms: number) => (now += ms) };
}

/** The sealed string with one base64url character replaced by another. */
function flipChar(sealed: string, index: number): string {
  const c = sealed[index];
  return sealed.slice(0, index) + (c === 'A' ? 'B' : 'A') + sealed.slice(index + 1);
}

const payload = { sub: 'user-1', nextech: { access: 'nx-at', refresh: 'nx-rt' }, scope: 'patient/Patient.rs', n: 3 };

describe('sealer', () => {
  it('opens what it sealed, with the authenticated expiry as exp', () => {
    const { sealer } = clocked();
    const sealed = sealer.seal('access', payload, 300);
    expect(sealer.open('access', sealed)).toEqual({ ...payload, exp: T0 / 1000 + 300 });
  });

  it('writes a URL- and header-safe string with a version prefix', () => {
    const { sealer } = clocked();
    for (const kind of KINDS) expect(sealer.seal(kind, payload, 60)).toMatch(URL_SAFE);
  });

  it('seals the same payload differently each time (random IV)', () => {
    const { sealer } = clocked();
    const a = sealer.seal('code', payload, 60);
    const b = sealer.seal('code', payload, 60);
    expect(a).not.toBe(b);
    expect(sealer.open('code', a)).toEqual(sealer.open('code', b));
  });

  it('never opens a string as another kind than it was sealed as', () => {
    const { sealer } = clocked();
    for (const sealedAs of KINDS) {
      const sealed = sealer.seal(sealedAs, payload, 60);
      for (const openAs of KINDS) {
        expect(sealer.open(openAs, sealed) !== undefined, `${sealedAs} as ${openAs}`).toBe(sealedAs === openAs);
      }
    }
  });

  it('opens until the expiry second and not from it on', () => {
    const { sealer, advance } = clocked();
    const sealed = sealer.seal('refresh', payload, 60);
    advance(59_999);
    expect(sealer.open('refresh', sealed)).toBeDefined();
    advance(1);
    expect(sealer.open('refresh', sealed)).toBeUndefined();
  });

  it('does not open with another secret', () => {
    const sealed = createSealer(SECRET, () => T0).seal('access', payload, 60);
    const other = createSealer(`${SECRET}?`, () => T0);
    expect(other.open('access', sealed)).toBeUndefined();
  });

  it('refuses a string with any single character changed', () => {
    const { sealer } = clocked();
    const sealed = sealer.seal('access', { a: 1 }, 60);
    for (let i = 'v1.'.length; i < sealed.length; i++) {
      expect(sealer.open('access', flipChar(sealed, i)), `index ${i}`).toBeUndefined();
    }
  });

  it('refuses a string whose expiry was pushed later', () => {
    const { sealer, advance } = clocked();
    const sealed = sealer.seal('access', payload, 60);
    const bytes = Buffer.from(sealed.slice(3), 'base64url');
    bytes.writeUInt32BE(bytes.readUInt32BE(0) + 3600, 0);
    const forged = `v1.${bytes.toString('base64url')}`;
    advance(120_000);
    expect(sealer.open('access', sealed)).toBeUndefined();
    expect(sealer.open('access', forged)).toBeUndefined();
  });

  it('ignores an exp inside the payload in favour of the sealed expiry', () => {
    const { sealer, advance } = clocked();
    const sealed = sealer.seal('access', { exp: T0 / 1000 + 999_999 }, 60);
    expect(sealer.open('access', sealed)).toEqual({ exp: T0 / 1000 + 60 });
    advance(60_000);
    expect(sealer.open('access', sealed)).toBeUndefined();
  });

  const garbage: Array<[string, string]> = [
    ['the empty string', ''],
    ['the bare prefix', 'v1.'],
    ['another version', 'v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['no prefix', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['characters outside base64url', 'v1.AAAA+AAA/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['padding', 'v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=='],
    ['too short to hold header and tag', 'v1.AAAAAAAAAAAAAAAAAAAA'],
    ['a JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl'],
    ['a long random string', `v1.${'x'.repeat(10_000)}`],
  ];
  it.each(garbage)('returns undefined without throwing for %s', (_name, text) => {
    const { sealer } = clocked();
    expect(sealer.open('access', text)).toBeUndefined();
  });

  it('refuses a non-canonical spelling of a sealed string', () => {
    const { sealer } = clocked();
    // {"a":12} is 8 bytes; with exp, IV and tag that is 40 bytes, which leaves the last
    // base64url character 4 unused bits, so flipping its lowest bit decodes the same.
    const sealed = sealer.seal('access', { a: 12 }, 60);
    const last = sealed.at(-1) ?? '';
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) ^ 1] ?? '';
    const variant = sealed.slice(0, -1) + sibling;
    expect(Buffer.from(variant.slice(3), 'base64url')).toEqual(Buffer.from(sealed.slice(3), 'base64url'));
    expect(sealer.open('access', variant)).toBeUndefined();
  });

  it('keeps a 1 KB payload under 1.6 KB', () => {
    const { sealer } = clocked();
    const big = { nextech: { access: 'a'.repeat(700), refresh: 'r'.repeat(250) }, sub: 'user-1' };
    expect(JSON.stringify(big).length).toBeGreaterThanOrEqual(1000);
    const sealed = sealer.seal('refresh', big, 86_400);
    expect(sealed.length).toBeLessThan(1600);
    expect(sealer.open('refresh', sealed)).toMatchObject(big);
  });

  it('refuses a secret shorter than 32 characters', () => {
    expect(() => createSealer('x'.repeat(31))).toThrow(/32/);
    expect(() => createSealer('x'.repeat(32))).not.toThrow();
  });

  it.each([0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses a ttl of %s seconds', (ttl) => {
    const { sealer } = clocked();
    expect(() => sealer.seal('access', payload, ttl)).toThrow(RangeError);
  });
});

describe('rolling a key (createRollingSealer)', () => {
  const OLD = 'the old key, at least thirty-two characters';
  const NEW = 'the new key, at least thirty-two characters';

  it('goes through its three steps with every token opening wherever it may be sent', () => {
    // 1. Every replica still seals with the old key and already accepts the new one.
    const step1 = createRollingSealer(OLD, [NEW]);
    // 2. Every replica seals with the new key and still accepts the old one.
    const step2 = createRollingSealer(NEW, [OLD]);
    // 3. The old key is gone.
    const step3 = createRollingSealer(NEW, []);
    const before = createSealer(OLD).seal('access', { sub: 'a' }, 60);
    const during1 = step1.seal('access', { sub: 'b' }, 60);
    const during2 = step2.seal('access', { sub: 'c' }, 60);
    // Replicas at step 1 and step 2 run side by side while the rollout goes: each opens the other's.
    for (const s of [step1, step2]) for (const t of [before, during1, during2]) expect(s.open('access', t)).toBeDefined();
    // After step 3, only what the new key sealed opens.
    expect(step3.open('access', during2)).toMatchObject({ sub: 'c' });
    expect(step3.open('access', before)).toBeUndefined();
  });

  it('still refuses another kind, a tampered string and an unknown key', () => {
    const s = createRollingSealer(NEW, [OLD]);
    const t = createSealer(OLD).seal('refresh', { sub: 'a' }, 60);
    expect(s.open('access', t)).toBeUndefined();
    expect(s.open('refresh', `${t.slice(0, -2)}AA`)).toBeUndefined();
    expect(s.open('refresh', createSealer('a third key, at least thirty-two chars').seal('refresh', { sub: 'a' }, 60))).toBeUndefined();
  });
});
