// Values arrive equal whichever transport carries them: nested objects,
// arrays, Map, Set, Date, BigInt, typed arrays, Uint8Array payloads,
// undefined inside arrays. Property-based, with fast-check.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { boot, send as sendFrom, type Ref, type SendOptions } from '../src/index.js';
import { places } from './helpers/places.js';
import { value, withoutNegativeZero } from './helpers/values.js';

const node = await boot({ listen: '127.0.0.1:0' });
after(() => node.shutdown());

for (const place of await places(node)) {
  describe(`values over ${place.transport}`, () => {
    const send = (ref: Ref, data: unknown, o: SendOptions = {}): Promise<void> => sendFrom(ref, data, { ...place.opts, ...o });
    it('arrive equal (property)', async () => {
      const box = await place.box({ capacity: 4 });
      await fc.assert(
        fc.asyncProperty(value, async (v) => {
          await send(box.ref, v);
          const [got] = await box.take(1);
          // msgpack (shm, tcp) has no -0; on 'auto' either transport may have carried it.
          if (place.transport === 'auto') assert.deepStrictEqual(withoutNegativeZero(got), withoutNegativeZero(v));
          else assert.deepStrictEqual(got, place.transport === 'shm' || place.transport === 'tcp' ? withoutNegativeZero(v) : v);
        }),
        { numRuns: 150 },
      );
      await box.close();
    });

    it('keep undefined holes, NaN and 2^64 bigints; -0 as the transport documents', async () => {
      const box = await place.box();
      const v = { a: [1, undefined, 3], z: -0, n: NaN, big: 2n ** 64n + 1n, nested: { m: new Map([[1, new Set([undefined])]]) } };
      await send(box.ref, v);
      // msgpack (shm, tcp) has no negative zero: -0 arrives as 0 there, as the README says.
      const [got] = await box.take(1);
      if (place.transport === 'auto') assert.deepStrictEqual(withoutNegativeZero(got), { ...v, z: 0 });
      else assert.deepStrictEqual(got, place.transport === 'shm' || place.transport === 'tcp' ? { ...v, z: 0 } : v);
      await box.close();
    });

    it('keep an array or object a value holds twice shared, and a cycle a cycle', async () => {
      const box = await place.box();
      const arr = [1, 2];
      const obj = { k: 1 };
      const cycle: Record<string, unknown> = { n: 1 };
      cycle.self = cycle;
      await send(box.ref, { a: arr, b: arr });
      await send(box.ref, { o: obj, p: [obj] });
      await send(box.ref, [cycle]);
      const [arrays, objects, [c]] = (await box.take(3)) as [{ a: number[]; b: number[] }, { o: object; p: object[] }, Record<string, unknown>[]];
      assert.deepStrictEqual([arrays, objects], [{ a: arr, b: arr }, { o: obj, p: [obj] }]);
      assert.ok(arrays.a === arrays.b, 'the array is one');
      assert.ok(objects.o === objects.p[0], 'the object is one');
      assert.ok(c !== undefined && c.self === c, 'the cycle is kept');
      await box.close();
    });

    it('carry a 1 MiB Uint8Array byte for byte', async () => {
      const box = await place.box();
      const bytes = new Uint8Array(1 << 20);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
      await send(box.ref, bytes);
      const [got] = await box.take(1);
      assert.ok(got instanceof Uint8Array);
      assert.deepStrictEqual(got, bytes);
      await box.close();
    });
  });
}

describe('transferables', () => {
  for (const transport of ['kernel', 'shm', 'tcp'] as const) {
    it(`take an ArrayBuffer from the sender over ${transport}`, async () => {
      const remote = (await places(node, `/test/agent/transfer-${transport}`)).find((p) => p.transport === transport)!;
      const box = await remote.box();
      const bytes = new Uint8Array([1, 2, 3, 4]);
      await sendFrom(box.ref, bytes, { transfer: [bytes.buffer], transport });
      assert.equal(bytes.byteLength, 0, 'the sender no longer owns the buffer');
      assert.deepStrictEqual((await box.take(1))[0], new Uint8Array([1, 2, 3, 4]));
    });

    it(`transferred buffers arrive intact when their sends wait past the window, over ${transport}`, async () => {
      const remote = (await places(node, `/test/agent/transfer-window-${transport}`)).find((p) => p.transport === transport)!;
      const n = 1500; // more than the 1024 unacknowledged messages a mailbox takes at once: the rest wait to be posted
      const box = await remote.box({ capacity: n });
      const payloads = Array.from({ length: n }, (_, i) => Uint8Array.of(i & 0xff, i >> 8, 7, 9));
      const sends = payloads.map((p) => sendFrom(box.ref, p, { transfer: [p.buffer], transport }));
      // Taken at once, as postMessage takes them, also from the sends that wait to be posted.
      assert.ok(payloads.every((p) => p.byteLength === 0), 'the sender owns none of the buffers once send() returned');
      await Promise.all(sends);
      assert.deepStrictEqual(await box.take(n), Array.from({ length: n }, (_, i) => Uint8Array.of(i & 0xff, i >> 8, 7, 9)));
    });

    it(`reject an uncloneable value with EINVAL and deliver nothing, over ${transport}`, async () => {
      const remote = (await places(node, `/test/agent/uncloneable-${transport}`)).find((p) => p.transport === transport)!;
      const box = await remote.box();
      await assert.rejects(sendFrom(box.ref, { f: () => 1 }, { transport }), { code: 'EINVAL' });
      await sendFrom(box.ref, 'after', { transport });
      assert.deepStrictEqual(await box.drain(), ['after']);
    });
  }
});
