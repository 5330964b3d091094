// FIFO per (sender isolate, mailbox), no loss, no duplicates: 100,000
// sequence-numbered messages from each of two senders to one mailbox.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { boot, connect } from '../src/index.js';
import type { Agent } from './fixtures/agent.js';
import { AGENT } from './helpers/places.js';

const node = await boot();
after(() => node.shutdown());

const N = 100_000;
await node.spawn(AGENT, { data: { name: '/order/receiver' } });
await node.spawn(AGENT, { data: { name: '/order/sender-a' } });
await node.spawn(AGENT, { data: { name: '/order/sender-b' } });
const receiver = connect<Agent>('/order/receiver', { timeout: 120_000 });
const senderA = connect<Agent>('/order/sender-a', { timeout: 120_000 });
const senderB = connect<Agent>('/order/sender-b', { timeout: 120_000 });

// The senders either share the receiver's isolate ('local') or each have
// their own ('kernel'): the same scenario over each transport.
const setups = [
  { transport: 'local', a: receiver, b: receiver },
  { transport: 'kernel', a: senderA, b: senderB },
] as const;

for (const s of setups) {
  describe(`ordering over ${s.transport}`, () => {
    it(`delivers ${N} messages from each of 2 senders exactly once, in order per sender`, async () => {
      const { id, ref } = await receiver.box({ capacity: 1024 });
      const verdict = receiver.collect(id, 2 * N);
      const [sentA, sentB] = await Promise.all([s.a.sendSeq(ref, N, 'a'), s.b.sendSeq(ref, N, 'b')]);
      assert.equal(sentA + sentB, 2 * N);
      const v = await verdict;
      assert.deepStrictEqual(v, { received: 2 * N, perTag: { a: N, b: N }, outOfOrder: 0, duplicates: 0 });
      assert.deepStrictEqual(await receiver.drain(id), [], 'nothing more than was sent');
      await receiver.closeBox(id);
    });
  });
}
