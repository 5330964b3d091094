// Values arrive equal whichever transport carries them: nested objects,
// arrays, Map, Set, Date, BigInt, typed arrays, Uint8Array payloads,
// undefined inside arrays. Property-based, with fast-check.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { boot, send } from '../src/index.js';
import { places } from './helpers/places.js';
import { value } from './helpers/values.js';

const node = await boot();
after(() => node.shutdown());

for (const place of await places(node)) {
  describe(`values over ${place.transport}`, () => {
    it('arrive equal (property)', async () => {
      const box = await place.box({ capacity: 4 });
      await fc.assert(
        fc.asyncProperty(value, async (v) => {
          await send(box.ref, v);
          const [got] = await box.take(1);
          assert.deepStrictEqual(got, v);
        }),
        { numRuns: 150 },
      );
      await box.close();
    });

    it('keep undefined holes, -0, NaN and 2^64 bigints', async () => {
      const box = await place.box();
      const v = { a: [1, undefined, 3], z: -0, n: NaN, big: 2n ** 64n + 1n, nested: { m: new Map([[1, new Set([undefined])]]) } };
      await send(box.ref, v);
      assert.deepStrictEqual((await box.take(1))[0], v);
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
  it('pass an ArrayBuffer through without copying it on kernel', async () => {
    const kernel = (await places(node, '/test/agent/transfer'))[1]!;
    const box = await kernel.box();
    const bytes = new Uint8Array([1, 2, 3, 4]);
    await send(box.ref, bytes, { transfer: [bytes.buffer] });
    assert.equal(bytes.byteLength, 0, 'the sender no longer owns the buffer');
    assert.deepStrictEqual((await box.take(1))[0], new Uint8Array([1, 2, 3, 4]));
  });

  it('reject an uncloneable value with EINVAL and deliver nothing', async () => {
    const kernel = (await places(node, '/test/agent/uncloneable'))[1]!;
    const box = await kernel.box();
    await assert.rejects(send(box.ref, { f: () => 1 }), { code: 'EINVAL' });
    await send(box.ref, 'after');
    assert.deepStrictEqual(await box.drain(), ['after']);
  });
});
