// Values arrive equal whichever transport carries them: nested objects,
// arrays, Map, Set, Date, BigInt, typed arrays, Uint8Array payloads,
// undefined inside arrays. Property-based, with fast-check.
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { boot, call as callFrom, connect, send as sendFrom, type Ref, type SendOptions } from '../src/index.js';
import type { Agent } from './fixtures/agent.js';
import { AGENT, codeOf, places, type Box } from './helpers/places.js';
import { value, withoutNegativeZero } from './helpers/values.js';

const node = await boot({ listen: '127.0.0.1:0' });
after(() => node.shutdown());

// One set of places for every scenario: each tcp place is a node process of its own.
const all = await places(node);

for (const place of all) {
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

// What msgpack (shm, tcp) would change: shared memory, Blobs, boxed
// primitives, an Error's stack, an own __proto__ key, instances of
// subclasses of Map and of typed arrays (a structured clone makes a Map and
// the base typed array of them; msgpackr made {} of the first and bytes no
// decoder takes of the second, which failed the channel). Within a node they go
// by kernel, in order, also once a pair is on shm; where kernel cannot go
// (forced shm, another node) the send fails with EINVAL.
class MyMap<K, V> extends Map<K, V> {}
class MyBytes extends Uint8Array {}
class MyFloats extends Float32Array {}

function onlyCloned(): { readonly sab: SharedArrayBuffer; readonly values: readonly unknown[]; check(got: unknown[]): void } {
  // Over 64 bytes: a smaller view of shared memory is not looked for (kernel-only.ts), and arrives copied over bytes.
  const sab = new SharedArrayBuffer(128);
  const error = new RangeError('kept whole');
  const proto = JSON.parse('{"__proto__": 1, "a": 2}') as Record<string, number>;
  return {
    sab,
    // The subclasses first: behind an earlier kernel-only message, 'auto' would send them by kernel anyway.
    values: [new MyMap([['k', 1]]), MyBytes.of(1, 2, 3), { f: MyFloats.of(1.5) }, runInNewContext('Uint8Array.of(4, 5)') as Uint8Array, { sab }, new Blob(['hi']), new Number(3), new String('s'), error, proto, new Map([['shared', new Uint8Array(sab)]])],
    check(got) {
      const [mm, b, f, realm, s, blob, n, str, e, p, m] = got as [unknown, unknown, { f: unknown }, unknown, { sab: unknown }, unknown, unknown, unknown, Error, object, Map<string, Uint8Array>];
      assert.ok(s.sab instanceof SharedArrayBuffer, 'a SharedArrayBuffer');
      assert.ok(blob instanceof Blob && blob.size === 2, 'a Blob');
      assert.ok(n instanceof Number && n.valueOf() === 3, 'a Number object');
      assert.ok(str instanceof String && str.valueOf() === 's', 'a String object');
      assert.ok(e instanceof RangeError && e.message === 'kept whole' && e.stack === error.stack, "an Error with the sender's stack");
      assert.deepStrictEqual(Object.keys(p), ['__proto__', 'a'], 'an own __proto__ key');
      assert.ok(m.get('shared')?.buffer instanceof SharedArrayBuffer, 'a view of shared memory inside a Map');
      assert.deepStrictEqual(mm, new Map([['k', 1]]), 'a Map of a Map subclass, with its entries');
      assert.deepStrictEqual(b, Uint8Array.of(1, 2, 3), 'a Uint8Array of a Uint8Array subclass');
      assert.deepStrictEqual(f.f, Float32Array.of(1.5), 'a Float32Array of a Float32Array subclass, inside an object');
      assert.deepStrictEqual(realm, Uint8Array.of(4, 5), "a Uint8Array of another realm's");
    },
  };
}

/** A mailbox in the 'auto' place's worker, reached by a pair past its switch threshold (8): on shm. */
async function autoBoxOnShm(capacity: number): Promise<Box> {
  const box = await all.find((p) => p.transport === 'auto')!.box({ capacity });
  for (let i = 0; i < 12; i++) {
    await sendFrom(box.ref, i);
    assert.deepStrictEqual(await box.take(1), [i]);
  }
  return box;
}

describe('values only a structured clone carries', () => {
  for (const transport of ['local', 'kernel', 'auto'] as const) {
    it(`arrive as they were sent, in order with the others, over ${transport} (auto: after the pair moved to shm)`, async () => {
      const place = all.find((p) => p.transport === transport)!;
      const box = await place.box({ capacity: 64 });
      const send = (data: unknown): Promise<void> => sendFrom(box.ref, data, place.opts);
      for (let i = 0; i < 12; i++) await send(i); // past the switch threshold (8): 'auto' is on shm now
      assert.deepStrictEqual(await box.take(12), Array.from({ length: 12 }, (_, i) => i));
      const { sab, values, check } = onlyCloned();
      // Not awaited one by one: each must keep its place among plain ones sent by shm just before and after.
      await Promise.all(values.flatMap((v, i) => [send(`before ${i}`), send(v), send(`after ${i}`)]));
      const got = await box.take(3 * values.length);
      assert.deepStrictEqual(got.filter((_, i) => i % 3 !== 1), values.flatMap((_, i) => [`before ${i}`, `after ${i}`]), 'in order');
      check(got.filter((_, i) => i % 3 === 1));
      const shared = (got[3 * values.findIndex((v) => (v as { sab?: unknown }).sab === sab) + 1] as { sab: SharedArrayBuffer }).sab;
      new Int32Array(sab)[0] = 42;
      if (transport !== 'local') assert.equal(new Int32Array(shared)[0], 42, 'the memory is shared, not copied');
      await box.close();
    });
  }

  for (const transport of ['shm', 'tcp'] as const) {
    it(`fail with EINVAL over ${transport}, where only bytes go, and deliver nothing`, async () => {
      const place = all.find((p) => p.transport === transport)!;
      const box = await place.box();
      // An Error goes to another node, with its name, message and cause (its stack is the receiver's there).
      for (const v of onlyCloned().values.filter((v) => transport === 'shm' || !(v instanceof Error))) {
        const e = await sendFrom(box.ref, v, { transport }).then(() => assert.fail(`sent ${String(v)}`), (err: unknown) => err as { code?: string; message: string });
        assert.equal(e.code, 'EINVAL', e.message);
        assert.match(e.message, /which only a structured clone carries as it is: it cannot go (over shm|to node)/);
        if (v instanceof MyBytes) assert.match(e.message, /holds a MyBytes, a subclass of Uint8Array,/);
        if (ArrayBuffer.isView(v) && !(v instanceof Uint8Array)) assert.match(e.message, /holds a Uint8Array from another realm \(a vm context\),/);
        if (v instanceof MyMap) assert.match(e.message, /holds a MyMap, a subclass of Map,/);
      }
      await sendFrom(box.ref, 'after', { transport });
      assert.deepStrictEqual(await box.take(1), ['after']);
      assert.deepStrictEqual(await box.drain(), []);
      await box.close();
    });
  }

  it('what no transport carries (a WeakMap, a Promise, a symbol, a function) fails with EINVAL on every one', async () => {
    for (const place of all) {
      const box = await place.box();
      for (const v of [{ w: new WeakMap() }, [Promise.resolve(1)], { s: Symbol('x') }, [() => 1]]) {
        assert.equal(await codeOf(sendFrom(box.ref, v, place.opts)), 'EINVAL', `${place.transport}: ${String(Object.keys(v))}`);
      }
      await box.close();
    }
    // Where the message is looked over for what bytes cannot carry (shm, tcp), a function or a symbol is not said to be a structured clone's.
    for (const transport of ['shm', 'tcp'] as const) {
      const box = await all.find((p) => p.transport === transport)!.box();
      for (const [v, what] of [[{ f: () => 1 }, 'a function'], [[Symbol('x')], 'a symbol']] as const) {
        const e = await sendFrom(box.ref, v, { transport }).then(() => assert.fail('sent'), (err: unknown) => err as Error);
        assert.match(e.message, new RegExp(`^EINVAL: the message holds ${what}, which no message carries \\(a structured clone cannot either\\)$`), transport);
      }
      await box.close();
    }
  });

  it('a message that waits to go by kernel behind shm ones still takes its transferred buffers from the sender at once', async () => {
    const box = await autoBoxOnShm(64);
    const bytes = Uint8Array.of(1, 2, 3, 4);
    const sab = new SharedArrayBuffer(8);
    const before = sendFrom(box.ref, 'by shm, not settled yet');
    const moved = sendFrom(box.ref, { sab, bytes }, { transfer: [bytes.buffer] });
    assert.equal(bytes.byteLength, 0, 'the buffer left the sender when send() returned');
    await Promise.all([before, moved]);
    const [first, second] = (await box.take(2)) as [string, { sab: unknown; bytes: Uint8Array }];
    assert.equal(first, 'by shm, not settled yet');
    assert.ok(second.sab instanceof SharedArrayBuffer);
    assert.deepStrictEqual(second.bytes, Uint8Array.of(1, 2, 3, 4));
    await box.close();
  });

  it('messages waiting to go by kernel in order are copies taken at send(): what the sender changes later does not reach them', async () => {
    const box = await autoBoxOnShm(64);
    const o = { n: 0 };
    const rec = { i: 0 };
    const bytes = new Uint8Array(4);
    const sends = [sendFrom(box.ref, 'by shm first'), sendFrom(box.ref, { sab: new SharedArrayBuffer(128), o })];
    for (let i = 1; i <= 3; i++) {
      rec.i = i;
      bytes[0] = i;
      sends.push(sendFrom(box.ref, rec), sendFrom(box.ref, bytes));
    }
    o.n = 99;
    await Promise.all(sends);
    const got = await box.take(8);
    assert.deepStrictEqual((got[1] as { o: unknown }).o, { n: 0 });
    assert.deepStrictEqual(got.slice(2), [{ i: 1 }, Uint8Array.of(1, 0, 0, 0), { i: 2 }, Uint8Array.of(2, 0, 0, 0), { i: 3 }, Uint8Array.of(3, 0, 0, 0)]);
    await box.close();
  });

  it('sends waiting to go by kernel in order still settle at once when aborted, timed out, or told not to wait, and post nothing', async () => {
    const box = await autoBoxOnShm(1);
    await sendFrom(box.ref, 'fills');
    const held = sendFrom(box.ref, 'held'); // by shm, waiting for room: the mailbox is busy until it gets in
    const ac = new AbortController();
    const kernelOnly = sendFrom(box.ref, { sab: new SharedArrayBuffer(128) }, { signal: ac.signal });
    const ac2 = new AbortController();
    const behind = sendFrom(box.ref, 'behind it', { signal: ac2.signal });
    const call = callFrom(box.ref, 'm', ['a call behind it'], { timeout: 100 });
    const t0 = performance.now();
    assert.equal(await codeOf(sendFrom(box.ref, 'no waiting', { wait: false })), 'EAGAIN');
    const why = new Error('not any more');
    ac.abort(why);
    ac2.abort();
    const e = await kernelOnly.then(() => assert.fail('sent'), (err: unknown) => err as { code?: string; cause?: unknown });
    assert.deepStrictEqual([e.code, e.cause], ['ECANCELED', why]);
    assert.equal(await codeOf(behind), 'ECANCELED');
    assert.equal(await codeOf(call), 'ETIMEDOUT');
    assert.ok(performance.now() - t0 < 2000, 'each settled when it ended, not when the mailbox had room');
    assert.deepStrictEqual(await box.take(2), ['fills', 'held']);
    await held;
    await new Promise((r) => setTimeout(r, 100));
    assert.deepStrictEqual(await box.drain(), [], 'none of them was posted');
    // A capacity of 1: both wait for room, in order, as the box is taken from.
    const sent = Promise.all([sendFrom(box.ref, { sab: new SharedArrayBuffer(128) }), sendFrom(box.ref, 'after')]);
    const [later, after] = (await box.take(2)) as [{ sab: unknown }, string];
    await sent;
    assert.ok(later.sab instanceof SharedArrayBuffer);
    assert.equal(after, 'after');
    await box.close();
  });

  it('sends behind one that was withdrawn keep their order: a later kernel-only one is not overtaken by the plain one after it', async () => {
    const box = await autoBoxOnShm(1);
    await sendFrom(box.ref, 'fills');
    const sends = [sendFrom(box.ref, 'held')]; // by shm, waiting for room: the mailbox is busy until it gets in
    const ac = new AbortController();
    const withdrawn = sendFrom(box.ref, { sab: new SharedArrayBuffer(128) }, { signal: ac.signal });
    // The plain one will find the mailbox still busy on shm and go there; the kernel-only one after it must then wait again, and the last one behind it.
    sends.push(sendFrom(box.ref, 'plain, behind the withdrawn one'), sendFrom(box.ref, { sab: new SharedArrayBuffer(128) }), sendFrom(box.ref, 'last'));
    ac.abort();
    assert.equal(await codeOf(withdrawn), 'ECANCELED');
    const got = await box.take(5);
    await Promise.all(sends);
    assert.deepStrictEqual(
      got.map((g) => (typeof g === 'string' ? g : 'kernel-only')),
      ['fills', 'held', 'plain, behind the withdrawn one', 'kernel-only', 'last'],
    );
    await box.close();
  });

  it("sends waiting to go by kernel in order fail with ECONNRESET, as those in flight do, when the mailbox's isolate dies", async () => {
    await node.spawn(AGENT, { data: { name: '/values/doomed' } });
    const agent = connect<Agent>('/values/doomed', { timeout: 10_000 });
    const { id, ref } = await agent.box({ capacity: 1 });
    for (let i = 0; i < 12; i++) {
      await sendFrom(ref, i); // past the switch threshold (8): on shm now
      assert.deepStrictEqual(await agent.take(id, 1, 5000), [i]);
    }
    await sendFrom(ref, 'fills');
    const held = codeOf(sendFrom(ref, 'held')); // by shm, waiting for room
    const kernelOnly = codeOf(sendFrom(ref, { sab: new SharedArrayBuffer(128) })); // waits for held's verdict
    const behind = codeOf(sendFrom(ref, 'behind it'));
    void agent.exit(3).catch(() => {});
    assert.deepStrictEqual([await held, await kernelOnly, await behind], ['ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
  });

  it('a MessagePort in the transfer list goes by kernel under auto, also once the pair is on shm', async () => {
    const box = await autoBoxOnShm(64);
    const ports: { close(): void }[] = [];
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      const { port1, port2 } = new MessageChannel();
      ports.push(port2);
      // Not awaited: the shm one before each is still on its way, so that the port waits for it, moved out of the sender at once.
      sends.push(sendFrom(box.ref, `before ${i}`), sendFrom(box.ref, { port: port1 }, { transfer: [port1] }));
    }
    await Promise.all(sends);
    assert.equal((await box.depth()).depth, 20, 'all twenty in the mailbox');
    assert.equal(await codeOf(sendFrom(box.ref, { port: new MessageChannel().port1 }, { transport: 'shm' })), 'EINVAL', 'forced onto shm, a port in the message cannot go');
    for (const p of ports) p.close();
    await box.close();
  });
});

describe('transferables', () => {
  for (const transport of ['kernel', 'shm', 'tcp'] as const) {
    it(`take an ArrayBuffer from the sender over ${transport}`, async () => {
      const remote = all.find((p) => p.transport === transport)!;
      const box = await remote.box();
      const bytes = new Uint8Array([1, 2, 3, 4]);
      await sendFrom(box.ref, bytes, { transfer: [bytes.buffer], transport });
      assert.equal(bytes.byteLength, 0, 'the sender no longer owns the buffer');
      assert.deepStrictEqual((await box.take(1))[0], new Uint8Array([1, 2, 3, 4]));
    });

    it(`transferred buffers arrive intact when their sends wait past the window, over ${transport}`, async () => {
      const remote = all.find((p) => p.transport === transport)!;
      const n = 1500; // more than the 1024 unacknowledged messages a mailbox takes at once: the rest wait to be posted
      const box = await remote.box({ capacity: n });
      const payloads = Array.from({ length: n }, (_, i) => Uint8Array.of(i & 0xff, i >> 8, 7, 9));
      const sends = payloads.map((p) => sendFrom(box.ref, p, { transfer: [p.buffer], transport }));
      // Taken at once, as postMessage takes them, also from the sends that wait to be posted.
      assert.ok(payloads.every((p) => p.byteLength === 0), 'the sender owns none of the buffers once send() returned');
      await Promise.all(sends);
      assert.deepStrictEqual(await box.take(n), Array.from({ length: n }, (_, i) => Uint8Array.of(i & 0xff, i >> 8, 7, 9)));
    });

    it(`take an already transferred ArrayBuffer in the list as postMessage does (it transfers nothing), and refuse one listed twice, over ${transport}`, async () => {
      const remote = all.find((p) => p.transport === transport)!;
      const box = await remote.box();
      const gone = new ArrayBuffer(8);
      structuredClone(gone, { transfer: [gone] });
      await sendFrom(box.ref, 'with a detached buffer', { transfer: [gone], transport });
      const twice = new ArrayBuffer(4);
      assert.equal(await codeOf(sendFrom(box.ref, new Uint8Array(twice), { transfer: [twice, twice], transport })), 'EINVAL');
      assert.deepStrictEqual(await box.take(1), ['with a detached buffer']);
      assert.deepStrictEqual(await box.drain(), []);
    });

    it(`reject an uncloneable value with EINVAL and deliver nothing, over ${transport}`, async () => {
      const remote = all.find((p) => p.transport === transport)!;
      const box = await remote.box();
      await assert.rejects(sendFrom(box.ref, { f: () => 1 }, { transport }), { code: 'EINVAL' });
      await sendFrom(box.ref, 'after', { transport });
      assert.deepStrictEqual(await box.drain(), ['after']);
    });
  }
});
