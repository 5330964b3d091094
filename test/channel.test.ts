// The shm channel on its own, both ends in one thread: verdicts through the
// shared verdict area, counters past 2^31, withdrawals that overtake records.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordType, type MessageEnvelope } from '../src/envelope.js';
import { FosError } from '../src/errors.js';
import { ShmIn, ShmOut, type ShmVerdict } from '../src/transport/shm/channel.js';
import { AWAKE, PARKED, STATE } from '../src/transport/shm/doorbell.js';
import { warmUp } from '../src/transport/shm/warm.js';

function channel(): { out: ShmOut; inn: ShmIn; bellS: Int32Array; withdrawn: number[] } {
  const bellS = new Int32Array(new SharedArrayBuffer(128));
  const bellR = new Int32Array(new SharedArrayBuffer(128));
  const withdrawn: number[] = [];
  const out = ShmOut.create(1, bellR, (seq) => withdrawn.push(seq) > 0, 0, 1 << 16);
  const inn = new ShmIn(0, out.sab, out.capacity, bellS);
  return { out, inn, bellS, withdrawn };
}

const msg = (data: unknown): MessageEnvelope => ({ type: RecordType.Message, to: 1, cap: 'c', wait: true, data });
const untrackedCall = (id: number, to = 1) =>
  ({ type: RecordType.Message, to, cap: 'c', wait: true, data: [id], call: { id, method: 'm', untracked: true } }) as const;
