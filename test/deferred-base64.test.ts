/**
 * The streamed base64 of a response's large values (src/fhir/deferred-base64.ts): joined, its
 * pieces are exactly the base64 of the text's UTF-8 bytes, whatever the piece size and however
 * the text's characters fall across pieces; a streamed response is byte for byte the JSON
 * written with the values in place; and no piece holds more than one piece's worth of a value.
 */
import { describe, expect, it } from 'vitest';
import { base64Pieces, DeferredBase64, utf8Pieces } from '../src/fhir/deferred-base64.ts';

const whole = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const joined = (pieces: Iterable<Uint8Array>) => Buffer.concat([...pieces]).toString('latin1');

const TEXTS: readonly [string, string][] = [
  ['empty', ''],
  ['one byte', 'a'],
  ['two bytes', 'ab'],
  ['ASCII HTML', '<html><body><p>Summary of episode</p></body></html>'.repeat(37)],
  ['two-byte characters', 'é ü ß Ω '.repeat(101)],
  ['three-byte characters', '漢字かな—'.repeat(53)],
  ['surrogate pairs', 'a😀b𝄞c🏥'.repeat(67)],
  ['pairs back to back', '😀'.repeat(129)],
  ['lone surrogates', `x\ud800y\udc00z\ud83d`],
  ['a lone high surrogate before a pair', '\ud800😀\ud800'.repeat(9)],
];

describe('base64Pieces', () => {
  for (const [name, text] of TEXTS) {
    it(`joins to the base64 of the UTF-8 bytes: ${name}, at every piece size from 1 to 9 characters and the default`, () => {
      for (const size of [1, 2, 3, 4, 5, 6, 7, 8, 9]) {
        expect(joined(base64Pieces(text, size)), `piece size ${size}`).toBe(whole(text));
        // The same pieces of UTF-8 are what a CCD's hash is taken over.
        expect(Buffer.concat([...utf8Pieces(text, size)]).equals(Buffer.from(text, 'utf8')), `UTF-8, piece size ${size}`).toBe(true);
      }
      expect(joined(base64Pieces(text))).toBe(whole(text));
    });
  }

  it('writes a 3 MB text in pieces of at most 64 KiB, each a whole number of base64 groups but the last', () => {
    const text = `<td>résumé 😀</td>`.repeat(200_000);
    const pieces = [...base64Pieces(text)];
    expect(pieces.length).toBeGreaterThan(40);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThanOrEqual(64 * 1024);
    for (const p of pieces.slice(0, -1)) expect(p.length % 4).toBe(0);
    expect(joined(pieces)).toBe(whole(text));
  });
});

async function read(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('DeferredBase64.stream', () => {
  const documents = ['<p>first</p>'.repeat(30_000), 'second — ünïcödé 😀'.repeat(20_000), 'x'];

  for (const indent of [undefined, 2]) {
    it(`writes exactly the JSON with the values in place${indent ? ', pretty-printed' : ''}`, async () => {
      const deferred = new DeferredBase64();
      const bundle = (data: (t: string) => string) => ({
        resourceType: 'Bundle',
        entry: documents.map((t, i) => ({ resource: { id: `d${i}`, content: [{ attachment: { data: data(t), title: `"quoted" ${i}` } }] } })),
      });
      const expected = JSON.stringify(bundle(whole), null, indent);
      const json = JSON.stringify(bundle((t) => deferred.marker(t)), null, indent);
      expect(deferred.used).toBe(true);
      expect(json.length).toBeLessThan(2000);
      const chunks = await read(deferred.stream(json));
      expect(Buffer.concat(chunks).toString('utf8')).toBe(expected);
      // No chunk is a whole document's base64: the response is never held whole.
      expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(64 * 1024);
    });
  }

  it('encodes only as it is read: a reader that stops early leaves the rest unencoded', async () => {
    const deferred = new DeferredBase64();
    const text = 'y'.repeat(3 * 1024 * 1024);
    const json = JSON.stringify({ a: 'head', data: deferred.marker(text), z: 'tail' });
    const reader = deferred.stream(json).getReader();
    let bytes = 0;
    for (let i = 0; i < 3; i++) bytes += (await reader.read()).value?.length ?? 0;
    await reader.cancel();
    // The head and two pieces of 64 KiB of the 4 MB of base64.
    expect(bytes).toBeLessThanOrEqual(json.indexOf('"', json.indexOf('data') + 6) + 1 + 2 * 64 * 1024);
  });

  it('leaves a JSON without markers as it is, and a marker of another response untouched', async () => {
    const other = new DeferredBase64();
    const deferred = new DeferredBase64();
    const json = JSON.stringify({ a: other.marker('zzz') });
    expect(deferred.used).toBe(false);
    expect(Buffer.concat(await read(deferred.stream(json))).toString('utf8')).toBe(json);
  });
});
