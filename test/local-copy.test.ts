// The copy a message gets within one isolate: whatever the value, exactly
// what structuredClone gives, shared parts, -0, holes and failures included.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { copyLocal } from '../src/runtime/local-copy.js';
import { simpleValue, value } from './helpers/values.js';

/** What structuredClone does with `v`: its copy, or the name of the error it throws. */
function cloneOutcome(f: (v: unknown) => unknown, v: unknown): { copy: unknown } | { error: string } {
  try {
    return { copy: f(v) };
  } catch (e) {
    return { error: (e as Error).name };
  }
}

/** Which objects (and buffers) of `v` are one: for each met, in a walk, the index of its first meeting. */
function sharing(v: unknown): number[] {
  const seen: unknown[] = [];
  const out: number[] = [];
  const walk = (x: unknown): void => {
    if (typeof x !== 'object' || x === null) return;
    const i = seen.indexOf(x);
    out.push(i >= 0 ? i : seen.length);
    if (i >= 0) return;
    seen.push(x);
    if (ArrayBuffer.isView(x)) walk(x.buffer);
    else if (Array.isArray(x)) x.forEach(walk);
  };
  walk(v);
  return out;
}

function sameAsClone(v: unknown): void {
  const mine = cloneOutcome(copyLocal, v);
  const clone = cloneOutcome(structuredClone, v);
  assert.deepStrictEqual(mine, clone);
  if ('copy' in mine && 'copy' in clone) assert.deepStrictEqual(sharing(mine.copy), sharing(clone.copy), 'the same parts are shared');
}

/** Arrays of items drawn from a few objects, some of them on one buffer: values whose parts are shared. */
const sharedParts = fc.array(fc.nat(5), { maxLength: 8 }).map((picks) => {
  const buf = new ArrayBuffer(3);
  const inner = [1, 'a'];
  const pool: unknown[] = [new Uint8Array([1, 2]), new Uint8Array(buf), new Uint8Array(buf), inner, [inner, -0], buf];
  return picks.map((i) => pool[i]);
});

