// The simple-values codec: what it takes decodes equal (as msgpack would
// carry it), it hands everything else to msgpackr, and malformed bytes fail
// with MalformedValue, never another error or a huge allocation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { decodeSimple, encodeSimple, MalformedValue } from '../src/simple-values.js';
import { fuzzDecoder } from './helpers/fuzz.js';
import { containersIn, nestingOf, objectsIn, simpleValue, withoutNegativeZero } from './helpers/values.js';

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
  it('a simple value decodes equal, -0 as 0 as msgpack has it; one with more than 16 objects, more than 32 arrays and objects, or nested more than 8 deep, goes to msgpackr (property)', () => {
    let many = 0;
    fc.assert(
      fc.property(simpleValue, (v) => {
        if (objectsIn(v) <= 16 && containersIn(v) <= 32 && nestingOf(v) <= 8) assert.deepStrictEqual(roundTrip(v), withoutNegativeZero(v));
        else {
          many++;
          assert.equal(encodeSimple(v), undefined);
        }
      }),
      { numRuns: 1000 },
    );
    assert.ok(many < 1000, 'most values generated are simple');
    const nested = (d: number): unknown => (d === 0 ? 1 : [nested(d - 1)]);
    assert.deepStrictEqual(roundTrip(nested(8)), nested(8), 'arrays 8 deep are simple');
    assert.equal(encodeSimple(nested(9)), undefined, '9 deep go to msgpackr');
    // The counterexample fast-check found (seed -651927170): 15 objects, 8 deep, but 34 arrays and objects.
    const wide = (n: number): unknown[][] => Array.from({ length: n - 1 }, () => []); // n arrays, the outer one included
    assert.equal(encodeSimple(wide(33)), undefined, '33 arrays go to msgpackr');
    assert.deepStrictEqual(roundTrip(wide(32)), wide(32), '32 arrays are simple');
  });

  it('a plain object arrives as a new plain object with its own enumerable string keys, in order', () => {
    const inherited = Object.create({ hidden: 1 }) as Record<string, unknown>;
    assert.equal(encodeSimple(inherited), undefined, 'another prototype: msgpackr');
    const o: Record<string | symbol, unknown> = { b: 1, a: 'x', 2: true, 1: null, nested: { u: undefined, bytes: new Uint8Array([7]) }, é: [1, { z: 2 }] };
    Object.defineProperty(o, 'secret', { value: 1, enumerable: false });
    o[Symbol('s')] = 1;
    const got = roundTrip(o) as Record<string, unknown>;
    assert.deepStrictEqual(got, { b: 1, a: 'x', 2: true, 1: null, nested: { u: undefined, bytes: new Uint8Array([7]) }, é: [1, { z: 2 }] });
    assert.deepStrictEqual(Object.keys(got), ['1', '2', 'b', 'a', 'nested', 'é']);
    assert.equal(Object.getPrototypeOf(got), Object.prototype);
    assert.ok('u' in (got.nested as object), 'a property holding undefined is kept');
    // An enumerable property inherited from a polluted Object.prototype is not the object's own: msgpackr skips it too.
    Object.defineProperty(Object.prototype, 'polluted', { value: 1, enumerable: true, configurable: true });
    try {
      assert.deepStrictEqual(Object.keys(roundTrip({ a: 1 }) as object), ['a']);
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
    const frozen = roundTrip(Object.freeze({ a: 1 }));
    assert.ok(!Object.isFrozen(frozen), 'a copy, as msgpackr makes it');
  });

  it('an object met twice, a cycle, a __proto__ key or a 17th object sends the whole value to msgpackr, which keeps it as it is', () => {
    const shared = { a: 1 };
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const withProto = JSON.parse('{"__proto__": 1, "a": 2}') as unknown;
    for (const v of [[shared, shared], { x: shared, y: [shared] }, cyclic, withProto, [1, withProto], Array.from({ length: 17 }, (_, i) => ({ i }))]) {
      assert.equal(encodeSimple(v), undefined);
    }
    assert.ok(encodeSimple(Array.from({ length: 16 }, (_, i) => ({ i }))) !== undefined, 'sixteen objects are simple');
    assert.deepStrictEqual(roundTrip([{ a: 1 }, { a: 1 }]), [{ a: 1 }, { a: 1 }], 'equal objects that are not one are simple');
    // The encoder forgot the objects of the value that gave up: the next value is simple.
    assert.deepStrictEqual(roundTrip({ again: shared }), { again: { a: 1 } });
  });

  it('a getter of an object is read once, as msgpackr reads it; one that throws fails the encode with its error', () => {
    let reads = 0;
    const o = {
      get v() {
        reads++;
        return 5;
      },
    };
    assert.deepStrictEqual(roundTrip(o), { v: 5 });
    assert.equal(reads, 1);
    const bad = {
      get v(): number {
        throw new Error('no v');
      },
    };
    assert.throws(() => encodeSimple(bad), /no v/);
    assert.deepStrictEqual(roundTrip({ after: 1 }), { after: 1 });
  });

  it('keys read again are the same strings, and a colliding or new key is never mistaken for a cached one', () => {
    // Many distinct keys of the same length collide in the cache's slots; each must still read as itself.
    const keys = Array.from({ length: 3000 }, (_, i) => `k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 10) {
      const o = Object.fromEntries(keys.slice(i, i + 10).map((k, j) => [k, j]));
      assert.deepStrictEqual(roundTrip([o, o.k00000 ?? 0]), [o, o.k00000 ?? 0]);
    }
    const long = 'x'.repeat(40);
    assert.deepStrictEqual(roundTrip({ [long]: 1, [`${long}y`]: 2 }), { [long]: 1, [`${long}y`]: 2 });
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

  it('carries ASCII strings of every length to past the short-string bound, and with a non-ASCII char at every place', () => {
    for (let n = 0; n <= 70; n++) {
      const ascii = Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 7) % 95))).join('');
      assert.equal(roundTrip(ascii), ascii, `ASCII, ${n} chars`);
      assert.deepStrictEqual(roundTrip({ [`k${n}`]: ascii }), { [`k${n}`]: ascii }, `ASCII value of an object, ${n} chars`);
      for (let at = 0; at < n; at++) {
        const mixed = `${ascii.slice(0, at)}${at % 2 === 0 ? 'é' : '\u007f\u0080'}${ascii.slice(at + 1)}`;
        assert.equal(roundTrip(mixed), mixed, `non-ASCII at ${at} of ${n} chars`);
      }
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

  it('hands everything else to msgpackr: objects of other prototypes, Maps, Dates, BigInt, other typed arrays, Buffers, cycles, deep nesting, symbols, functions', () => {
    const cyclic: unknown[] = [1];
    cyclic.push(cyclic);
    let deep: unknown = 1;
    for (let i = 0; i < 9; i++) deep = [deep];
    class MyArray extends Array {}
    class Point {
      x = 1;
    }
    for (const v of [Object.create(null), new Point(), new Map(), new Set(), new Date(0), 1n, new Int32Array(2), Buffer.from('ab'), cyclic, deep, [1, { a: new Map() }], { f: () => 1 }, Symbol('s'), () => 1, MyArray.from([1])]) {
      assert.equal(encodeSimple(v), undefined, `not simple: ${typeof v === 'object' && v !== null ? (Object.getPrototypeOf(v) as { constructor?: { name: string } } | null)?.constructor?.name ?? 'null prototype' : typeof v}`);
    }
    assert.ok(encodeSimple([[[[[[[[1]]]]]]]]) !== undefined, 'eight levels of arrays are simple');
  });

  it('an array met twice, in a cycle, or the 33rd array or object sends the whole value to msgpackr; a byte array met twice arrives as equal copies', () => {
    const a = [1, 2];
    const cyclic: unknown[] = [1];
    cyclic.push(cyclic);
    const many = Array.from({ length: 31 }, (_, i) => [i]); // 32 arrays with the outer one
    for (const v of [[a, a], { x: a, y: { z: a } }, cyclic, [cyclic], [...many.slice(1), many[3]], [...many.slice(1), many[30]], [...many, [32]]]) {
      assert.equal(encodeSimple(v), undefined);
    }
    assert.deepStrictEqual(roundTrip(many), many, 'thirty-two arrays, none twice, are simple');
    assert.deepStrictEqual(roundTrip([[1, 2], [1, 2]]), [[1, 2], [1, 2]], 'equal arrays that are not one are simple');
    assert.deepStrictEqual(roundTrip({ again: a }), { again: [1, 2] }, 'the encoder forgot what the last value met');
    const u = new Uint8Array([1]);
    const [x, y] = roundTrip([u, u]) as [Uint8Array, Uint8Array];
    assert.deepStrictEqual([x, y], [u, u]);
    assert.ok(x !== y, 'copies, not shared');
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
    assert.throws(() => decodeSimple(new Uint8Array([10])), /unknown tag/);
    // An object announcing 2^32 - 1 properties, a key that is not a string, a __proto__ key, objects nested too deep.
    assert.throws(() => decodeSimple(new Uint8Array([9, 0xff, 0xff, 0xff, 0xff, 0])), MalformedValue);
    assert.throws(() => decodeSimple(new Uint8Array([9, 1, 0, 0, 0, 4, 1, 0, 0, 0, 0])), /not a string/);
    const proto = encodeSimple({ __proto_x: 1 })!.slice();
    proto[proto.indexOf(0x78)] = 0x5f; // __proto_x -> __proto__
    assert.throws(() => decodeSimple(proto), /__proto__/);
    let nested: unknown = 1;
    for (let i = 0; i < 8; i++) nested = { n: nested };
    assert.ok(encodeSimple(nested) !== undefined, 'eight levels of objects are simple');
    assert.equal(encodeSimple({ n: nested }), undefined, 'nine go to msgpackr');
    const level = [9, 1, 0, 0, 0, 6, 1, 0, 0, 0, 0x6e]; // an object of one property, n
    const levels = (k: number): Uint8Array => new Uint8Array([...Array.from({ length: k }, () => level).flat(), 4, 1, 0, 0, 0]);
    assert.deepStrictEqual(decodeSimple(levels(8)), nested);
    assert.throws(() => decodeSimple(levels(9)), /too deep/);
  });

  it('a nest of arrays whose counts each claim all the bytes left fails in bounded memory', async () => {
    // 1 MiB: eight arrays, each announcing as many items as bytes follow it,
    // then bytes of no tag. Allocating every announced item up front took
    // eight arrays of a million slots (64 MB) before the first item failed;
    // a worker with a 24 MB heap ran out of memory on that.
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.url).then(({ decodeSimple }) => {
        const size = 1 << 20;
        const b = new Uint8Array(size).fill(0xff);
        for (let d = 0, p = 0; d < 8; d++, p += 5) new DataView(b.buffer).setUint32(p + 1, size - p - 5, true), (b[p] = 8);
        try { decodeSimple(b); parentPort.postMessage('decoded'); } catch (e) { parentPort.postMessage(e.name + ': ' + e.message); }
      });`;
    const worker = new Worker(code, { eval: true, workerData: { url: new URL('../src/simple-values.js', import.meta.url).href }, resourceLimits: { maxOldGenerationSizeMb: 24, maxYoungGenerationSizeMb: 4 } });
    const outcome = await new Promise<string>((resolve) => {
      worker.once('message', (m: string) => resolve(m));
      worker.once('error', (e: Error & { code?: string }) => resolve(`worker error ${e.code ?? e.message}`));
    });
    await worker.terminate();
    assert.equal(outcome, 'MalformedValue: unknown tag 255 at byte 40');
  });

  it('an array longer than those allocated up front decodes equal', () => {
    for (const n of [1023, 1024, 1025, 5000]) {
      const a = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? i : i % 3 === 1 ? new Uint8Array([i & 0xff]) : 'x'));
      assert.deepStrictEqual(roundTrip(a), a);
    }
  });
});
