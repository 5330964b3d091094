// A full mailbox pushes back: a non-waiting send fails with EAGAIN, a
// waiting send waits (and can be aborted), and every queue stays bounded.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { boot, send as sendFrom, type Ref, type SendOptions } from '../src/index.js';
import { codeOf, eventually, places, settledWithin } from './helpers/places.js';

const node = await boot({ listen: '127.0.0.1:0' });
after(() => node.shutdown());

for (const place of await places(node)) {
  describe(`backpressure over ${place.transport}`, () => {
    const send = (ref: Ref, data: unknown, o: SendOptions = {}): Promise<void> => sendFrom(ref, data, { ...place.opts, ...o });
    it('takes exactly capacity non-waiting sends, then EAGAIN; takes more after a drain', async () => {
      const box = await place.box({ capacity: 8 });
      for (let i = 0; i < 8; i++) await send(box.ref, i, { wait: false });
      assert.equal(await codeOf(send(box.ref, 8, { wait: false })), 'EAGAIN');
      assert.deepStrictEqual(await box.drain(), [0, 1, 2, 3, 4, 5, 6, 7], 'the refused message was not delivered');
      await send(box.ref, 'again', { wait: false });
      assert.deepStrictEqual(await box.drain(), ['again']);
      await box.close();
    });

    it('refuses exactly the surplus of a burst of non-waiting sends', async () => {
      const box = await place.box({ capacity: 8 });
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => send(box.ref, i, { wait: false })));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 8);
      for (const r of results.slice(8)) assert.equal(r.status === 'rejected' && r.reason.code, 'EAGAIN');
      assert.deepStrictEqual(await box.drain(), [0, 1, 2, 3, 4, 5, 6, 7]);
      await box.close();
    });

    it('fails a non-waiting send at once with EAGAIN while waiting sends hold the mailbox', async () => {
      const box = await place.box({ capacity: 2 });
      const waiting = Promise.allSettled(Array.from({ length: 10 }, (_, i) => send(box.ref, i)));
      await new Promise((r) => setTimeout(r, 50));
      const t0 = performance.now();
      assert.equal(await codeOf(send(box.ref, 'no wait', { wait: false })), 'EAGAIN');
      assert.ok(performance.now() - t0 < 1000, 'EAGAIN comes at once');
      assert.deepStrictEqual(await box.take(10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await waiting;
      await box.close();
    });

    it('makes a waiting send wait until a receive frees room, and keeps its order', async () => {
      const box = await place.box({ capacity: 8 });
      for (let i = 0; i < 8; i++) await send(box.ref, i);
      const waiting = send(box.ref, 8);
      const behind = send(box.ref, 9);
      assert.equal(await settledWithin(waiting, 50), false, 'the send waits while the mailbox is full');
      assert.deepStrictEqual(await box.take(1), [0]);
      await waiting;
      assert.equal(await settledWithin(behind, 20), false, 'one slot freed admits one waiting send');
      assert.deepStrictEqual(await box.take(9), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await behind;
      await box.close();
    });

    it('withdraws a waiting send when its signal fires: ECANCELED with the abort reason as its cause, never delivered', async () => {
      const box = await place.box({ capacity: 2 });
      await send(box.ref, 'a');
      await send(box.ref, 'b');
      const ac = new AbortController();
      const waiting = send(box.ref, 'withdrawn', { signal: ac.signal });
      assert.equal(await settledWithin(waiting, 30), false);
      const why = new Error('no longer wanted');
      ac.abort(why);
      const e = await waiting.then(() => assert.fail('delivered'), (err: unknown) => err as { code?: string; cause?: unknown });
      assert.deepStrictEqual([e.code, e.cause], ['ECANCELED', why], 'withdrawn by the receiver, the reason is the sender\'s');
      assert.deepStrictEqual(await box.take(2), ['a', 'b']);
      await send(box.ref, 'c');
      assert.deepStrictEqual(await box.drain(), ['c']);
      await box.close();
    });

    it('fails every waiting send with ECLOSED when the mailbox closes, however many', async () => {
      const box = await place.box({ capacity: 1 });
      await send(box.ref, 'x');
      const waiting = Promise.allSettled(Array.from({ length: 3000 }, (_, i) => send(box.ref, i)));
      await new Promise((r) => setTimeout(r, 50));
      await box.close();
      const codes = new Set((await waiting).map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'delivered')));
      assert.deepStrictEqual([...codes], ['ECLOSED']);
    });

    it('fails waiting sends with ECLOSED when the mailbox closes', async () => {
      const box = await place.box({ capacity: 1 });
      await send(box.ref, 'x');
      const waiting = send(box.ref, 'y');
      assert.equal(await settledWithin(waiting, 30), false);
      await box.close();
      assert.equal(await codeOf(waiting), 'ECLOSED');
    });

    it('lets traffic to another mailbox of the same isolate pass a full one', async () => {
      const full = await place.box({ capacity: 1 });
      const other = await place.box({ capacity: 4 });
      const stuck = Array.from({ length: 2000 }, (_, i) => send(full.ref, i));
      await send(other.ref, 'through');
      assert.deepStrictEqual(await other.take(1), ['through']);
      assert.equal((await full.take(2000, 30_000)).length, 2000);
      await Promise.all(stuck);
      await Promise.all([full.close(), other.close()]);
    });

    it('keeps memory bounded under a flood to a mailbox nobody reads', async () => {
      const box = await place.box({ capacity: 8 });
      const flood = Array.from({ length: 5000 }, (_, i) => send(box.ref, i));
      // The mailbox holds its capacity. Across isolates, at most a window
      // (1024) of deliveries wait at the receiver and the rest at the
      // sender; in one isolate each waiting delivery is a suspended sender.
      await eventually(async () => (await box.depth()).depth === 8, 5000, 'the mailbox to fill');
      await new Promise((r) => setTimeout(r, 50));
      const { depth, waiting } = await box.depth();
      assert.equal(depth, 8);
      if (place.transport === 'local') assert.equal(waiting, 5000 - 8);
      // (kernel and shm alike: a window per mailbox)
      else assert.ok(waiting <= 1024, `at most a window of deliveries wait at the receiver, saw ${waiting}`);
      const got = await box.take(5000, 30_000);
      assert.deepStrictEqual(got, Array.from({ length: 5000 }, (_, i) => i));
      await Promise.all(flood);
      await box.close();
    });
  });
}