describe('local copy', () => {
  it('gives what structuredClone gives, for any value (property)', () => {
    fc.assert(fc.property(fc.oneof(value, simpleValue, sharedParts, fc.array(fc.uint8Array({ minLength: 1, maxLength: 70 }), { maxLength: 5 })), sameAsClone), { numRuns: 2000 });
  });

  it('copies: changing the original afterwards leaves the copy as it was', () => {
    const u = new Uint8Array([1, 2, 3]);
    const big = new Uint8Array(1000).fill(7);
    const a = [u, big, [1, 'x']];
    const c = copyLocal(a) as [Uint8Array, Uint8Array, unknown[]];
    u[0] = 9;
    big[0] = 9;
    (a[2] as unknown[])[0] = 2;
    assert.deepStrictEqual([c[0][0], c[1][0], c[2][0]], [1, 7, 1]);
    assert.ok(c[0].buffer !== u.buffer && c[0].byteLength === c[0].buffer.byteLength, 'a byte array of its own');
  });

  it('keeps what a clone shares: an item met twice, a cycle, two views of one buffer; and -0', () => {
    const u = new Uint8Array([1]);
    const inner = [1];
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    const buf = new ArrayBuffer(2);
    const [a, b, x, y, cyc, v1, v2, zero] = copyLocal([u, u, inner, inner, cyclic, new Uint8Array(buf), new Uint8Array(buf), -0]) as [Uint8Array, Uint8Array, unknown[], unknown[], unknown[], Uint8Array, Uint8Array, number];
    assert.equal(a, b);
    assert.equal(x, y);
    assert.equal(cyc[0], cyc);
    assert.ok(v1 !== v2 && v1.buffer === v2.buffer, 'two views, one buffer');
    assert.ok(Object.is(zero, -0));
  });

  it('leaves to structuredClone what it alone carries right: holes, extra properties, views, shared and resizable buffers, Buffers', () => {
    const holey = [1, , 3];
    const withProp = Object.assign([1, 2], { x: 1 });
    const part = new Uint8Array(new ArrayBuffer(8), 2, 4);
    const shared = new Uint8Array(new SharedArrayBuffer(4));
    const growable = new Uint8Array(new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(4, { maxByteLength: 16 }));
    // Not a Uint8Array but for its prototype; and a partial view that claims, on itself, to be whole.
    const impostor = Object.create(Uint8Array.prototype) as Uint8Array;
    const liar = Object.defineProperties(new Uint8Array(new ArrayBuffer(8), 2, 4), { byteOffset: { value: 0 }, buffer: { value: new ArrayBuffer(4) } });
    for (const v of [holey, withProp, part, shared, growable, Buffer.from([1, 2]), [new Map([[1, 2]])], { a: [1] }, impostor, [impostor], liar, [liar], new Array(1000).fill(1)]) sameAsClone(v);
    const [h, p, s, g] = [copyLocal(holey), copyLocal(withProp), copyLocal([shared]), copyLocal(growable)] as [unknown[], { x: number }, Uint8Array[], Uint8Array];
    assert.ok(!(1 in h), 'a hole stays a hole');
    assert.equal(p.x, 1);
    s[0]![0] = 5;
    assert.equal(shared[0], 5, 'shared memory stays shared');
    assert.equal((g.buffer as { resizable?: boolean }).resizable, true);
  });

  it('fails as structuredClone fails: a symbol, a function, a proxy, a detached buffer', () => {
    const detached = new Uint8Array(4);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    const values = [Symbol('s'), [Symbol('s')], () => 1, [() => 1], new Proxy([1], {}), [new Proxy([1], {})], detached, [detached]];
    for (const [i, v] of values.entries()) {
      const outcome = cloneOutcome(copyLocal, v);
      assert.ok('error' in outcome, `value ${i} cannot be copied`);
      assert.deepStrictEqual(outcome, cloneOutcome(structuredClone, v));
    }
  });

  it('more objects or more depth than it takes on: as a clone', () => {
    const many = Array.from({ length: 100 }, (_, i) => [i]);
    let deep: unknown = [0];
    for (let i = 0; i < 40; i++) deep = [deep];
    sameAsClone(many);
    sameAsClone(deep);
  });

  it('a getter that copies while it copies: both copies whole, shared parts kept', () => {
    let inner: unknown;
    const u = new Uint8Array([1]);
    const tricky: unknown[] = [u, 2, u];
    Object.defineProperty(tricky, 1, { get: () => ((inner = copyLocal([new Uint8Array([3])])), 2), enumerable: true });
    const c = copyLocal(tricky) as [Uint8Array, number, Uint8Array];
    assert.deepStrictEqual(c, [u, 2, u]);
    assert.equal(c[0], c[2], 'the outer copy kept its record of what it met');
    assert.deepStrictEqual(inner, [new Uint8Array([3])]);
  });

  it('a getter that shortens its array: holes, as the clone has them', () => {
    const a = [0, 2, 3];
    Object.defineProperty(a, 0, { get: () => ((a.length = 1), 'g'), enumerable: true, configurable: true });
    const b = [0, 2, 3];
    Object.defineProperty(b, 0, { get: () => ((b.length = 1), 'g'), enumerable: true, configurable: true });
    const [c, clone] = [copyLocal(a) as unknown[], structuredClone(b)];
    assert.deepStrictEqual(c, clone);
    assert.equal(c.length, 3);
    assert.ok(!(1 in c) && !(2 in c), 'the items that went are holes');
  });

  it('copies the common shapes itself, without structuredClone', () => {
    const real = globalThis.structuredClone;
    let clones = 0;
    globalThis.structuredClone = ((v: unknown, o?: Parameters<typeof structuredClone>[1]) => (clones++, real(v, o))) as typeof structuredClone;
    try {
      const buf = new ArrayBuffer(2);
      for (const v of [1, 'a', [new Uint8Array(8)], [1, 'a', null, [2, [3]]], [new Uint8Array(buf), new Uint8Array(buf), buf], new Uint8Array(300)]) copyLocal(v);
    } finally {
      globalThis.structuredClone = real;
    }
    assert.equal(clones, 0);
  });
});