const settled = (p: Promise<void>): Promise<string> => p.then(() => 'ok', (e: unknown) => (e instanceof FosError ? e.code : String(e)));
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('shm channel', () => {
  it('settles admitted, refused and held messages by the verdicts the receiver writes', async () => {
    const { out, inn } = channel();
    const verdicts: ShmVerdict[] = ['admitted', new FosError('EACCES', 'x'), 'held', 'admitted'];
    const results = [0, 1, 2, 3].map((i) => settled(out.send(msg(i), { wait: true })));
    const held: number[] = [];
    inn.drain((env, seq) => {
      const v = verdicts[(env as MessageEnvelope).data as number]!;
      if (v === 'held') held.push(seq);
      return v;
    });
    out.poll();
    await tick();
    inn.verdict(held[0]!, undefined); // the held one is admitted later
    out.poll();
    assert.deepStrictEqual(await Promise.all(results), ['ok', 'EACCES', 'ok', 'ok']);
  });

  it('publishes no verdict for records that need none, yet settles a later message at once, after any number of them', async () => {
    const { out, inn } = channel();
    const verdictWord = new Int32Array(out.sab, out.capacity + 256, 1); // the shared `done`
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 1000; i++) out.sendUntracked({ type: RecordType.Reply, callId: i, cap: 'c', ok: true, data: i });
      inn.drain(() => 'untracked');
    }
    assert.equal(verdictWord[0], 0, 'replies need no verdict: nothing was published');
    // As if millions of untracked records had gone by: the sender's walk to
    // the next verdict costs what is in flight, not the distance.
    Object.assign(out as unknown as Record<string, number>, { written: 5_000_000 });
    Object.assign(inn as unknown as Record<string, number>, { handled: 5_000_000, published: 5_000_000 });
    const sent = settled(out.send(msg('after'), { wait: true }));
    inn.drain(() => 'admitted');
    assert.equal(verdictWord[0], 5_000_001, 'a message that waits for its verdict gets it published');
    let looks = 0;
    const settle = out.flow.settle.bind(out.flow);
    out.flow.settle = (seq, err) => {
      looks++;
      settle(seq, err);
    };
    out.poll();
    assert.equal(await sent, 'ok');
    assert.equal(looks, 1, 'settled by looking at what is in flight, not at five million seqs');
  });

  it('publishes the verdicts of earlier records before a call handler runs, so a slow handler does not hold them back', async () => {
    const { out, inn } = channel();
    const verdictWord = new Int32Array(out.sab, out.capacity + 256, 1); // the shared `done`
    const first = settled(out.send(msg('first'), { wait: true }));
    const call: MessageEnvelope = { type: RecordType.Message, to: 1, cap: 'c', wait: true, data: [], call: { id: 1, method: 'm' } };
    const second = settled(out.send(call, { wait: true }));
    let doneWhenCallRan = -1;
    inn.drain((env, seq) => {
      if ((env as MessageEnvelope).call !== undefined) {
        doneWhenCallRan = Atomics.load(verdictWord, 0);
        assert.equal(seq, 2);
        // The sender can settle the first message now, while the handler still runs.
        out.poll();
      }
      return 'admitted';
    });
    assert.equal(doneWhenCallRan, 1, 'the first message was published before the call handler ran');
    assert.equal(await Promise.race([first, tick().then(() => 'pending')]), 'ok');
    out.poll();
    assert.equal(await second, 'ok');
  });

  it('a drain that frees room wakes a parked sender with records waiting for it, even when it settled nothing', async () => {
    const { out, inn, bellS } = channel();
    // Larger than the 64 KiB ring: its fragments fill the ring and the rest waits in the sender's outbox.
    const sent = settled(out.send(msg(new Uint8Array(200_000)), { wait: true }));
    Atomics.store(bellS, STATE, PARKED); // the sender parks, waiting for room
    inn.drain(() => 'admitted'); // only fragments: no message is whole yet
    assert.equal(Atomics.load(bellS, STATE), AWAKE, 'the sender was rung');
    for (let i = 0; i < 20 && out.pending(); i++) {
      out.poll();
      inn.drain(() => 'admitted');
    }
    out.poll();
    assert.equal(await sent, 'ok');
  });

  it('keeps working past 2^31 messages (seqs are rebuilt from 32-bit words)', async () => {
    const { out, inn } = channel();
    const start = 2 ** 31 - 2;
    // As if the channel had carried 2^31 - 2 messages already.
    Object.assign(out as unknown as Record<string, number>, { written: start, settledUpTo: start });
    Object.assign(out.flow as unknown as Record<string, number>, { cumulative: start });
    Object.assign(inn as unknown as Record<string, number>, { handled: start });
    const results = [0, 1, 2, 3, 4].map((i) => settled(out.send(msg(i), { wait: true })));
    inn.drain((env) => ((env as MessageEnvelope).data === 2 ? new FosError('ENOENT', 'x') : 'admitted'));
    out.poll();
    assert.deepStrictEqual(await Promise.all(results), ['ok', 'ok', 'ENOENT', 'ok', 'ok']);
  });

  for (const skip of [3_000_000_000, 2 ** 32 - 1, 2 ** 40]) {
    it(`settles a held message by its late verdict after ${skip} other records went by`, async () => {
      const { out, inn } = channel();
      const heldSend = settled(out.send(msg('held'), { wait: true }));
      let heldSeq = 0;
      inn.drain((_env, seq) => ((heldSeq = seq), 'held'));
      out.poll();
      // As if that many records that need no verdict had gone by since: the
      // held message's seq is now further than 32 bits reach behind the
      // sender's (at 2^32 - 1, the message sent next has the held one's low bits).
      const o = out as unknown as Record<string, number>;
      const i = inn as unknown as Record<string, number>;
      Object.assign(o, { written: o['written']! + skip, settledUpTo: o['settledUpTo']! + skip });
      Object.assign(out.flow as unknown as Record<string, number>, { cumulative: o['settledUpTo']! });
      Object.assign(i, { handled: i['handled']! + skip, published: i['published']! + skip });
      // A message sent now is held too, then refused; the first is refused later, then the second admitted.
      const recent = settled(out.send(msg('recent'), { wait: true }));
      let recentSeq = 0;
      inn.drain((_env, seq) => ((recentSeq = seq), 'held'));
      out.poll();
      inn.verdict(heldSeq, new FosError('ECANCELED', 'withdrawn'));
      out.poll();
      assert.equal(await Promise.race([recent, tick().then(() => 'pending')]), 'pending', 'the late refusal went to the held message, not the recent one');
      inn.verdict(recentSeq, undefined);
      out.poll();
      assert.deepStrictEqual(await Promise.all([heldSend, recent]), ['ECANCELED', 'ok']);
    });
  }

  it('keeps working when the exception ring counters wrap past 2^31', async () => {
    const { out, inn } = channel();
    const near = 2 ** 31 - 3;
    Object.assign(out as unknown as Record<string, number>, { exHead: near });
    Object.assign(inn as unknown as Record<string, number>, { exTail: near });
    new Int32Array(out.sab, out.capacity + 256 + 128, 1)[0] = near; // the shared exHead word
    const results = Array.from({ length: 8 }, (_, i) => settled(out.send(msg(i), { wait: true })));
    inn.drain(() => new FosError('EAGAIN', 'full'));
    out.poll();
    assert.deepStrictEqual(await Promise.all(results), Array(8).fill('EAGAIN'));
  });

  it('wakes a parked sender for late verdicts written once the exception ring has room again', async () => {
    const { out, inn, bellS } = channel();
    // 1100 messages held in two full mailboxes (a window is 1024 per
    // mailbox): more exceptions than the ring holds.
    const results = Array.from({ length: 1100 }, (_, i) => settled(out.send({ ...msg(i), to: 1 + (i % 2) }, { wait: true })));
    const held: number[] = [];
    while (inn.drain((_, seq) => (held.push(seq), 'held'))) out.poll();
    assert.equal(held.length, 1100);
    // The first 1024 "held" notices fill the ring; the sender has read them.
    for (const seq of held) inn.verdict(seq, undefined); // all admitted: most wait in `late`
    out.poll(); // the sender reads what there was room for ...
    Atomics.store(bellS, 0, 1); // ... and parks (PARKED)
    inn.drain(() => 'admitted'); // the receiver writes the rest of the late verdicts
    assert.equal(Atomics.load(bellS, 0), 0, 'the parked sender was rung for them');
    while (out.poll());
    assert.ok((await Promise.all(results)).every((r) => r === 'ok'));
  });

  it('the warm-up an isolate runs at start leaves nothing behind: no handle, timer or unhandled rejection', async () => {
    const before = process.getActiveResourcesInfo().sort();
    let unhandled = 0;
    const onUnhandled = (): void => void unhandled++;
    process.on('unhandledRejection', onUnhandled);
    try {
      for (let i = 0; i < 3; i++) warmUp(true);
      await tick();
      await tick();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.equal(unhandled, 0);
    assert.deepStrictEqual(process.getActiveResourcesInfo().sort(), before);
  });

  it('refuses a record whose withdrawal came before it was drained', async () => {
    const { out, inn } = channel();
    const results = [0, 1, 2].map((i) => settled(out.send(msg(i), { wait: true })));
    inn.withdraw(2, new FosError('ECANCELED', 'timed out')); // seq 2 is the second message
    const seen: unknown[] = [];
    inn.drain((env) => {
      seen.push((env as MessageEnvelope).data);
      return 'admitted';
    });
    out.poll();
    assert.deepStrictEqual(seen, [0, 2], 'the withdrawn message never reached its mailbox');
    assert.deepStrictEqual(await Promise.all(results), ['ok', 'ECANCELED', 'ok']);
  });

  it('carries an untracked call without a verdict: nothing published, nothing in the flow, counted open until it ends', () => {
    const { out, inn, withdrawn } = channel();
    const verdictWord = new Int32Array(out.sab, out.capacity + 256, 1); // the shared `done`
    const seqs = [1, 2, 3].map((id) => out.sendCall(untrackedCall(id, id === 3 ? 2 : 1)));
    assert.deepStrictEqual(seqs, [1, 2, 3]);
    assert.equal(out.untrackedCalls, 3);
    assert.equal(out.flow.busy(1), false, 'the flow holds none of them');
    assert.deepStrictEqual([out.busy(1), out.busy(2), out.busy(7)], [true, true, false], 'a mailbox with an open call counts as busy for kernel sends, another does not');
    const seen: unknown[] = [];
    inn.drain((env) => {
      seen.push((env as MessageEnvelope).call);
      return 'untracked';
    });
    assert.deepStrictEqual(seen, [1, 2, 3].map((id) => ({ id, method: 'm', untracked: true })), 'the receiver reads them as untracked calls');
    assert.equal(verdictWord[0], 0, 'no verdict was published for them');
    out.callEnded(1, 1, true);
    assert.equal(out.busy(1), true, 'one call to mailbox 1 is still open');
    out.callEnded(3, 2, true);
    assert.equal(out.busy(2), false, 'its only call was answered');
    out.callEnded(2, 1, false);
    assert.deepStrictEqual(withdrawn, [2], 'only the call that ended without its answer is withdrawn');
    assert.equal(out.untrackedCalls, 0);
    assert.equal(out.busy(1), false, 'its withdrawal goes ahead of any later kernel send: mailbox 1 is free again');
    assert.equal(out.busy(2), false);
  });

  it("answers a callSync into the sender's sync slot, and drops an answer to one older than the last drained", () => {
    const { out, inn } = channel();
    const syncCall = (id: number): MessageEnvelope => ({ type: RecordType.Message, to: 1, cap: 'c', wait: true, data: [id], call: { id, method: 'm', sync: true, untracked: true } });
    const wait = { timeout: 1000, writerBell: undefined, spinMicros: 50 };
    const drainAll = (): void => void inn.drain(() => 'untracked');
    out.sendUntracked(syncCall(41));
    drainAll();
    assert.equal(inn.answerSync(41, true, 'for 41'), true);
    assert.equal(out.syncSlot.await(41, wait), 'for 41');
    // 42 is given up on (its caller timed out) and 43 sent: a late answer to 42 is not written.
    out.sendUntracked(syncCall(42));
    out.sendUntracked(syncCall(43));
    drainAll();
    assert.equal(inn.answerSync(42, true, 'late, for 42'), false);
    assert.equal(inn.answerSync(43, false, new FosError('EAGAIN', 'mailbox is full')), true);
    assert.throws(() => out.syncSlot.await(43, wait), (e: unknown) => e instanceof FosError && e.code === 'EAGAIN');
    assert.equal(inn.answerSync(99, true, 'never sent'), false, 'no answer to a callSync that never came');
  });

  it('keeps a mailbox busy when an unanswered call could not be withdrawn, and withdraws nothing once the channel failed', () => {
    const bellR = new Int32Array(new SharedArrayBuffer(128));
    let linkUp = false;
    const withdrawn: number[] = [];
    const out = ShmOut.create(1, bellR, (seq) => linkUp && withdrawn.push(seq) > 0, 0, 1 << 16);
    const [a, b, c] = [1, 2, 3].map((id) => out.sendCall(untrackedCall(id, id))!);
    out.callEnded(a!, 1, false); // no kernel link to send the withdrawal by
    assert.equal(out.busy(1), true, 'its message may still overtake a kernel send: mailbox 1 stays busy');
    linkUp = true;
    out.callEnded(b!, 2, false);
    assert.deepStrictEqual([withdrawn, out.busy(2)], [[b], false]);
    out.fail(new FosError('ECONNRESET', 'the receiver dropped the ring'));
    out.callEnded(c!, 3, false);
    assert.deepStrictEqual(withdrawn, [b], 'a failed channel withdraws nothing: the seq would name a record of the next channel');
  });

  it('sends a call tracked instead when untracked would break order or bounds', async () => {
    const { out, inn } = channel();
    // A tracked message to mailbox 1 without its verdict: a call to 1 must not overtake a backlog behind it, so it goes tracked.
    const first = settled(out.send(msg('tracked'), { wait: true }));
    assert.equal(out.sendCall(untrackedCall(1, 1)), undefined, 'mailbox 1 has a message in flight in the flow');
    assert.equal(typeof out.sendCall(untrackedCall(2, 2)), 'number', 'mailbox 2 has none');
    inn.drain(() => 'admitted');
    out.poll();
    assert.equal(await first, 'ok');
    assert.equal(typeof out.sendCall(untrackedCall(3, 1)), 'number', 'once its verdict came, mailbox 1 takes untracked calls');
    // At most a window of them open.
    let sent = out.untrackedCalls;
    while (out.sendCall(untrackedCall(100 + sent, 3)) !== undefined) sent++;
    assert.equal(out.untrackedCalls, out.flow.window, 'open untracked calls stop at the window');
    out.callEnded(1, 3, true);
    assert.equal(typeof out.sendCall(untrackedCall(9999, 3)), 'number', 'one ended: room for one more');
    // A failed channel sends nothing untracked.
    out.fail(new FosError('ECONNRESET', 'gone'));
    assert.equal(out.sendCall(untrackedCall(10_000, 4)), undefined);
  });
});
