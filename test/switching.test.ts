// User messaging under load and across the switch (DESIGN.md §3, §4):
// FIFO per (sender isolate, mailbox), no loss, no duplicates over forced
// `shm`, across the `kernel` → `shm` switch of `auto` in the middle of a
// stream, with messages larger than the ring, and `kernel` staying kernel.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { boot, connect, createMailbox, send, type FosNode, type IsolateStats, type NodeStats, type Remote } from '../src/index.js';
import { runtime } from '../src/runtime/current.js';
import type { Agent } from './fixtures/agent.js';
import { collect } from './helpers/boxes.js';
import type { StreamReport, SwitchSender } from './fixtures/switch-sender.js';
import { AGENT } from './helpers/places.js';

const SENDER = new URL('./fixtures/switch-sender.js', import.meta.url);
const THRESHOLD = 8; // the default of `shm.threshold`
const CALLS = { timeout: 120_000, transport: 'kernel' } as const; // the tests' own calls stay off the rings they measure

let spawned = 0;
/** A fresh agent (a receiver) and its isolate: a pair with it starts with no history. */
async function freshAgent(node: FosNode): Promise<{ agent: Remote<Agent>; isolate: number }> {
  const name = `/sw/agent-${++spawned}`;
  const svc = await node.spawn(AGENT, { data: { name } });
  return { agent: connect<Agent>(name, CALLS), isolate: svc.isolates[0]! };
}

async function freshSender(node: FosNode): Promise<{ sender: Remote<SwitchSender>; isolate: number }> {
  const name = `/sw/sender-${++spawned}`;
  const svc = await node.spawn(SENDER, { data: { name } });
  return { sender: connect<SwitchSender>(name, CALLS), isolate: svc.isolates[0]! };
}

function isolateStats(s: NodeStats, isolate: number): IsolateStats {
  const r = s.isolates.find((i) => i.isolate === isolate);
  assert.ok(r?.stats !== undefined, `isolate ${isolate} reports its counters`);
  return r.stats;
}

/** A stream that started on kernel and moved to shm: both were used, kernel for at least the threshold. */
function assertSwitched(r: StreamReport, n: number): void {
  assert.equal(r.byTransport.local, 0, 'nothing went local');
  assert.equal(r.byTransport.kernel + r.byTransport.shm, n, 'every message went by kernel or shm, once');
  assert.ok(r.byTransport.kernel >= THRESHOLD, `the first ${THRESHOLD} messages went by kernel (kernel: ${r.byTransport.kernel})`);
  assert.ok(r.byTransport.shm > 0, `the stream moved to shm (kernel ${r.byTransport.kernel}, shm ${r.byTransport.shm})`);
  assert.ok(r.byTransport.shm > n / 2, `most of the stream went by shm (kernel ${r.byTransport.kernel}, shm ${r.byTransport.shm})`);
  assert.equal(r.channel, true, 'the sender has an shm channel to the receiver afterwards');
}

