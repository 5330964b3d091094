// The small pieces under the runtime: the deque and fleet selection, against models.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pickByKey, RoundRobin } from '../src/names/select.js';
import type { Capability, Ref } from '../src/runtime/ref.js';
import { capEquals } from '../src/runtime/ref.js';
import { Deque } from '../src/util/deque.js';

const ref = (isolate: number, mailbox = 1): Ref => ({ address: { node: 'n', isolate, mailbox }, cap: 'c' as Capability });

describe('Deque', () => {
  it('behaves as an array queue under any mix of operations (model-based)', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('push' as const), v: fc.integer() }),
      fc.record({ k: fc.constant('shift' as const) }),
      fc.record({ k: fc.constant('remove' as const), v: fc.integer({ min: 0, max: 20 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const d = new Deque<number>();
        const model: number[] = [];
        for (const o of ops) {
          if (o.k === 'push') {
            d.push(o.v);
            model.push(o.v);
          } else if (o.k === 'shift') {
            assert.equal(d.shift(), model.shift());
          } else {
            const i = model.indexOf(o.v);
            assert.equal(d.remove(o.v), i >= 0);
            if (i >= 0) model.splice(i, 1);
          }
          assert.equal(d.size, model.length);
          assert.equal(d.peek(), model[0]);
        }
        assert.deepStrictEqual(d.drain(), model);
        assert.equal(d.size, 0);
      }),
    );
  });
});

describe('fleet selection', () => {
  it('round robin visits every member once per turn', () => {
    const members = [ref(1), ref(2), ref(3)];
    const rr = new RoundRobin(0);
    const seen = Array.from({ length: 9 }, () => rr.pick(members)!.address.isolate);
    assert.deepStrictEqual(seen, [1, 2, 3, 1, 2, 3, 1, 2, 3]);
    assert.equal(rr.pick([]), undefined);
    const fromSecond = new RoundRobin(4);
    assert.deepStrictEqual(Array.from({ length: 4 }, () => fromSecond.pick(members)!.address.isolate), [2, 3, 1, 2]);
  });

  it('round robin: new cursors start at random members, so one-call callers spread over the fleet', () => {
    const members = [ref(1), ref(2), ref(3)];
    const first = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const m = new RoundRobin().pick(members)!.address.isolate;
      first.set(m, (first.get(m) ?? 0) + 1);
    }
    // Each member is first about 100 times; below 50 has a chance under 1e-8.
    assert.deepStrictEqual([...first.keys()].sort(), [1, 2, 3]);
    for (const [m, n] of first) assert.ok(n >= 50, `member ${m} came first ${n} times of 300`);
  });

  it('by key: the same key picks the same member whatever the member order', () => {
    fc.assert(
      fc.property(fc.string(), fc.shuffledSubarray([1, 2, 3, 4, 5, 6], { minLength: 1 }), (key, isolates) => {
        const members = isolates.map((i) => ref(i));
        const a = pickByKey(members, key);
        const b = pickByKey([...members].reverse(), key);
        assert.deepStrictEqual(a, b);
      }),
    );
  });

  it('by key: removing a member moves only the keys it held (rendezvous hashing)', () => {
    const members = [1, 2, 3, 4, 5].map((i) => ref(i));
    const without3 = members.filter((m) => m.address.isolate !== 3);
    let moved = 0;
    for (let k = 0; k < 2000; k++) {
      const before = pickByKey(members, `key-${k}`)!.address.isolate;
      const after = pickByKey(without3, `key-${k}`)!.address.isolate;
      if (before !== 3) assert.equal(after, before, `key-${k} moved though its member stayed`);
      else moved++;
    }
    // Each of 5 members holds about a fifth of the keys.
    assert.ok(moved > 2000 / 5 / 2 && moved < (2000 / 5) * 2, `member 3 held ${moved} of 2000 keys`);
  });

  it('by key: numbers and strings are distinct keys', () => {
    const members = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => ref(i));
    let differ = 0;
    for (let k = 0; k < 100; k++) if (pickByKey(members, k) !== pickByKey(members, String(k))) differ++;
    assert.ok(differ > 0);
  });
});

describe('capEquals', () => {
  it('is true exactly for equal strings', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        assert.equal(capEquals(a, b), a === b);
        assert.equal(capEquals(a, a), true);
      }),
    );
    assert.equal(capEquals('abc', undefined), false);
    assert.equal(capEquals('abc', 123), false);
  });
});
