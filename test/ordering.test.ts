// FIFO per (sender isolate, mailbox), no loss, no duplicates: 100,000
// sequence-numbered messages from each of two senders to one mailbox.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { boot, connect, createMailbox, send } from '../src/index.js';
import type { Agent } from './fixtures/agent.js';
import { AGENT } from './helpers/places.js';

const node = await boot();
after(() => node.shutdown());

const N = 100_000;
await node.spawn(AGENT, { data: { name: '/order/receiver' } });
await node.spawn(AGENT, { data: { name: '/order/sender-a' } });
await node.spawn(AGENT, { data: { name: '/order/sender-b' } });
await node.spawn(AGENT, { poll: true, data: { name: '/order/polling-receiver' } });
const receiver = connect<Agent>('/order/receiver', { timeout: 120_000 });
const pollingReceiver = connect<Agent>('/order/polling-receiver', { timeout: 120_000 });
const senderA = connect<Agent>('/order/sender-a', { timeout: 120_000 });
const senderB = connect<Agent>('/order/sender-b', { timeout: 120_000 });

// The senders either share the receiver's isolate ('local') or each have
// their own ('kernel': by 'auto', which moves to shm after a few): the
// same scenario over each transport. A polling receiver takes its kernel frames off its
// ports as its pump spins, beside the event loop: order must hold as well.
const setups = [
  { what: 'local', receiver, a: receiver, b: receiver, opts: {} },
  { what: 'kernel', receiver, a: senderA, b: senderB, opts: {} },
  { what: 'kernel, to a polling receiver', receiver: pollingReceiver, a: senderA, b: senderB, opts: { transport: 'kernel' } },
] as const;

for (const s of setups) {
  describe(`ordering over ${s.what}`, () => {
    const receiver = s.receiver;
    it(`delivers ${N} messages from each of 2 senders exactly once, in order per sender`, async () => {
      const { id, ref } = await receiver.box({ capacity: 1024 });
      const verdict = receiver.collect(id, 2 * N);
      const [sentA, sentB] = await Promise.all([s.a.sendSeq(ref, N, 'a', s.opts), s.b.sendSeq(ref, N, 'b', s.opts)]);
      assert.equal(sentA + sentB, 2 * N);
      const v = await verdict;
      assert.deepStrictEqual(v, { received: 2 * N, perTag: { a: N, b: N }, outOfOrder: 0, duplicates: 0 });
      assert.deepStrictEqual(await receiver.drain(id), [], 'nothing more than was sent');
      await receiver.closeBox(id);
    });
  });
}

describe('ordering across name resolution', () => {
  it('a send that waits for a name lookup is not overtaken by a later send to the same mailbox', async () => {
    for (const [i, transport] of (['kernel', 'shm'] as const).entries()) {
      const { id, ref } = await receiver.box({ name: `/order/by-name/${transport}` });
      // The main thread never looked this name up: the first send waits for
      // the lookup, the others (by ref, and by name behind it) must not overtake it.
      const sends = [send(`/order/by-name/${transport}`, 0, { transport }), send(ref, 1, { transport }), send(`/order/by-name/${transport}`, 2, { transport }), send(ref, 3, { transport })];
      await Promise.all(sends);
      assert.deepStrictEqual(await receiver.take(id, 4, 5000), [0, 1, 2, 3], `over ${transport} (${i})`);
      await receiver.closeBox(id);
    }
    const local = await createMailbox({ name: '/order/by-name/local' });
    await Promise.all([send('/order/by-name/local', 'a'), send(local.ref, 'b')]);
    assert.deepStrictEqual([local.tryReceive()?.data, local.tryReceive()?.data], ['a', 'b']);
    local.close();
  });
});
