// Passed-through tokens Nextech accepted (src/source/nextech/proven-tokens.ts), on a fake
// clock and a store in memory: proven for an hour, for any process sharing the store and its
// secret; refused ones forgotten everywhere (at the replica that proved it, once its minute of
// trust runs out); only keyed hashes stored; bounded locally; a store that fails leaves a token
// this process never knew unproven.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/shared/memory-store.ts';
import { LOCAL_TRUST_MS, MAX_LOCAL, PROVEN_TTL_MS, ProvenTokens } from '../../src/source/nextech/proven-tokens.ts';

const KEY = 'a deployment secret of at least 32 characters';

function setup() {
  let t = 1_000_000;
  const now = () => t;
  const store = new MemoryStore(now);
  const writes: { key: string; value: string; ttlMs: number }[] = [];
  const watched = {
    get: (k: string) => store.get(k),
    set: (k: string, v: string, ttl: number) => {
      writes.push({ key: k, value: v, ttlMs: ttl });
      return store.set(k, v, ttl);
    },
  };
  return { now, advance: (ms: number) => (t += ms), store: watched, writes, replica: () => new ProvenTokens({ store: watched, keyring: KEY, now }) };
}

describe('proven tokens', () => {
  it('knows a token accepted at one replica at another, and at a replica started later', async () => {
    const s = setup();
    const a = s.replica();
    expect(await a.has('tok-1')).toBe(false);
    a.prove('tok-1');
    expect(await s.replica().has('tok-1')).toBe(true);
    expect(await a.has('tok-2')).toBe(false);
  });

  it('stores a keyed hash with an hour to live, never the token or a plain hash of it', async () => {
    const s = setup();
    s.replica().prove('tok-1');
    await Promise.resolve();
    expect(s.writes).toHaveLength(1);
    const [w] = s.writes;
    expect(w?.key).toMatch(/^proven:[A-Za-z0-9_-]{43}$/);
    expect(w?.ttlMs).toBe(PROVEN_TTL_MS);
    const plain = [createHash('sha256').update('tok-1').digest('base64url'), createHash('sha256').update('tok-1').digest('hex')];
    for (const text of [w?.key ?? '', w?.value ?? '']) {
      expect(text).not.toContain('tok-1');
      for (const p of plain) expect(text).not.toContain(p.slice(0, 22));
    }
    // Another secret names it otherwise: nothing proven under one deployment's key counts in another's.
    expect(await new ProvenTokens({ store: s.store, keyring: 'another deployment secret, 32+ characters', now: s.now }).has('tok-1')).toBe(false);
  });

  it('forgets a token an hour after it was accepted, unless it was accepted again after half of that', async () => {
    const s = setup();
    const a = s.replica();
    a.prove('short');
    a.prove('kept');
    s.advance(PROVEN_TTL_MS / 2 - 1);
    // Accepted again within the first half hour: nothing to write.
    a.prove('kept');
    expect(s.writes).toHaveLength(2);
    s.advance(2);
    a.prove('kept');
    expect(s.writes).toHaveLength(3);
    s.advance(PROVEN_TTL_MS / 2);
    expect(await a.has('short')).toBe(false);
    expect(await s.replica().has('short')).toBe(false);
    expect(await a.has('kept')).toBe(true);
    expect(await s.replica().has('kept')).toBe(true);
  });

  it('makes a refused token unproven for every replica — the one that proved it included, within LOCAL_TRUST_MS — and writes nothing for a token never proven', async () => {
    const s = setup();
    const a = s.replica();
    const b = s.replica();
    a.prove('tok-1');
    expect(await b.has('tok-1')).toBe(true);
    expect(await a.has('tok-1')).toBe(true);
    b.forget('tok-1');
    expect(await b.has('tok-1')).toBe(false);
    expect(await s.replica().has('tok-1')).toBe(false);
    // Replica A proved it itself; once its trust in what it knows runs out, it asks the store.
    s.advance(LOCAL_TRUST_MS);
    expect(await a.has('tok-1')).toBe(false);
    // And stays so until Nextech accepts the token again.
    s.advance(LOCAL_TRUST_MS);
    expect(await a.has('tok-1')).toBe(false);
    a.prove('tok-1');
    expect(await b.has('tok-1')).toBe(true);
    const before = s.writes.length;
    a.forget('invented');
    expect(s.writes).toHaveLength(before);
  });

  it('keeps what a replica knows while the store holds nothing of it or cannot answer', async () => {
    let failing = false;
    const s = setup();
    const flaky = { get: (k: string) => (failing ? Promise.reject(new Error('down')) : s.store.get(k)), set: (k: string, v: string, t: number) => s.store.set(k, v, t) };
    const a = new ProvenTokens({ store: flaky, keyring: KEY, now: s.now });
    a.prove('tok-1');
    failing = true;
    s.advance(LOCAL_TRUST_MS);
    expect(await a.has('tok-1')).toBe(true);
    // Never known here, nor answerable by the store: unproven.
    expect(await a.has('tok-2')).toBe(false);
  });

  it('leaves a token unproven when the store cannot answer', async () => {
    const failing = { get: () => Promise.reject(new Error('down')), set: () => Promise.reject(new Error('down')) };
    const s = setup();
    s.replica().prove('tok-1');
    const cut = new ProvenTokens({ store: failing, keyring: KEY, now: s.now });
    expect(await cut.has('tok-1')).toBe(false);
    // What it proved itself it still knows, and a failing write is no error.
    cut.prove('tok-2');
    expect(await cut.has('tok-2')).toBe(true);
  });

  it('remembers at most MAX_LOCAL tokens in the process, the least recently used going first', async () => {
    const alone = new ProvenTokens({ keyring: KEY });
    for (let i = 0; i <= MAX_LOCAL; i++) alone.prove(`t${i}`);
    expect(alone.size).toBe(MAX_LOCAL);
    expect(await alone.has('t0')).toBe(false);
    expect(await alone.has(`t${MAX_LOCAL}`)).toBe(true);
  });
});
