// shm channels when things go wrong: a corrupt record, a receiver that is
// parked, a peer isolate that dies or stops with messages on the channel.
// The ring is reached through the runtime's internals (runtime().shm) and
// corrupted in place, where the layout of ring.ts says the records are.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { boot, call, connect, createMailbox, FosError, lookup, send, type Ref, type Remote } from '../src/index.js';
import { runtime } from '../src/runtime/current.js';
import { PARKED, STATE } from '../src/transport/shm/doorbell.js';
import { HEAD, ringBytes, TAIL } from '../src/transport/shm/ring.js';
import type { ShmPeer } from './fixtures/shm-peer.js';
import { codeOf, eventually, within } from './helpers/places.js';

const PEER = new URL('./fixtures/shm-peer.js', import.meta.url);

const node = await boot();
after(() => node.shutdown());
const rt = runtime();

let spawned = 0;
/** A fresh worker (no channel history with this thread); the test's own calls to it go by kernel. */
async function freshPeer(): Promise<{ peer: Remote<ShmPeer>; isolate: number; gate: Int32Array; stop: () => Promise<void> }> {
  const gate = new SharedArrayBuffer(8);
  const name = `/faults/peer-${++spawned}`;
  const svc = await node.spawn(PEER, { data: { name, gate } });
  return { peer: connect<ShmPeer>(name, { timeout: 30_000, transport: 'kernel' }), isolate: svc.isolates[0]!, gate: new Int32Array(gate), stop: () => svc.stop() };
}

/** A fresh peer with a mailbox of `capacity`, and an shm channel to it open and used once. */
async function peerOnShm(capacity: number): Promise<Awaited<ReturnType<typeof freshPeer>> & { id: number; ref: Ref }> {
  const p = await freshPeer();
  const { id, ref } = await p.peer.box(capacity);
  await send(ref, 'warm', { transport: 'shm' });
  assert.deepStrictEqual(await p.peer.take(id, 1, 5000), ['warm']);
  return { ...p, id, ref };
}

