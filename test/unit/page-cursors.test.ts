/**
 * Paging cursors (src/routes/page-cursors.ts) as a pure mechanism: what opens, and what
 * does not — every binding, every byte, every spelling, the expiry.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPageCursors, CURSOR_SECONDS, type CursorBinding } from '../../src/routes/page-cursors.ts';

const KEY = 'unit-test resource id key, 32+ characters';
const BINDING: CursorBinding = { practiceId: '1001', callerKey: 'smart:app:sign-in-1', path: 'Patient' };
const QUERY = 'identifier=E10050&_count=10';

function clocked(start = Date.UTC(2030, 0, 1)) {
  let now = start;
  return { cursors: createPageCursors(KEY, () => now), at: (ms: number) => (now = start + ms) };
}

describe('page cursors', () => {
  it('opens to the query it sealed, for the binding it was sealed for, and shows nothing of it', () => {
    const { cursors } = clocked();
    const cursor = cursors.seal(QUERY, BINDING);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursors.open(cursor, BINDING)).toEqual({ kind: 'query', query: QUERY });
    expect(Buffer.from(cursor, 'base64url').toString('latin1')).not.toContain('E10050');
    // Random IVs: the same search sealed twice is spelled differently.
    expect(cursors.seal(QUERY, BINDING)).not.toBe(cursor);
  });

  it('compresses a query when that is shorter, and opens it whole', () => {
    const { cursors } = clocked();
    const long = Array.from({ length: 60 }, (_, i) => `gender:not=${'a'.repeat(200)}${i}`).join('&');
    const cursor = cursors.seal(long, BINDING);
    expect(cursor.length).toBeLessThan(long.length / 10);
    expect(cursors.open(cursor, BINDING)).toEqual({ kind: 'query', query: long });
    const unicode = 'family=Núñez&given=Zoë';
    expect(cursors.open(cursors.seal(unicode, BINDING), BINDING)).toEqual({ kind: 'query', query: unicode });
  });

  it('measures, without sealing, exactly the length of the cursor it seals', () => {
    const { cursors } = clocked();
    const queries = [
      QUERY,
      'a',
      'family=Núñez&given=Zoë',
      Array.from({ length: 60 }, (_, i) => `gender:not=${'a'.repeat(200)}${i}`).join('&'),
      ...Array.from({ length: 40 }, (_, n) => `identifier=${randomBytes(n * 7).toString('base64url')}&_count=10&_offset=${n * 137}`),
    ];
    for (const q of queries) {
      expect(cursors.sealedLength(q), q.slice(0, 40)).toBe(cursors.seal(q, BINDING).length);
      expect(cursors.sealedLength(q)).toBe(cursors.seal(q, { ...BINDING, callerKey: `${'x'.repeat(300)}` }).length);
    }
  });

  it.each<[string, Partial<CursorBinding>]>([
    ['another practice', { practiceId: '1002' }],
    ['another caller', { callerKey: 'smart:app:sign-in-2' }],
    ['another door with a look-alike key', { callerKey: 'anonymous' }],
    ['another path', { path: 'Encounter' }],
    ['an operation', { path: 'DocumentReference/$docref' }],
  ])('does not open for %s', (_what, change) => {
    const { cursors } = clocked();
    expect(cursors.open(cursors.seal(QUERY, BINDING), { ...BINDING, ...change })).toEqual({ kind: 'invalid' });
  });

  it('does not open with one bit changed anywhere: version, expiry, IV, ciphertext or tag', () => {
    const { cursors } = clocked();
    const bytes = Buffer.from(cursors.seal(QUERY, BINDING), 'base64url');
    for (let i = 0; i < bytes.length; i++) {
      const altered = Buffer.from(bytes);
      altered[i] = (altered[i] ?? 0) ^ 0x01;
      expect(cursors.open(altered.toString('base64url'), BINDING), `byte ${i}`).toEqual({ kind: 'invalid' });
    }
  });

  it.each([
    ['empty', ''],
    ['not base64url', 'abc+/='],
    ['too short', 'AQAAAAA'],
    ['longer than any URL', 'A'.repeat(8 * 1024 + 4)],
  ])('does not open what it never wrote (%s)', (_what, text) => {
    expect(clocked().cursors.open(text, BINDING)).toEqual({ kind: 'invalid' });
  });

  it('does not open a non-canonical spelling of a cursor it wrote', () => {
    const { cursors } = clocked();
    const cursor = cursors.seal(QUERY, BINDING);
    // 61 bytes: the last character has spare low bits, and Node decodes both spellings alike.
    expect(Buffer.from(cursor, 'base64url')).toHaveLength(61);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = [...alphabet].map((c) => cursor.slice(0, -1) + c).find((t) => t !== cursor && Buffer.from(t, 'base64url').equals(Buffer.from(cursor, 'base64url')));
    expect(twin).toBeDefined();
    expect(cursors.open(twin ?? '', BINDING)).toEqual({ kind: 'invalid' });
  });

  it('does not open under another key', () => {
    const cursor = clocked().cursors.seal(QUERY, BINDING);
    const other = createPageCursors('another resource id key, 32+ characters', () => Date.UTC(2030, 0, 1));
    expect(other.open(cursor, BINDING)).toEqual({ kind: 'invalid' });
  });

  it(`opens for ${CURSOR_SECONDS} seconds, then is expired; an altered expired cursor is still invalid`, () => {
    const { cursors, at } = clocked();
    const cursor = cursors.seal(QUERY, BINDING);
    at((CURSOR_SECONDS - 1) * 1000);
    expect(cursors.open(cursor, BINDING).kind).toBe('query');
    at(CURSOR_SECONDS * 1000);
    expect(cursors.open(cursor, BINDING)).toEqual({ kind: 'expired' });
    expect(cursors.open(cursor, { ...BINDING, callerKey: 'anonymous' })).toEqual({ kind: 'invalid' });
  });
});