describe('a node with the default shm options', () => {
  let node: FosNode;
  before(async () => {
    node = await boot();
  });
  after(() => node.shutdown());

  it('delivers 100,000 messages from each of 2 senders over forced shm exactly once, in order per sender', async () => {
    const N = 100_000;
    const { agent: receiver } = await freshAgent(node);
    const [{ sender: a }, { sender: b }] = await Promise.all([freshSender(node), freshSender(node)]);
    const { id, ref } = await receiver.box({ capacity: 1024 });
    const verdict = receiver.collect(id, 2 * N);
    const [ra, rb] = await Promise.all([a.sendSeq(ref, N, 'a', 'shm', 512), b.sendSeq(ref, N, 'b', 'shm', 512)]);
    assert.deepStrictEqual(await verdict, { received: 2 * N, perTag: { a: N, b: N }, outOfOrder: 0, duplicates: 0 });
    assert.deepStrictEqual(await receiver.drain(id), [], 'nothing more than was sent');
    for (const r of [ra, rb]) {
      assert.deepStrictEqual(r.byTransport, { local: 0, kernel: 0, shm: N }, 'forced shm: every message by shm, none by kernel');
      assert.equal(r.channel, true);
    }
    await receiver.closeBox(id);
  });

  for (const capacity of [1024, 4]) {
    it(`auto: streams that start on kernel and move to shm mid-way keep order, no loss, no duplicate (3 workers to 1, mailbox capacity ${capacity})`, async () => {
      // Three fresh pairs switch at about the same time: three chances to catch a reordering at the switch.
      const M = capacity === 4 ? 2_000 : 6_000;
      const { agent: receiver, isolate: rx } = await freshAgent(node);
      const senders = await Promise.all([freshSender(node), freshSender(node), freshSender(node)]);
      for (const { sender } of senders) assert.equal(await sender.hasChannel(rx), false, 'a fresh pair has no channel yet');
      const { id, ref } = await receiver.box({ capacity });
      const s0 = await node.stats();
      const verdict = receiver.collect(id, 3 * M);
      const reports = await Promise.all(senders.map(({ sender }, k) => sender.sendSeq(ref, M, `s${k}`, 'auto', 512)));
      assert.deepStrictEqual(await verdict, { received: 3 * M, perTag: { s0: M, s1: M, s2: M }, outOfOrder: 0, duplicates: 0 });
      assert.deepStrictEqual(await receiver.drain(id), []);
      for (const r of reports) assertSwitched(r, M);
      // The receiver saw the same split: the calls of this test go by kernel,
      // so every shm message it received is one of the streams'.
      const s1 = await node.stats();
      const rx0 = isolateStats(s0, rx).transports;
      const rx1 = isolateStats(s1, rx).transports;
      const shm = reports.reduce((n, r) => n + r.byTransport.shm, 0);
      const kernel = reports.reduce((n, r) => n + r.byTransport.kernel, 0);
      assert.equal(rx1.shm.messagesReceived - rx0.shm.messagesReceived, shm, 'the receiver got the shm parts by shm');
      assert.ok(rx1.kernel.messagesReceived - rx0.kernel.messagesReceived >= kernel, 'the receiver got the kernel parts by kernel');
      for (const [k, { isolate: tx }] of senders.entries()) {
        const t = isolateStats(s1, tx).transports;
        assert.ok(t.kernel.messagesSent >= reports[k]!.byTransport.kernel && t.shm.messagesSent >= reports[k]!.byTransport.shm, 'node.stats() shows both for each sender');
      }
      await receiver.closeBox(id);
    });
  }

  it('auto: the switch keeps order from a worker to a mailbox of the main thread', async () => {
    const M = 10_000;
    const { sender } = await freshSender(node);
    const mb = await createMailbox({ capacity: 256 });
    const s0 = await node.stats();
    const verdict = collect(mb, M);
    const r = await sender.sendSeq(mb.ref, M, 'to-main', 'auto', 512);
    assert.deepStrictEqual(await verdict, { received: M, perTag: { 'to-main': M }, outOfOrder: 0, duplicates: 0 });
    assert.equal(mb.tryReceive(), undefined, 'nothing more than was sent');
    assertSwitched(r, M);
    const s1 = await node.stats();
    const m0 = isolateStats(s0, 0).transports;
    const m1 = isolateStats(s1, 0).transports;
    assert.equal(m1.shm.messagesReceived - m0.shm.messagesReceived, r.byTransport.shm, 'the main thread got the shm part by shm');
    mb.close();
  });

  it('auto: a stream from the main thread to a worker moves to shm and keeps order', async () => {
    const M = 10_000;
    const { agent: receiver, isolate: rx } = await freshAgent(node);
    const rt = runtime();
    assert.equal(rt.shm.out(rx), undefined, 'a fresh pair has no channel yet');
    const { id, ref } = await receiver.box({ capacity: 512 });
    const before = rt.stats().transports;
    const verdict = receiver.collect(id, M);
    let batch: Promise<void>[] = [];
    for (let i = 0; i < M; i++) {
      batch.push(send(ref, { tag: 'main', i }));
      if (batch.length === 512) {
        await Promise.all(batch);
        batch = [];
      }
    }
    await Promise.all(batch);
    assert.deepStrictEqual(await verdict, { received: M, perTag: { main: M }, outOfOrder: 0, duplicates: 0 });
    const now = rt.stats().transports;
    const kernel = now.kernel.messagesSent - before.kernel.messagesSent;
    const shm = now.shm.messagesSent - before.shm.messagesSent;
    // The test's own calls to the receiver (collect) went by kernel too.
    assert.ok(kernel >= THRESHOLD && kernel < THRESHOLD + 16, `the first messages went by kernel (kernel: ${kernel})`);
    assert.ok(shm > 0 && shm <= M, `the rest went by shm (shm: ${shm})`);
    assert.ok(rt.shm.out(rx) !== undefined, 'the main thread has a channel to the receiver');
    await receiver.closeBox(id);
  });

  it("transport: 'kernel' never moves to shm, however many messages the pair exchanges", async () => {
    const M = 2_000;
    const { agent: receiver, isolate: rx } = await freshAgent(node);
    const { sender } = await freshSender(node);
    const { id, ref } = await receiver.box({ capacity: 1024 });
    const verdict = receiver.collect(id, M);
    const r = await sender.sendSeq(ref, M, 'k', 'kernel', 512);
    assert.deepStrictEqual(await verdict, { received: M, perTag: { k: M }, outOfOrder: 0, duplicates: 0 });
    assert.deepStrictEqual(r, { byTransport: { local: 0, kernel: M, shm: 0 }, channel: false });
    // From the main thread too.
    const rt = runtime();
    const before = rt.stats().transports.shm.messagesSent;
    await Promise.all(Array.from({ length: 200 }, (_, i) => send(ref, i, { transport: 'kernel' })));
    assert.equal(rt.stats().transports.shm.messagesSent, before, 'no shm message from the main thread');
    assert.equal(rt.shm.out(rx), undefined, 'no channel from the main thread');
    assert.deepStrictEqual(await receiver.drain(id), Array.from({ length: 200 }, (_, i) => i));
    // The same pair with auto does switch: what kept it on kernel was the option.
    const verdict2 = receiver.collect(id, 100);
    const r2 = await sender.sendSeq(ref, 100, 'then-auto', 'auto', 100);
    assert.equal((await verdict2).outOfOrder, 0);
    assert.ok(r2.byTransport.shm > 0 && r2.channel, 'with auto the pair moves to shm');
    await receiver.closeBox(id);
  });

  it('an auto stream on shm interleaved with forced-kernel sends keeps its order', async () => {
    // DESIGN.md §3: FIFO per (sender isolate, mailbox) on every transport and
    // across a switch from one transport to another, in either direction.
    const M = 4_000;
    const { agent: receiver } = await freshAgent(node);
    const { sender } = await freshSender(node);
    const { id, ref } = await receiver.box({ capacity: 1024 });
    // Warm the pair up: it is on shm from here on.
    const warm = receiver.collect(id, 50);
    assert.ok((await sender.sendSeq(ref, 50, 'warm', 'auto', 50)).channel);
    assert.equal((await warm).outOfOrder, 0);
    const verdict = receiver.collect(id, M);
    const items = Array.from({ length: M }, (_, i) => ({ tag: 'mixed', i }));
    const r = await sender.sendAll(ref, items, ['auto', 'auto', 'auto', 'kernel']);
    // Order comes first: a forced-kernel send follows the stream's earlier,
    // unsettled messages onto shm (and back), so both may carry the stream.
    assert.equal(r.byTransport.kernel + r.byTransport.shm, M);
    assert.ok(r.byTransport.shm > 0);
    assert.deepStrictEqual(await verdict, { received: M, perTag: { mixed: M }, outOfOrder: 0, duplicates: 0 });
    await receiver.closeBox(id);
  });
});