type Outcome = { readonly ok: true } | { readonly ok: false; readonly code: string };
function outcome(p: Promise<unknown>): Promise<Outcome> {
  return p.then(
    () => ({ ok: true }) as const,
    (e: unknown) => ({ ok: false, code: e instanceof FosError ? e.code : `not a FosError: ${String(e)}` }) as const,
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- the ring's layout (ring.ts) ----------------------------------------
const DATA = ringBytes(0); // the data area starts after the control words
const PAD = 1 << 30;
const LEN_MASK = 0x0fff_ffff;

function counter(sab: SharedArrayBuffer, word: number): number {
  return Atomics.load(new Int32Array(sab), word) >>> 0;
}

/** Byte offsets in `sab` of the headers of the records (PAD skipped) between ring positions `from` and `to`. */
function recordHeaders(sab: SharedArrayBuffer, capacity: number, from: number, to: number): number[] {
  const words = new Int32Array(sab, DATA, capacity / 4);
  const out: number[] = [];
  for (let p = from; p !== to; ) {
    const pos = p & (capacity - 1);
    const hdr = words[pos >> 2]!;
    if (hdr & PAD) {
      p = (p + capacity - pos) >>> 0;
      continue;
    }
    out.push(DATA + pos);
    p = (p + ((4 + (hdr & LEN_MASK) + 3) & ~3)) >>> 0;
  }
  return out;
}

/** Holds the peer's thread (so that nothing drains its rings) until `release()`. */
async function hold(peer: Remote<ShmPeer>, gate: Int32Array): Promise<{ release: () => Promise<boolean> }> {
  const blocking = peer.block(20_000);
  await eventually(() => Atomics.load(gate, 0) === 1, 5000, 'the peer to block');
  return {
    release: async () => {
      Atomics.store(gate, 1, 1);
      Atomics.notify(gate, 1);
      return blocking;
    },
  };
}

const CORRUPTIONS = [
  { what: 'a length that runs past the ring', apply: (w: Int32Array, at: number) => Atomics.store(w, at >> 2, 0x0fff_fff0) },
  { what: 'a header with bit 31 set', apply: (w: Int32Array, at: number) => Atomics.store(w, at >> 2, w[at >> 2]! | 0x8000_0000) },
  { what: 'a middle fragment with no first', apply: (w: Int32Array, at: number) => Atomics.store(w, at >> 2, w[at >> 2]! | (2 << 28)) },
  { what: 'an undecodable record (unknown record type)', apply: (w: Int32Array, at: number) => new Uint8Array(w.buffer).fill(0x7f, at + 4, at + 5) },
] as const;

describe('a corrupt record', () => {
  for (const c of CORRUPTIONS) {
    it(`${c.what}: the channel fails, its pending sends get ECONNRESET, nothing garbled is delivered, later traffic goes by kernel`, async () => {
      const { peer, isolate, gate, stop, id, ref } = await peerOnShm(64);
      const out = rt.shm.out(isolate);
      assert.ok(out !== undefined, 'a channel to the peer is open');

      const held = await hold(peer, gate);
      const t0 = counter(out.sab, TAIL);
      assert.equal(counter(out.sab, HEAD), t0, 'the ring is empty');
      const messages = ['m0', 'm1', 'm2', 'm3', 'm4'];
      const sends = messages.map((m) => outcome(send(ref, m, { transport: 'shm' })));
      const headers = recordHeaders(out.sab, out.capacity, t0, counter(out.sab, TAIL));
      assert.equal(headers.length, messages.length, 'one record per message');
      c.apply(new Int32Array(out.sab), headers[2]!); // m2's record
      assert.equal(await held.release(), true);

      const outcomes = await within(Promise.all(sends), 5000, 'the sends on the corrupt channel');
      for (const i of [2, 3, 4]) assert.deepStrictEqual(outcomes[i], { ok: false, code: 'ECONNRESET' }, `send of ${messages[i]}`);
      const delivered = await peer.drain(id);
      assert.equal(rt.shm.out(isolate), undefined, 'the failed channel is gone');

      // Later traffic to the isolate still works, by kernel.
      const before = rt.stats().transports;
      await send(ref, 'after, auto');
      await send(ref, 'after, shm asked', { transport: 'shm' });
      const now = rt.stats().transports;
      assert.equal(now.kernel.messagesSent - before.kernel.messagesSent, 2, 'both went by kernel');
      assert.equal(now.shm.messagesSent, before.shm.messagesSent, 'none by shm');
      assert.deepStrictEqual(await peer.drain(id), ['after, auto', 'after, shm asked']);
      assert.equal(await peer.whoami(), isolate, 'the peer itself lives on');
      await stop();
      // A send resolves exactly when its message reached the mailbox (DESIGN.md §3):
      // m0 and m1, before the corrupt record, may be delivered, but then their sends resolve.
      const resolved = messages.filter((_, i) => outcomes[i]!.ok);
      assert.deepStrictEqual(delivered, resolved, `delivered ${JSON.stringify(delivered)}, sends resolved for ${JSON.stringify(resolved)}`);
    });
  }

  it('calls carried without a verdict: those after the corrupt record fail with ECONNRESET at once, one waiting for room too, those delivered before get their answers', async () => {
    const { peer, isolate, gate, stop } = await peerOnShm(64);
    // One handler at a time there, one call queued, the next waits for room.
    const [service] = await lookup(`/faults/peer-${spawned}/calls`);
    const out = rt.shm.out(isolate)!;
    const held = await hold(peer, gate);
    const t0 = counter(out.sab, TAIL);
    const opts = { transport: 'shm', timeout: 30_000 } as const;
    const raw = [
      call(service!, 'slow', [300], opts), // runs, and answers after the failure
      call(service!, 'slow', [10], opts), // queued behind it
      call(service!, 'whoami', [], opts), // waits for room when the channel fails
      call(service!, 'whoami', [], opts), // its record is corrupted
      call(service!, 'whoami', [], opts), // never read
    ];
    const calls = raw.map(outcome);
    assert.equal(out.untrackedCalls, 5, 'the calls went untracked');
    const headers = recordHeaders(out.sab, out.capacity, t0, counter(out.sab, TAIL));
    assert.equal(headers.length, 5, 'one record per call');
    Atomics.store(new Int32Array(out.sab), headers[3]! >> 2, 0x0fff_fff0);
    const started = performance.now();
    assert.equal(await held.release(), true);
    const outcomes = await within(Promise.all(calls), 5000, 'the calls on the corrupt channel');
    assert.ok(performance.now() - started < 5000, 'they end long before their timeout');
    const reset = { ok: false, code: 'ECONNRESET' } as const;
    assert.deepStrictEqual(outcomes, [{ ok: true }, { ok: true }, reset, reset, reset]);
    // The held call was withdrawn by the receiver (its record was handled), the others failed here (after the last record handled).
    const messages = await Promise.all(raw.slice(2).map((c) => c.then(() => '', (e: unknown) => (e instanceof FosError ? e.message : String(e)))));
    assert.match(messages[0]!, /withdrawn while it waited for room/);
    for (const m of messages.slice(1)) assert.doesNotMatch(m, /withdrawn/);
    assert.equal(await call(service!, 'whoami', [], { timeout: 5000 }), isolate, 'later calls go by kernel and are answered');
    await stop();
  });

  it("a corrupt record in the ring that brings answers back: this isolate's calls to the peer end with ECONNRESET at once", async () => {
    const { isolate, stop } = await peerOnShm(64);
    const [service] = await lookup(`/faults/peer-${spawned}/calls`);
    // An answer comes back over the peer's ring to this thread: open it.
    assert.equal(await call(service!, 'whoami', [], { transport: 'shm' }), isolate);
    const back = rt.shm.in(isolate);
    assert.ok(back !== undefined, "the peer's ring to this thread is open");
    const pending = outcome(call(service!, 'slow', [3000], { transport: 'shm', timeout: 30_000 }));
    await sleep(50); // the call is on its way; its answer is 3 s off
    // A record the peer never wrote: a header whose length runs past the ring.
    const ctl = new Int32Array(back.sab);
    const tail = Atomics.load(ctl, TAIL) >>> 0;
    Atomics.store(new Int32Array(back.sab, DATA, back.capacity / 4), (tail & (back.capacity - 1)) >> 2, 0x0fff_fff0);
    const started = performance.now();
    Atomics.store(ctl, TAIL, (tail + 8) | 0);
    assert.deepStrictEqual(await within(pending, 2000, 'the call whose answer the ring would have carried'), { ok: false, code: 'ECONNRESET' });
    assert.ok(performance.now() - started < 2000, 'at once, not when the answer was due');
    assert.equal(rt.shm.in(isolate), undefined, 'the corrupt ring is dropped');
    await stop();
  });

  it('messages waiting for room when the channel fails: a send resolves exactly when its message is delivered', async () => {
    const { peer, isolate, gate, stop } = await freshPeer();
    const { id, ref } = await peer.box(1);
    await send(ref, 'x', { transport: 'shm' }); // fills the mailbox
    const waiting = ['h0', 'h1', 'h2'];
    const heldSends = waiting.map((m) => outcome(send(ref, m, { transport: 'shm' })));
    await eventually(async () => (await peer.depth(id)).waiting === 3, 5000, 'three sends to wait for room');
    const out = rt.shm.out(isolate)!;
    const held = await hold(peer, gate);
    const t0 = counter(out.sab, TAIL);
    const corrupt = outcome(send(ref, 'c0', { transport: 'shm' }));
    const [header] = recordHeaders(out.sab, out.capacity, t0, counter(out.sab, TAIL));
    Atomics.store(new Int32Array(out.sab), header! >> 2, 0x0fff_fff0);
    assert.equal(await held.release(), true);

    assert.deepStrictEqual(await within(corrupt, 5000, 'the send of the corrupt record'), { ok: false, code: 'ECONNRESET' });
    const outcomes = await within(Promise.all(heldSends), 5000, 'the waiting sends');
    for (const o of outcomes) assert.ok(o.ok || o.code === 'ECONNRESET', `a waiting send ended with ${JSON.stringify(o)}`);
    const delivered = await peer.drain(id);
    const resolved = waiting.filter((_, i) => outcomes[i]!.ok);
    assert.deepStrictEqual(delivered, ['x', ...resolved], `delivered ${JSON.stringify(delivered)}, sends resolved for ${JSON.stringify(resolved)}`);
    await stop();
  });
});

describe('waiting: a parked receiver is woken', () => {
  it('a worker parked on its doorbell receives an shm message promptly', async () => {
    const { peer, isolate, stop, id, ref } = await peerOnShm(16);
    const bell = rt.shm.peer(isolate)?.bell;
    assert.ok(bell !== undefined);
    const taking = peer.take(id, 1, 10_000);
    await eventually(() => Atomics.load(bell, STATE) === PARKED, 5000, 'the peer to park');
    await sleep(100); // idle far longer than its spin budget
    assert.equal(Atomics.load(bell, STATE), PARKED, 'still parked: it sleeps, it does not spin');
    const t0 = performance.now();
    await within(send(ref, 'wake up', { transport: 'shm' }), 2000, 'the send to a parked receiver');
    assert.deepStrictEqual(await within(taking, 2000, 'the parked receiver'), ['wake up']);
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `received ${ms.toFixed(1)} ms after the send`);
    await stop();
  });

  it('the main thread parked on its doorbell receives an shm message from a worker promptly', async () => {
    const { peer, stop } = await freshPeer();
    const mb = await createMailbox({ capacity: 16 });
    await peer.sendLater(mb.ref, 'warm', 0, 'shm');
    assert.equal((await mb.receive({ signal: AbortSignal.timeout(5000) })).data, 'warm');
    const bell = rt.shm.icb.bell;
    const delay = 400;
    await peer.sendLater(mb.ref, 'wake up', delay, 'shm');
    const receiving = mb.receive({ signal: AbortSignal.timeout(10_000) });
    await eventually(() => Atomics.load(bell, STATE) === PARKED, delay / 2, 'the main thread to park');
    const m = await within(receiving, 5000, 'the parked main thread');
    const receivedAt = performance.timeOrigin + performance.now();
    assert.equal(m.data, 'wake up');
    await eventually(async () => (await peer.sentAt()) !== undefined, 2000, 'the peer to report its send');
    const sent = await peer.sentAt();
    assert.equal(sent?.error, undefined);
    const ms = receivedAt - sent!.at;
    assert.ok(ms < 1000, `received ${ms.toFixed(1)} ms after the send`);
    mb.close();
    await stop();
  });
});

describe('a peer isolate that goes away', () => {
  it('dies: its channels are torn down and every pending send gets ECONNRESET promptly', async () => {
    const sourcesBefore = rt.shm.pump.size;
    const { peer, isolate } = await freshPeer();
    const { ref } = await peer.box(1);
    await send(ref, 'x', { transport: 'shm' }); // fills the mailbox
    const pending = Array.from({ length: 5 }, (_, i) => outcome(send(ref, i, { transport: 'shm' })));
    await eventually(async () => rt.shm.out(isolate) !== undefined && (await peer.depth(1)).waiting === 5, 5000, 'five sends to wait for room');
    assert.ok(rt.shm.pump.size > sourcesBefore, 'the channel is served by the pump');
    const t0 = performance.now();
    await peer.exitSoon(20, 3);
    const outcomes = await within(Promise.all(pending), 5000, 'the sends to the dead peer');
    assert.ok(performance.now() - t0 < 1000, `they failed ${(performance.now() - t0).toFixed(0)} ms after the exit`);
    for (const o of outcomes) assert.deepStrictEqual(o, { ok: false, code: 'ECONNRESET' });
    assert.equal(rt.shm.out(isolate), undefined, 'the channel to it is gone');
    assert.equal(rt.shm.in(isolate), undefined, 'the channel from it is gone');
    assert.equal(rt.shm.peer(isolate), undefined, 'its control block is forgotten');
    assert.equal(rt.shm.pump.size, sourcesBefore, 'the pump serves none of its channels');
    const later = await outcome(send(ref, 'anyone?', { transport: 'shm' }));
    assert.ok(!later.ok && (later.code === 'ENOENT' || later.code === 'ECONNRESET'), `a later send ended with ${JSON.stringify(later)}`);
  });

  it('dies with a full ring and more waiting to be written: every one of those sends gets ECONNRESET', async () => {
    const { peer, isolate, gate, id, ref } = await peerOnShm(1024);
    const blocking = peer.block(20_000, 4).catch(() => 'ended'); // exits as soon as the gate opens
    await eventually(() => Atomics.load(gate, 0) === 1, 5000, 'the peer to block');
    const out = rt.shm.out(isolate)!;
    const big = new Uint8Array(64 * 1024);
    const count = Math.ceil((2 * out.capacity) / big.length); // twice what the ring holds
    const pending = Array.from({ length: count }, () => outcome(send(ref, big, { transport: 'shm' })));
    assert.ok(counter(out.sab, TAIL) - counter(out.sab, HEAD) > out.capacity / 2, 'the ring filled up');
    const t0 = performance.now();
    Atomics.store(gate, 1, 1);
    Atomics.notify(gate, 1);
    await blocking;
    const outcomes = await within(Promise.all(pending), 5000, 'the sends to the dead peer');
    assert.ok(performance.now() - t0 < 1000, 'they failed promptly');
    assert.deepStrictEqual(new Set(outcomes.map((o) => JSON.stringify(o))), new Set([JSON.stringify({ ok: false, code: 'ECONNRESET' })]));
    assert.equal(rt.shm.out(isolate), undefined);
  });

  it('stops: the pending sends get ECLOSED', async () => {
    const { peer, isolate, stop } = await freshPeer();
    const { id, ref } = await peer.box(1);
    await send(ref, 'x', { transport: 'shm' });
    const pending = Array.from({ length: 5 }, (_, i) => outcome(send(ref, i, { transport: 'shm' })));
    await eventually(async () => (await peer.depth(id)).waiting === 5, 5000, 'five sends to wait for room');
    await stop();
    const outcomes = await within(Promise.all(pending), 5000, 'the sends to the stopped peer');
    for (const o of outcomes) assert.deepStrictEqual(o, { ok: false, code: 'ECLOSED' });
    assert.equal(rt.shm.out(isolate), undefined);
  });
});

describe('a full ring', () => {
  it('pushes back: waiting sends wait in order, a non-waiting send fails with EAGAIN, all arrive once the receiver drains', async () => {
    const { peer, gate, stop, id, ref } = await peerOnShm(1024);
    const held = await hold(peer, gate); // the peer's thread is held: nobody drains its rings
    // 64 KiB messages: 24 of them are more than the 1 MiB ring holds.
    const big = (i: number): Uint8Array => new Uint8Array(64 * 1024).fill(i);
    const waiting = Array.from({ length: 24 }, (_, i) => send(ref, big(i), { transport: 'shm' }));
    const settledEarly = await Promise.race([Promise.allSettled(waiting).then(() => true), new Promise((r) => setTimeout(r, 100, false))]);
    assert.equal(settledEarly, false, 'with the ring full, the sends wait');
    assert.equal(await codeOf(send(ref, 'no wait', { transport: 'shm', wait: false })), 'EAGAIN');
    await held.release();
    await Promise.all(waiting);
    const got = (await peer.take(id, 24, 10_000)) as Uint8Array[];
    assert.deepStrictEqual(got.map((b) => [b.length, b[0]]), Array.from({ length: 24 }, (_, i) => [64 * 1024, i]));
    assert.deepStrictEqual(await peer.drain(id), [], 'the refused message was not delivered');
    await stop();
  });
});
