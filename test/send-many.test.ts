// sendMany: a batch of messages as one frame, over every transport. Each
// item arrives as a message of its own, in order with the sender's other
// sends; a full mailbox pushes back on the batch (it waits, or is refused
// whole without `wait`); errors reach the sender; the counters count
// messages, not frames.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { boot, send as sendFrom, sendMany as sendManyFrom, serve, type Ref, type SendOptions, type TransportName } from '../src/index.js';
import { runtime } from '../src/runtime/current.js';
import { codeOf, places, settledWithin, type Place } from './helpers/places.js';

const node = await boot({ listen: '127.0.0.1:0' });
after(() => node.shutdown());

const served = serve('/many/served', { nothing: () => null });
const servedRef = await served.ready;

/** The transport a place's messages from this thread are counted under ('auto' may use either). */
function countedAs(place: Place): TransportName[] {
  return place.transport === 'auto' ? ['kernel', 'shm'] : [place.transport];
}

function sentBy(ts: readonly TransportName[]): number {
  const t = runtime().stats().transports;
  return ts.reduce((n, name) => n + t[name].messagesSent, 0);
}

for (const place of await places(node, '/many/agent')) {
  describe(`sendMany over ${place.transport}`, () => {
    const send = (ref: Ref, data: unknown, o: SendOptions = {}): Promise<void> => sendFrom(ref, data, { ...place.opts, ...o });
    const sendMany = (ref: Ref, items: unknown[], o: SendOptions = {}): Promise<void> => sendManyFrom(ref, items, { ...place.opts, ...o });

    it('delivers every item as a message of its own, equal and in order, and counts each', async () => {
      const box = await place.box({ capacity: 64 });
      const items = [1, 'two', new Uint8Array([3, 3]), { four: [4] }, new Map([[5, 'five']]), [6, [6]], null, undefined, -7.5, 'é'.repeat(70)];
      const before = sentBy(countedAs(place));
      await sendMany(box.ref, items);
      assert.equal(sentBy(countedAs(place)) - before, items.length, 'every item counts as a message sent');
      assert.deepStrictEqual(await box.take(items.length), items);
      assert.deepStrictEqual(await box.drain(), [], 'nothing more');
      await box.close();
    });

    it('keeps its place in the order of the sender’s other sends, batches of every size', async () => {
      const box = await place.box({ capacity: 4096 });
      const pending: Promise<void>[] = [];
      const expected: number[] = [];
      let next = 0;
      for (const size of [1, 0, 3, 1, 50, 1, 700, 2, 1, 400]) {
        if (size === 1) {
          pending.push(send(box.ref, next));
          expected.push(next++);
        } else {
          const batch = Array.from({ length: size }, () => next++);
          pending.push(sendMany(box.ref, batch));
          expected.push(...batch);
        }
      }
      await Promise.all(pending);
      assert.deepStrictEqual(await box.take(expected.length), expected);
      await box.close();
    });

    it('a batch larger than the mailbox waits for room and enters it in order as room frees', async () => {
      const box = await place.box({ capacity: 8 });
      const batch = Array.from({ length: 30 }, (_, i) => i);
      const sent = sendMany(box.ref, batch);
      assert.equal(await settledWithin(sent, 100), false, 'the batch waits while the mailbox is full');
      assert.deepStrictEqual(await box.take(30), batch);
      await sent;
      await box.close();
    });

    it('without wait, a batch is refused whole (EAGAIN) unless all of it fits', async () => {
      const box = await place.box({ capacity: 8 });
      await sendMany(box.ref, [1, 2, 3], { wait: false });
      assert.equal(await codeOf(sendMany(box.ref, [4, 5, 6, 7, 8, 9], { wait: false })), 'EAGAIN');
      await sendMany(box.ref, [4, 5, 6, 7, 8], { wait: false });
      assert.deepStrictEqual(await box.drain(), [1, 2, 3, 4, 5, 6, 7, 8], 'nothing of the refused batch was delivered');
      await box.close();
    });

    it('carries a large batch (more than a ring record, in fragments on shm)', async () => {
      const box = await place.box({ capacity: 8192 });
      const batch = Array.from({ length: 5000 }, (_, i) => new Uint8Array(100).fill(i & 0xff));
      await sendMany(box.ref, batch);
      const got = (await box.take(5000)) as Uint8Array[];
      assert.equal(got.length, 5000);
      for (let i = 0; i < 5000; i += 499) assert.deepStrictEqual(got[i], batch[i]);
      await box.close();
    });

    it('a batch part of which is in the mailbox is not withdrawn by its signal: it goes on until all of it is in', async () => {
      const box = await place.box({ capacity: 4 });
      const ctl = new AbortController();
      const batch = Array.from({ length: 8 }, (_, i) => i);
      const sent = sendMany(box.ref, batch, { signal: ctl.signal });
      assert.deepStrictEqual(await box.take(1), [0]);
      ctl.abort();
      assert.equal(await settledWithin(sent, 100), false, 'not ECANCELED: part of it was delivered');
      assert.deepStrictEqual(await box.take(7), [1, 2, 3, 4, 5, 6, 7]);
      await sent;
      await box.close();
    });

    it('a batch waiting for room when its mailbox closes: ECLOSED', async () => {
      const box = await place.box({ capacity: 2 });
      // Its outcome is taken at once: the refusal may come back (over tcp) before the close has finished.
      const outcome = sendMany(box.ref, [1, 2, 3, 4]).then(
        () => assert.fail('the batch cannot have been wholly delivered'),
        (e: unknown) => e as { code: string; message: string },
      );
      assert.deepStrictEqual(await box.take(1), [1]);
      await box.close();
      const err = await outcome;
      assert.equal(err.code, 'ECLOSED');
      // shm verdicts carry the code only; elsewhere the message says how much of the batch had entered.
      if (place.transport === 'local' || place.transport === 'kernel') assert.match(err.message, /3 of the batch's 4 messages/);
    });

    it('items that share a value arrive equal; shared within one isolate and over kernel, as a clone of the batch', async () => {
      const box = await place.box();
      const u = new Uint8Array([1, 2]);
      const a = [u, 'x'];
      const o = { u };
      await sendMany(box.ref, [a, a, u, o, o]);
      const [x, y, z, p, q] = (await box.take(5)) as [unknown[], unknown[], Uint8Array, { u: Uint8Array }, { u: Uint8Array }];
      assert.deepStrictEqual([x, y, z, p, q], [a, a, u, o, o]);
      assert.equal(p, q, 'objects (msgpackr or a clone) stay shared on every transport');
      if (place.transport === 'local' || place.transport === 'kernel') {
        assert.equal(x, y, 'one array sent twice arrives as one');
        assert.equal(x[0], z, 'and so does a byte array inside it');
      }
      // A batch of byte arrays alone (which kernel packs when a clone would give the same).
      const buf = new ArrayBuffer(2);
      const bytes = [u, u, new Uint8Array(buf), new Uint8Array(buf), new Uint8Array([7])];
      await sendMany(box.ref, bytes);
      const [b1, b2, b3, b4, b5] = (await box.take(5)) as Uint8Array[];
      assert.deepStrictEqual([b1, b2, b3, b4, b5], bytes);
      if (place.transport === 'local' || place.transport === 'kernel') {
        assert.equal(b1, b2, 'one byte array sent twice arrives as one');
        assert.equal(b3!.buffer, b4!.buffer, 'two views of one buffer arrive on one buffer');
      }
      await box.close();
    });

    it('a transfer list takes the buffers away from the sender; the items arrive equal', async () => {
      const box = await place.box();
      const a = new Uint8Array([1, 2, 3]);
      const b = new Uint8Array([4]);
      await sendMany(box.ref, [a, b], { transfer: [a.buffer, b.buffer] });
      assert.deepStrictEqual([a.byteLength, b.byteLength], [0, 0], 'detached at the sender');
      assert.deepStrictEqual(await box.take(2), [new Uint8Array([1, 2, 3]), new Uint8Array([4])]);
      await box.close();
    });

    it('an empty batch resolves and delivers nothing', async () => {
      const box = await place.box();
      await sendMany(box.ref, []);
      await send(box.ref, 'after');
      assert.deepStrictEqual(await box.take(1), ['after']);
      await box.close();
    });

    it('fails with the reason: a closed mailbox, a wrong capability, a served mailbox', async () => {
      const box = await place.box();
      await box.close();
      assert.match(await codeOf(sendMany(box.ref, [1, 2])), /^(ECLOSED|ENOENT)$/);
      const open = await place.box();
      assert.equal(await codeOf(sendMany({ ...open.ref, cap: 'forged-capability-000000' as Ref['cap'] }, [1, 2])), 'EACCES');
      assert.deepStrictEqual(await open.drain(), [], 'a refused batch delivers nothing');
      await open.close();
    });

    it('from the place to this thread: every item, in order', async () => {
      const { createMailbox } = await import('../src/index.js');
      const mb = await createMailbox({ capacity: 2048 });
      const batch = Array.from({ length: 1500 }, (_, i) => ({ i }));
      await place.sendMany(mb.ref, batch.slice(0, 1000));
      await place.sendMany(mb.ref, batch.slice(1000));
      const got: unknown[] = [];
      for (let m = mb.tryReceive(); m !== undefined; m = mb.tryReceive()) got.push(m.data);
      assert.deepStrictEqual(got, batch);
      mb.close();
    });
  });
}

describe('sendMany, bad input', () => {
  it('EINVAL for what is not an array, or an item that cannot be sent; nothing delivered', async () => {
    const { createMailbox } = await import('../src/index.js');
    const mb = await createMailbox();
    assert.equal(await codeOf(sendManyFrom(mb.ref, 'abc' as unknown as unknown[])), 'EINVAL');
    assert.equal(await codeOf(sendManyFrom(mb.ref, [1, () => 2])), 'EINVAL');
    assert.equal(mb.tryReceive(), undefined);
    mb.close();
  });

  it('EINVAL for a batch to a served mailbox, which takes calls only', async () => {
    assert.equal(await codeOf(sendManyFrom(servedRef, [1])), 'EINVAL');
    assert.equal(await codeOf(sendManyFrom('/many/served', [1], { transport: 'kernel' })), 'EINVAL');
  });

  it('ENOENT for an unknown name, even with an empty batch', async () => {
    assert.equal(await codeOf(sendManyFrom('/many/nobody', [1])), 'ENOENT');
    assert.equal(await codeOf(sendManyFrom('/many/nobody', [])), 'ENOENT');
  });
});