describe('a node with 4 KiB rings: messages larger than the ring', () => {
  let node: FosNode;
  before(async () => {
    node = await boot({ shm: { ringCapacity: 4096 } });
  });
  after(() => node.shutdown());

  const pattern = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
  /** Small messages with, between them, messages of 2.5 to 25 times the ring, raw bytes and msgpack-encoded objects. */
  function stream(tag: string): unknown[] {
    return [
      `${tag}-0`,
      { small: 1 },
      pattern(10_000, 1),
      `${tag}-1`,
      { text: 'x'.repeat(50_000) + tag, list: Array.from({ length: 2000 }, (_, i) => i) },
      `${tag}-2`,
      pattern(100_000, 2),
      pattern(4096, 3),
      ...Array.from({ length: 40 }, (_, i) => ({ tag, i })),
      pattern(20_000, 4),
      `${tag}-end`,
    ];
  }

  it('from the main thread to a worker over forced shm: intact and in order between smaller ones', async () => {
    const { agent, isolate } = await freshAgent(node);
    const { id, ref } = await agent.box({ capacity: 1024 });
    const rt = runtime();
    const shm0 = rt.stats().transports.shm.messagesSent;
    const items = stream('main');
    await Promise.all(items.map((item) => send(ref, item, { transport: 'shm' })));
    assert.equal(rt.stats().transports.shm.messagesSent - shm0, items.length, 'every message went by shm');
    assert.ok(rt.shm.out(isolate) !== undefined);
    assert.equal(rt.shm.out(isolate)!.capacity, 4096, 'the ring is the small one');
    assert.deepStrictEqual(await agent.take(id, items.length, 10_000), items);
    assert.deepStrictEqual(await agent.drain(id), []);
    await agent.closeBox(id);
  });

  it('from a worker to the main thread over forced shm: intact and in order', async () => {
    const { sender } = await freshSender(node);
    const mb = await createMailbox({ capacity: 1024 });
    const items = stream('worker');
    const r = await sender.sendAll(mb.ref, items, ['shm']);
    assert.deepStrictEqual(r.byTransport, { local: 0, kernel: 0, shm: items.length });
    const got: unknown[] = [];
    for (let m = mb.tryReceive(); m !== undefined; m = mb.tryReceive()) got.push(m.data);
    assert.deepStrictEqual(got, items);
    mb.close();
  });

  it('auto: large messages before and after the switch, intact and in order', async () => {
    const { agent } = await freshAgent(node);
    const { sender } = await freshSender(node);
    const { id, ref } = await agent.box({ capacity: 1024 });
    const items = [pattern(30_000, 9), ...stream('auto'), pattern(30_000, 10)];
    const r = await sender.sendAll(ref, items, ['auto']);
    assertSwitched(r, items.length);
    assert.deepStrictEqual(await agent.take(id, items.length, 10_000), items);
    await agent.closeBox(id);
  });

  it('a ring kept full by a slow reader: a long stream of large messages keeps order', async () => {
    const { agent } = await freshAgent(node);
    const { sender } = await freshSender(node);
    const { id, ref } = await agent.box({ capacity: 4 });
    const items = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? pattern(9_000 + i, i) : { i, pad: 'p'.repeat(i * 50) }));
    const sending = sender.sendAll(ref, items, ['shm']);
    const got: unknown[] = [];
    while (got.length < items.length) got.push(...(await agent.take(id, Math.min(5, items.length - got.length), 10_000)));
    await sending;
    assert.deepStrictEqual(got, items);
    await agent.closeBox(id);
  });
});

describe('shm options out of range', () => {
  it('boot fails with EINVAL naming the option, and leaves nothing behind', async () => {
    for (const [shm, message] of [
      [{ threshold: -5 }, /shm\.threshold is a whole number of messages >= 0/],
      [{ threshold: 2.5 }, /shm\.threshold/],
      [{ ringCapacity: 1000 }, /shm\.ringCapacity is a power of two from 64 to 2\^30 bytes, got 1000/],
      [{ ringCapacity: 32 }, /shm\.ringCapacity/],
      [{ pump: { spinMicros: -1 } }, /shm\.pump\.spinMicros is a number of µs >= 0, got -1/],
      [{ pump: { pollSliceMicros: Number.NaN } }, /shm\.pump\.pollSliceMicros/],
    ] as const) {
      const e = await boot({ shm }).then(
        () => assert.fail(`booted with ${JSON.stringify(shm)}`),
        (err: unknown) => err as { code?: string; message: string },
      );
      assert.equal(e.code, 'EINVAL', e.message);
      assert.match(e.message, message);
    }
    const node = await boot({ shm: { threshold: 0, ringCapacity: 64 * 1024 } });
    await node.shutdown();
  });
});
