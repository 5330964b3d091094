// The simple-values codec: what it takes decodes equal (as msgpack would
// carry it), it hands everything else to msgpackr, and malformed bytes fail
// with MalformedValue, never another error or a huge allocation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeSimple, encodeSimple, MalformedValue } from '../src/simple-values.js';
import { fuzzDecoder } from './helpers/fuzz.js';
import { simpleValue, withoutNegativeZero } from './helpers/values.js';

/** Encodes `v` and decodes it from a view of shared memory that is overwritten afterwards. */
function roundTrip(v: unknown): unknown {
  const enc = encodeSimple(v);
  assert.ok(enc !== undefined, 'a simple value is encoded');
  const sab = new Uint8Array(new SharedArrayBuffer(enc.length + 8), 4, enc.length);
  sab.set(enc);
  const out = decodeSimple(sab);
  sab.fill(0xee); // nothing decoded may alias the source
  return out;
}

describe('simple values', () => {
  it('a simple value decodes equal, -0 as 0 as msgpack has it (property)', () => {
    fc.assert(
      fc.property(simpleValue, (v) => assert.deepStrictEqual(roundTrip(v), withoutNegativeZero(v))),
      { numRuns: 1000 },
    );
  });

  it('keeps NaN, ±Infinity, integers beyond 32 bits and fractions exactly', () => {
    const v = [NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 0.1, -1.5e-300, 5e-324];
    assert.deepStrictEqual(roundTrip(v), v);
  });

  it('carries strings of every length and script, long ones included', () => {
    for (const s of ['', 'a', 'é', '日本語', '😀', '\uFEFFabc', '\uFEFFé', 'x'.repeat(64), 'x'.repeat(65), 'é'.repeat(1000), 'a'.repeat(20_000)]) {
      assert.equal(roundTrip(s), s);
    }
  });

  it('a decoded byte array owns exactly its bytes, also when decoded from a Buffer', () => {
    const enc = encodeSimple([new Uint8Array([1, 2, 3]), new Uint8Array(0)])!;
    const chunk = Buffer.alloc(enc.length + 100);
    chunk.set(enc, 50);
    const [a, b] = decodeSimple(chunk.subarray(50, 50 + enc.length)) as Uint8Array[];
    chunk.fill(0);
    assert.deepStrictEqual(a, new Uint8Array([1, 2, 3]));
    assert.equal(a!.constructor, Uint8Array);
    assert.equal(a!.buffer.byteLength, 3);
    assert.equal(b!.length, 0);
  });

  it('hands everything else to msgpackr: objects, Maps, Dates, BigInt, other typed arrays, Buffers, cycles, deep nesting, symbols, functions', () => {
    const cyclic: unknown[] = [1];
    cyclic.push(cyclic);
    let deep: unknown = 1;
    for (let i = 0; i < 9; i++) deep = [deep];
    class MyArray extends Array {}
    for (const v of [{}, { a: 1 }, new Map(), new Set(), new Date(0), 1n, new Int32Array(2), Buffer.from('ab'), cyclic, deep, [1, { a: 1 }], Symbol('s'), () => 1, MyArray.from([1])]) {
      assert.equal(encodeSimple(v), undefined, `not simple: ${String(typeof v === 'symbol' ? 'symbol' : v)}`);
    }
    assert.ok(encodeSimple([[[[[[[[1]]]]]]]]) !== undefined, 'eight levels of arrays are simple');
  });

  it('an array or byte array met twice arrives as equal copies', () => {
    const u = new Uint8Array([1]);
    const a = [1, 2];
    const [x, y, p, q] = roundTrip([u, u, a, a]) as [Uint8Array, Uint8Array, number[], number[]];
    assert.deepStrictEqual([x, y, p, q], [u, u, a, a]);
    assert.ok(x !== y && p !== q, 'copies, not shared');
    const shared = new Uint8Array(new SharedArrayBuffer(4)).fill(3);
    const part = new Uint8Array(new ArrayBuffer(8), 2, 4).fill(5);
    const [s2, p2] = roundTrip([shared, part]) as [Uint8Array, Uint8Array];
    assert.ok(s2.buffer instanceof ArrayBuffer && p2.byteOffset === 0 && p2.buffer.byteLength === 4, 'views of shared or larger buffers arrive as plain byte arrays, as msgpackr makes them');
    assert.deepStrictEqual([[...s2], [...p2]], [[3, 3, 3, 3], [5, 5, 5, 5]]);
  });

  it('a getter of the value may encode again: the inner encode gives up, the outer is intact', () => {
    let inner: Uint8Array | undefined | 'not called' = 'not called';
    const tricky = [1, 2];
    Object.defineProperty(tricky, 1, { get: () => ((inner = encodeSimple('inner')), 2), enumerable: true });
    const enc = encodeSimple(tricky);
    assert.equal(inner, undefined);
    assert.deepStrictEqual(decodeSimple(enc!), [1, 2]);
  });

  it('a value larger than its scratch buffer goes to msgpackr, and the next value encodes as usual', () => {
    assert.equal(encodeSimple(new Uint8Array(64 * 1024)), undefined);
    assert.equal(encodeSimple('x'.repeat(70_000)), undefined);
    assert.deepStrictEqual(roundTrip([1, 'a']), [1, 'a']);
  });

  it('malformed bytes fail with MalformedValue, and never allocate for a count they do not hold (fuzz)', () => {
    fuzzDecoder(decodeSimple, (e) => e instanceof MalformedValue, 5000);
    // An array or byte string announcing 4 GiB in a 5-byte input.
    for (const tag of [6, 7, 8]) assert.throws(() => decodeSimple(new Uint8Array([tag, 0xff, 0xff, 0xff, 0xff])), MalformedValue);
    assert.throws(() => decodeSimple(new Uint8Array([3, 3])), /after the value/);
    assert.throws(() => decodeSimple(new Uint8Array([])), MalformedValue);
    assert.throws(() => decodeSimple(new Uint8Array([9])), /unknown tag/);
  });
});
