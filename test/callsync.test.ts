// callSync: a call that blocks the calling thread until the answer, over
// shm, from the main thread and from a worker, to a normal service and to a
// polling one (`poll: true`); its errors, its timeout, the server dying
// under it, and polling services that still shut down.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { after, describe, it } from 'node:test';
import { boot, call, callSync, connect, FosError, lookup, serve, type IsolateReport } from '../src/index.js';
import { runtime } from '../src/runtime/current.js';
import { markDead, PARKED, STATE } from '../src/transport/shm/doorbell.js';
import { DEFAULT_RING_CAPACITY } from '../src/transport/shm/channel.js';
import { SLOT_BYTES, slotBytes, SyncSlot } from '../src/transport/shm/sync-slot.js';
import type { SyncCaller, SyncOutcome, SyncRequest } from './fixtures/sync-caller.js';
import { codeOf, ECHO, eventually } from './helpers/places.js';

const CALLER = new URL('./fixtures/sync-caller.js', import.meta.url);
const POLL_CHILD = new URL('./fixtures/sync-poll-child.js', import.meta.url);

const node = await boot();
after(() => node.shutdown());

const echoSvc = await node.spawn(ECHO, { data: { name: '/cs/echo' } });
const pollSvc = await node.spawn(ECHO, { poll: true, data: { name: '/cs/poll-echo' } });
await node.spawn(CALLER, { data: { name: '/cs/caller' } });
const caller = connect<SyncCaller>('/cs/caller', { timeout: 30_000 });
// A service of the main thread.
const mainSvc = serve('/cs/main', { twice: (x: number) => 2 * x, whoami: () => 0 });
await mainSvc.ready;

const servers = [
  { kind: 'a normal service', name: '/cs/echo', isolate: echoSvc.isolates[0]! },
  { kind: 'a polling service', name: '/cs/poll-echo', isolate: pollSvc.isolates[0]! },
] as const;

/** Runs `f`, which should throw a FosError; returns it and how long `f` blocked. */
function syncError(f: () => unknown): { err: FosError; ms: number } {
  const t0 = performance.now();
  try {
    const v = f();
    assert.fail(`expected a FosError, got the value ${JSON.stringify(v)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof FosError, `expected a FosError, got ${String(e)}`);
    return { err: e, ms: performance.now() - t0 };
  }
}

/** Asserts a worker's outcome failed with `code`; returns it. */
function failedWith(o: SyncOutcome, code: string): SyncOutcome {
  assert.equal(o.ok, false, `expected ${code}, got the value ${JSON.stringify(o.value)}`);
  assert.equal(o.code, code, `expected ${code}, got ${o.code}: ${o.message}`);
  return o;
}

const TIMEOUT = 100;
/** The loose bound of a timed-out callSync: no earlier than 0.8x its timeout, no later than 5x. */
function assertTimedOutIn(ms: number): void {
  assert.ok(ms >= 0.8 * TIMEOUT && ms <= 5 * TIMEOUT, `ETIMEDOUT after ${ms.toFixed(1)} ms for a timeout of ${TIMEOUT} ms`);
}

async function reportOf(isolate: number): Promise<IsolateReport | undefined> {
  return (await node.stats()).isolates.find((i) => i.isolate === isolate);
}

/** A request three times the ring's size, and what the server's `sum` says of it. */
const LARGE = Uint8Array.from({ length: 3 * DEFAULT_RING_CAPACITY }, (_, i) => (i * 31) & 255);
const LARGE_SUM = [LARGE.length, LARGE.reduce((a, b) => (a + b) >>> 0, 0)];

const value = { a: [1, 2, { b: 'c' }], m: new Map([[1, 'one']]), d: new Date(5), n: 10n, bytes: new Uint8Array([1, 2, 3]), s: 'é' };
const simple = [1, 'é', new Uint8Array([1, 2]), [null, undefined, true], 0.5, 'x'.repeat(100)];

for (const s of servers) {
  describe(`callSync from the main thread to ${s.kind}`, () => {
    it('answers with the value, by shm', () => {
      const rt = runtime();
      const before = rt.stats().transports.shm;
      const sent = before.messagesSent;
      const received = before.messagesReceived;
      assert.deepStrictEqual(callSync(s.name, 'echo', [value]), value);
      // Simple values (simple-values.ts) travel in their own encoding, both ways.
      assert.deepStrictEqual(callSync(s.name, 'echo', [simple]), simple);
      assert.equal(callSync(s.name, 'whoami'), s.isolate, 'the handler ran in the serving isolate');
      const after = rt.stats().transports.shm;
      assert.equal(after.messagesSent - sent, 3, 'the requests went by shm');
      assert.equal(after.messagesReceived - received, 3, 'the answers came by shm');
      assert.ok(rt.shm.out(s.isolate) !== undefined, 'the main thread has an shm channel to the server');
    });

    it('works with a ref as target, many times in a row', async () => {
      const [ref] = await lookup(s.name);
      for (let i = 0; i < 300; i++) assert.equal(callSync(ref!, 'echo', [i]), i);
    });

    it('a throwing handler: EREMOTE with its message, code and stack', () => {
      const { err } = syncError(() => callSync(s.name, 'fail', ['it broke', 'EBROKE']));
      assert.equal(err.code, 'EREMOTE');
      assert.equal(err.remote?.message, 'it broke');
      assert.equal(err.remote?.code, 'EBROKE');
      assert.match(err.remote?.stack ?? '', /fixtures[/\\]echo\.js/);
      const { err: rejected } = syncError(() => callSync(s.name, 'failAsync', ['async trouble']));
      assert.equal(rejected.code, 'EREMOTE');
      assert.equal(rejected.remote?.name, 'TypeError');
      assert.equal(rejected.remote?.message, 'async trouble');
    });

    it('an answer that cannot be encoded: EINVAL at once, and the service goes on', () => {
      const { err, ms } = syncError(() => callSync(s.name, 'unreadable', [], { timeout: 5000 }));
      assert.equal(err.code, 'EINVAL');
      assert.match(err.message, /cannot be read/);
      assert.ok(ms < 2000, `the caller heard at once (${ms.toFixed(0)} ms), not by its timeout`);
      assert.equal(callSync(s.name, 'echo', ['still there']), 'still there');
    });

    it('needs no verdict: a run of callSyncs publishes none on the channel (no cache line moved for nothing)', () => {
      callSync(s.name, 'echo', [0]); // the channel exists
      const out = runtime().shm.out(s.isolate)!;
      const done = new Int32Array(out.sab, out.capacity + 256, 1); // the receiver's published `done` (channel.ts)
      const before = Atomics.load(done, 0);
      for (let i = 0; i < 50; i++) assert.equal(callSync(s.name, 'echo', [i]), i);
      assert.equal(Atomics.load(done, 0), before);
    });

    it('a request larger than the ring arrives whole; an answer larger than the sync slot is EMSGSIZE at once', () => {
      assert.deepStrictEqual(callSync(s.name, 'sum', [LARGE], { timeout: 20_000 }), LARGE_SUM);
      assert.equal(callSync(s.name, 'echo', ['next']), 'next', 'nothing of it is left waiting: the next call goes at once');
      const { err, ms } = syncError(() => callSync(s.name, 'bytes', [SLOT_BYTES + 1], { timeout: 20_000 }));
      assert.equal(err.code, 'EMSGSIZE');
      assert.ok(ms < 5000, `the caller heard at once (${ms.toFixed(0)} ms), not by its timeout`);
      assert.equal((callSync(s.name, 'bytes', [SLOT_BYTES - 64]) as Uint8Array).length, SLOT_BYTES - 64);
    });

    it('a request larger than the ring to a server that takes none of it: ETIMEDOUT honours the timeout, and the request still arrives', async () => {
      const busy = call(s.name, 'spin', [6 * TIMEOUT]);
      await new Promise((r) => setTimeout(r, 20)); // the server is spinning
      const { err, ms } = syncError(() => callSync(s.name, 'sum', [LARGE], { timeout: TIMEOUT }));
      assert.equal(err.code, 'ETIMEDOUT');
      assertTimedOutIn(ms);
      assert.equal(await busy, 6 * TIMEOUT);
      // The rest of the request goes from the event loop, and the server gets it whole; the late answer to it is passed over.
      await eventually(async () => JSON.stringify(await call(s.name, 'lastSum', [])) === JSON.stringify(LARGE_SUM), 10_000, 'the whole request to arrive');
      assert.deepStrictEqual(await call(s.name, 'sum', [LARGE.subarray(0, 10)]), [10, LARGE.subarray(0, 10).reduce((a, b) => a + b, 0)]);
      assert.equal(callSync(s.name, 'echo', ['after']), 'after');
    });

    it('what only a structured clone carries fails with EINVAL, request or answer; an async call over shm gets it', async () => {
      const request = syncError(() => callSync(s.name, 'echo', [{ shared: new SharedArrayBuffer(8) }]));
      assert.equal(request.err.code, 'EINVAL');
      assert.match(request.err.message, /^EINVAL: the request holds a SharedArrayBuffer, which only a structured clone carries as it is: it cannot go by callSync/);
      const answer = syncError(() => callSync(s.name, 'blob', ['hi']));
      assert.equal(answer.err.code, 'EINVAL');
      assert.match(answer.err.message, /the answer holds a Blob, which only a structured clone carries as it is: it cannot go into a callSync's answer/);
      // The same answer to an async call that came by shm goes back by kernel.
      const blob = await call(s.name, 'blob', ['hi'], { transport: 'shm' });
      assert.ok(blob instanceof Blob && (await blob.text()) === 'hi');
      assert.equal(callSync(s.name, 'echo', ['after']), 'after');
    });

    it('an unknown method: ENOSYS', () => {
      assert.equal(syncError(() => callSync(s.name, 'noSuchMethod', [])).err.code, 'ENOSYS');
      assert.equal(syncError(() => callSync(s.name, 'toString', [])).err.code, 'ENOSYS');
    });

    it('ETIMEDOUT honours the timeout; the late answer is dropped and later callSyncs get their own answers', async () => {
      const { err, ms } = syncError(() => callSync(s.name, 'slow', [3 * TIMEOUT], { timeout: TIMEOUT }));
      assert.equal(err.code, 'ETIMEDOUT');
      assertTimedOutIn(ms);
      // The first answer ('slept 300') comes while this call waits: it must not be taken for this one's.
      assert.equal(callSync(s.name, 'slow', [4 * TIMEOUT], { timeout: 10_000 }), `slept ${4 * TIMEOUT}`);
      assert.equal(callSync(s.name, 'echo', ['after the timeout']), 'after the timeout');
      // The same, with the event loop running while the late answer comes.
      const again = syncError(() => callSync(s.name, 'slow', [2 * TIMEOUT], { timeout: TIMEOUT }));
      assert.equal(again.err.code, 'ETIMEDOUT');
      await new Promise((r) => setTimeout(r, 3 * TIMEOUT));
      assert.equal(callSync(s.name, 'echo', ['later still']), 'later still');
      assert.equal(await call(s.name, 'echo', ['and async']), 'and async');
    });
  });

  describe(`callSync from a worker to ${s.kind}`, () => {
    it('answers with the value', async () => {
      assert.deepStrictEqual(await caller.relay(s.name, 'echo', [value]), value);
      const o = await caller.attempt(s.name, 'whoami', []);
      assert.deepStrictEqual({ ok: o.ok, value: o.value }, { ok: true, value: s.isolate });
    });

    it('EREMOTE from a throwing handler, ENOSYS for an unknown method', async () => {
      const o = failedWith(await caller.attempt(s.name, 'fail', ['worker broke', 'EWB']), 'EREMOTE');
      assert.equal(o.remoteMessage, 'worker broke');
      assert.equal(o.remoteCode, 'EWB');
      failedWith(await caller.attempt(s.name, 'noSuchMethod', []), 'ENOSYS');
    });

    it('a request larger than the ring arrives whole; an answer larger than the sync slot is EMSGSIZE at once', async () => {
      const [large, oversize, next] = await caller.attemptAll([
        [s.name, 'sum', [LARGE], 20_000],
        [s.name, 'bytes', [SLOT_BYTES + 1], 20_000],
        [s.name, 'echo', ['next'], 10_000],
      ]);
      assert.deepStrictEqual([large?.ok, large?.value], [true, LARGE_SUM], `${large?.code}: ${large?.message}`);
      assert.ok(failedWith(oversize!, 'EMSGSIZE').ms < 5000, `the caller heard at once (${oversize?.ms.toFixed(0)} ms)`);
      assert.deepStrictEqual([next?.ok, next?.value], [true, 'next']);
    });

    it('ETIMEDOUT honours the timeout; the late answer is dropped and a later callSync works', async () => {
      const [timedOut, next, last] = await caller.attemptAll([
        [s.name, 'slow', [3 * TIMEOUT], TIMEOUT],
        [s.name, 'slow', [4 * TIMEOUT], 10_000],
        [s.name, 'echo', ['after'], 10_000],
      ]);
      assertTimedOutIn(failedWith(timedOut!, 'ETIMEDOUT').ms);
      assert.deepStrictEqual([next?.ok, next?.value], [true, `slept ${4 * TIMEOUT}`], 'the late answer was not taken for the next call');
      assert.deepStrictEqual([last?.ok, last?.value], [true, 'after']);
    });
  });
}

describe('callSync: errors that need no server', () => {
  it('ENOENT for an unknown name, at once, from the main thread and from a worker', async () => {
    const main = syncError(() => callSync('/cs/nobody/home', 'echo', [1], { timeout: 10_000 }));
    assert.equal(main.err.code, 'ENOENT');
    assert.ok(main.ms < 1000, `ENOENT after ${main.ms.toFixed(0)} ms`);
    const o = failedWith(await caller.attempt('/cs/nobody/home', 'echo', [1], 10_000), 'ENOENT');
    assert.ok(o.ms < 1000, `ENOENT after ${o.ms.toFixed(0)} ms in the worker`);
  });

  it("EINVAL for a callSync to a service in the caller's own isolate", async () => {
    assert.equal(syncError(() => callSync('/cs/main', 'twice', [2])).err.code, 'EINVAL');
    const [ref] = await lookup('/cs/main');
    assert.equal(syncError(() => callSync(ref!, 'twice', [2])).err.code, 'EINVAL');
    assert.equal(await call('/cs/main', 'twice', [2]), 4, 'the service itself works, by call()');
    failedWith(await caller.attempt('/cs/caller', 'whoami', [], 1000), 'EINVAL');
  });

  it('EINVAL for malformed arguments', () => {
    assert.equal(syncError(() => callSync('/cs/echo', 42 as unknown as string, [])).err.code, 'EINVAL');
    assert.equal(syncError(() => callSync('/cs/echo', 'echo', 'x' as unknown as unknown[])).err.code, 'EINVAL');
    assert.equal(syncError(() => callSync('/cs/echo', 'echo', [], { timeout: -1 })).err.code, 'EINVAL');
    for (const spinMicros of ['abc', -1, Number.NaN, Infinity]) {
      const { err } = syncError(() => callSync('/cs/echo', 'echo', [], { spinMicros: spinMicros as number }));
      assert.equal(err.code, 'EINVAL', String(spinMicros));
      assert.match(err.message, /spinMicros is a number of µs >= 0, got /);
    }
  });

  it('a timeout of 0 ms: ETIMEDOUT, as for an async call, and the request is not sent', async () => {
    const sent = async (): Promise<number> => {
      const { transports } = (await node.stats()).isolates.find((i) => i.isolate === 0)!.stats!;
      return transports.shm.messagesSent + transports.kernel.messagesSent;
    };
    const before = await sent();
    const sync = syncError(() => callSync('/cs/echo', 'echo', ['now'], { timeout: 0 }));
    assert.equal(sync.err.code, 'ETIMEDOUT', sync.err.message);
    assert.equal(await codeOf(call('/cs/echo', 'echo', ['now'], { timeout: 0 })), 'ETIMEDOUT');
    assert.equal(await codeOf(call('/cs/echo', 'echo', ['now'], { timeout: 0, transport: 'shm' })), 'ETIMEDOUT');
    assert.equal(await sent(), before, 'no request left, by shm or kernel');
    assert.equal(callSync('/cs/echo', 'echo', ['later']), 'later');
  });

  it("from a worker, a name's first lookup takes its part of the call's timeout: ETIMEDOUT in time while the main thread cannot answer", async () => {
    await node.spawn(ECHO, { data: { name: '/cs/fresh' } }); // a name the worker has never looked up
    await caller.whoami(); // this thread has the caller's name: the attempt below leaves at once
    const attempt = caller.attempt('/cs/fresh', 'echo', ['x'], TIMEOUT);
    // The main thread, which answers the worker's lookups, is busy for 10 timeouts.
    await Promise.resolve();
    const end = performance.now() + 10 * TIMEOUT;
    while (performance.now() < end);
    const timedOut = failedWith(await attempt, 'ETIMEDOUT');
    assertTimedOutIn(timedOut.ms);
    assert.match(timedOut.message ?? '', /the lookup of \/cs\/fresh took the whole callSync timeout/);
    // The late answer to the lookup is passed over; the next call looks the name up again and goes.
    assert.deepStrictEqual((await caller.attempt('/cs/fresh', 'echo', ['y'], 10_000)).value, 'y');
  });

  it("from a member of a fleet to its own fleet: round robin passes over the caller's isolate", async () => {
    const fleet = await node.spawn(CALLER, { count: 2, data: { name: '/cs/fleet' } });
    const ask: SyncRequest[] = Array.from({ length: 6 }, () => ['/cs/fleet', 'whoami', [], 5000]);
    const answered = new Set<unknown>();
    for (let i = 0; i < 4; i++) {
      const outcomes = (await call('/cs/fleet', 'attemptAll', [ask])) as SyncOutcome[];
      assert.ok(outcomes.every((o) => o.ok), `every callSync went: ${JSON.stringify(outcomes.filter((o) => !o.ok))}`);
      const by = new Set(outcomes.map((o) => o.value));
      assert.equal(by.size, 1, `all answered by the one other member: ${[...by].join(', ')}`);
      answered.add([...by][0]);
    }
    assert.deepStrictEqual([...answered].sort(), [...fleet.isolates].sort(), 'each member called the other');
  });

  it('from a worker to a service of the main thread', async () => {
    const o = await caller.attempt('/cs/main', 'twice', [21], 5000);
    assert.deepStrictEqual([o.ok, o.value, o.code], [true, 42, undefined]);
  });
});

describe('callSync keeps FIFO per mailbox: it never overtakes what this isolate sent before', () => {
  it('EAGAIN while an earlier call waits for its name lookup; the callSync works once it has gone', async () => {
    // A fresh name: the main thread has never looked it up, so the async call waits for its lookup.
    await node.spawn(ECHO, { data: { name: '/cs/fifo/lookup' } });
    const earlier = call('/cs/fifo/lookup', 'echo', ['first']);
    const { err } = syncError(() => callSync('/cs/fifo/lookup', 'echo', ['second']));
    assert.equal(err.code, 'EAGAIN');
    assert.match(err.message, /wait for a name lookup \(callSync would overtake them\)/);
    assert.equal(await earlier, 'first');
    assert.equal(callSync('/cs/fifo/lookup', 'echo', ['second']), 'second');
  });

  it("EAGAIN while earlier calls to the mailbox wait for their window on the shm channel; the callSync works once they have gone", async () => {
    await node.spawn(ECHO, { data: { name: '/cs/fifo/window' } });
    assert.equal(await call('/cs/fifo/window', 'echo', ['warm'], { transport: 'shm' }), 'warm');
    const busy = call('/cs/fifo/window', 'spin', [300], { transport: 'shm' });
    // More calls than the window (1024) holds: the rest wait in the flow's backlog, behind the spinning handler.
    const calls = Array.from({ length: 2200 }, (_, i) => call('/cs/fifo/window', 'echo', [i], { transport: 'shm', timeout: 30_000 }));
    const { err } = syncError(() => callSync('/cs/fifo/window', 'echo', ['sync']));
    assert.equal(err.code, 'EAGAIN');
    assert.match(err.message, /wait for their window on the shm channel/);
    assert.equal(await busy, 300);
    assert.deepStrictEqual(await Promise.all(calls), Array.from({ length: 2200 }, (_, i) => i));
    assert.equal(callSync('/cs/fifo/window', 'echo', ['sync']), 'sync');
  });
});

describe('callSync: the server dies during the call', () => {
  it('from the main thread: ECONNRESET promptly, and later callSyncs work', async () => {
    const doomed = await node.spawn(CALLER, { data: { name: '/cs/doomed-1' } });
    const delay = 200;
    const { err, ms } = syncError(() => callSync('/cs/doomed-1', 'exitAfter', [delay, 9], { timeout: 10_000 }));
    assert.equal(err.code, 'ECONNRESET', `got ${err.code}: ${err.message}`);
    assert.ok(ms >= 0.8 * delay && ms < delay + 1000, `ECONNRESET ${ms.toFixed(0)} ms after the call, the server died after ${delay}`);
    assert.equal(callSync('/cs/echo', 'echo', ['still fine']), 'still fine');
    await eventually(async () => (await reportOf(doomed.isolates[0]!))?.state === 'crashed', 5000, 'the server to be reported crashed');
    assert.equal((await reportOf(doomed.isolates[0]!))?.exitCode, 9);
  });

  it('from the main thread, the server crashing with an uncaught exception: ECONNRESET promptly', async () => {
    const doomed = await node.spawn(CALLER, { data: { name: '/cs/doomed-3' } });
    const delay = 200;
    const { err, ms } = syncError(() => callSync('/cs/doomed-3', 'crashAfter', [delay], { timeout: 10_000 }));
    assert.equal(err.code, 'ECONNRESET', `got ${err.code}: ${err.message}`);
    assert.ok(ms >= 0.8 * delay && ms < delay + 1000, `ECONNRESET ${ms.toFixed(0)} ms after the call, the server died after ${delay}`);
    await eventually(async () => (await reportOf(doomed.isolates[0]!))?.state === 'crashed', 5000, 'the server to be reported crashed');
  });

  it('from the main thread, while its request larger than the ring waits for room: ECONNRESET promptly', async () => {
    const doomed = await node.spawn(ECHO, { data: { name: '/cs/doomed-4' } });
    assert.equal(callSync('/cs/doomed-4', 'echo', [1]), 1); // the shm channel exists
    const delay = 300;
    // The server spins, then exits: it takes no more than the ring's first part of the request.
    void call('/cs/doomed-4', 'spin', [delay]).catch(() => {});
    void call('/cs/doomed-4', 'die', []).catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
    const { err, ms } = syncError(() => callSync('/cs/doomed-4', 'sum', [LARGE], { timeout: 10_000 }));
    assert.equal(err.code, 'ECONNRESET', `got ${err.code}: ${err.message}`);
    assert.ok(ms < delay + 1000, `ECONNRESET ${ms.toFixed(0)} ms after the call, the server died after about ${delay}`);
    await eventually(async () => (await reportOf(doomed.isolates[0]!))?.state === 'crashed', 5000, 'the server to be reported crashed');
    assert.equal(callSync('/cs/echo', 'echo', ['still fine']), 'still fine');
  });

  it('from a worker, the server giving its link to the caller up (a frame it could not deserialize): ECONNRESET promptly', async () => {
    await node.spawn(CALLER, { data: { name: '/cs/breaker' } });
    const delay = 200;
    const o = failedWith(await caller.attempt('/cs/breaker', 'breakLinkAfter', [await caller.whoami(), delay], 10_000), 'ECONNRESET');
    assert.ok(o.ms >= 0.8 * delay && o.ms < delay + 1000, `ECONNRESET ${o.ms.toFixed(0)} ms after the call, the link was given up after ${delay}`);
    assert.deepStrictEqual((await caller.attempt('/cs/echo', 'echo', ['next'])).value, 'next');
  });

  it('from a worker, the server giving its link up while the request, larger than the ring, waits for room: ECONNRESET promptly', async () => {
    await node.spawn(CALLER, { data: { name: '/cs/breaker-2' } });
    const callerIsolate = await caller.whoami();
    assert.deepStrictEqual((await caller.attempt('/cs/breaker-2', 'whoami', [])).ok, true, 'the shm channel exists');
    const delay = 300;
    const broken = call('/cs/breaker-2', 'spinThenBreakLink', [callerIsolate, delay]);
    await new Promise((r) => setTimeout(r, 20)); // the server is spinning: it takes nothing from the ring
    const o = failedWith(await caller.attempt('/cs/breaker-2', 'whoami', [LARGE], 10_000), 'ECONNRESET');
    assert.ok(o.ms < delay + 1000, `ECONNRESET ${o.ms.toFixed(0)} ms after the call, the link was given up after about ${delay}`);
    assert.equal(await broken, 'broken');
  });

  it('from a worker: ECONNRESET promptly', async () => {
    await node.spawn(CALLER, { data: { name: '/cs/doomed-2' } });
    const delay = 200;
    const o = failedWith(await caller.attempt('/cs/doomed-2', 'exitAfter', [delay, 9], 10_000), 'ECONNRESET');
    assert.ok(o.ms >= 0.8 * delay && o.ms < delay + 1000, `ECONNRESET ${o.ms.toFixed(0)} ms after the call, the server died after ${delay}`);
    assert.deepStrictEqual((await caller.attempt('/cs/echo', 'echo', ['next'])).value, 'next');
  });
});

describe('callSync: the service is stopped during the call', () => {
  for (const poll of [false, true]) {
    it(`a ${poll ? 'polling' : 'normal'} service that dies while its stop is on its way: reported crashed, and a blocked callSync, a queued call and the running one all fail with ECONNRESET`, async () => {
      const name = `/cs/crash-while-stopping-${poll}`;
      const svc = await node.spawn(ECHO, { poll, data: { name } });
      assert.equal((await caller.attempt(name, 'echo', ['warm'])).value, 'warm');
      const crashing = codeOf(call(name, 'spinThenDie', [600], { timeout: 10_000 }));
      await new Promise((r) => setTimeout(r, 100));
      const blocked = caller.attempt(name, 'echo', ['queued'], 10_000);
      const queued = codeOf(call(name, 'echo', ['queued too'], { timeout: 10_000 }));
      await new Promise((r) => setTimeout(r, 100));
      await svc.stop();
      failedWith(await blocked, 'ECONNRESET');
      assert.deepStrictEqual([await crashing, await queued], ['ECONNRESET', 'ECONNRESET']);
      const report = (await node.stats()).isolates.find((i) => i.isolate === svc.isolates[0]);
      assert.equal(report?.state, 'crashed');
    });

    it(`from a worker, queued behind a handler that holds a ${poll ? 'polling' : 'normal'} service's thread past the stop's grace (it is terminated): ECLOSED, not ECONNRESET`, async () => {
      const name = `/cs/stopped-queued-${poll}`;
      const svc = await node.spawn(ECHO, { poll, data: { name } });
      assert.equal((await caller.attempt(name, 'echo', ['warm'])).value, 'warm');
      const holding = call(name, 'spin', [3000], { timeout: 10_000 }); // longer than stop()'s 2 s grace: the thread never takes the next record
      await new Promise((r) => setTimeout(r, 100));
      const blocked = caller.attempt(name, 'echo', ['queued'], 10_000);
      await new Promise((r) => setTimeout(r, 100));
      await svc.stop();
      assert.equal(await codeOf(holding), 'ECLOSED');
      const o = failedWith(await blocked, 'ECLOSED');
      assert.match(o.message ?? '', /the serving isolate was stopped/);
    });

    it(`from a worker, to a ${poll ? 'polling' : 'normal'} service whose handler still runs: ECLOSED promptly, as an async call to it gets`, async () => {
      const svc = await node.spawn(ECHO, { poll, data: { name: `/cs/stopped-${poll}` } });
      const blocked = caller.attempt(`/cs/stopped-${poll}`, 'slow', [5000], 10_000);
      const asyncCall = codeOf(call(`/cs/stopped-${poll}`, 'slow', [5000], { timeout: 10_000 }));
      await new Promise((r) => setTimeout(r, 200)); // both handlers run
      await svc.stop();
      const o = failedWith(await blocked, 'ECLOSED');
      assert.ok(o.ms < 3000, `ECLOSED ${o.ms.toFixed(0)} ms after the call, stopped after 200`);
      assert.equal(await asyncCall, 'ECLOSED');
      assert.deepStrictEqual((await caller.attempt('/cs/echo', 'echo', ['next'])).value, 'next');
    });
  }
});

describe('polling services', () => {
  it('a polling service never parks; a normal one does once idle', async () => {
    const rt = runtime();
    const pollBell = rt.shm.peer(pollSvc.isolates[0]!)?.bell;
    const echoBell = rt.shm.peer(echoSvc.isolates[0]!)?.bell;
    assert.ok(pollBell !== undefined && echoBell !== undefined);
    callSync('/cs/poll-echo', 'echo', [1]);
    callSync('/cs/echo', 'echo', [1]);
    await eventually(() => Atomics.load(echoBell, STATE) === PARKED, 2000, 'the normal service to park');
    const end = performance.now() + 100;
    while (performance.now() < end) {
      assert.notEqual(Atomics.load(pollBell, STATE), PARKED, 'the polling service parked');
      await new Promise((r) => setImmediate(r));
    }
  });

  it('a polling service stops on request, in bounded time, by its own exit', async () => {
    const svc = await node.spawn(ECHO, { poll: true, data: { name: '/cs/poll-stop' } });
    assert.equal(callSync('/cs/poll-stop', 'echo', ['x']), 'x');
    assert.equal(await call('/cs/poll-stop', 'echo', ['y']), 'y', 'async calls and kernel messages get through too');
    const t0 = performance.now();
    await svc.stop();
    const ms = performance.now() - t0;
    assert.ok(ms < 5000, `stop() took ${ms.toFixed(0)} ms`);
    const r = await reportOf(svc.isolates[0]!);
    assert.equal(r?.state, 'exited');
    assert.equal(r?.exitCode, 0, 'it exited by itself, not terminated after the grace period');
    assert.equal(syncError(() => callSync('/cs/poll-stop', 'echo', ['z'])).err.code, 'ENOENT');
  });

  it('a node with polling services shuts down and its process exits by itself; workers in callSync on the main thread (blocked in a handler, still in the ring, queued, or first made once it began) get ECLOSED, and are not waited for', async () => {
    const { stdout, code, signal, ms } = await new Promise<{ stdout: string; code: number | null; signal: string | null; ms: number }>((resolve) => {
      const t0 = performance.now();
      const child = execFile(process.execPath, [fileURLToPath(POLL_CHILD)], { timeout: 30_000, killSignal: 'SIGKILL' }, (_err, out) => {
        resolve({ stdout: out, code: child.exitCode, signal: child.signalCode, ms: performance.now() - t0 });
      });
    });
    assert.equal(signal, null, `the child process had to be killed after ${ms.toFixed(0)} ms`);
    assert.equal(code, 0);
    const out = JSON.parse(stdout) as { results: Record<string, unknown>; shutdownMs: number; blocked: unknown; inTheRing: unknown; queued: unknown; late: unknown; recorded: number; duringShutdown: unknown; isolates: { state: string; exitCode: number | null }[] };
    assert.deepStrictEqual(out.results, { syncFromMain: 'sync', asyncFromMain: 'async', syncFromPollingWorker: 'relayed' });
    const ended = { code: 'ECLOSED', message: 'ECLOSED: the node is shutting down' };
    assert.deepStrictEqual(
      { blocked: out.blocked, inTheRing: out.inTheRing, queued: out.queued, late: out.late },
      { blocked: ended, inTheRing: ended, queued: ended, late: ended },
    );
    assert.equal(out.recorded, 0, 'the queued callSync, answered ECLOSED, never ran');
    assert.equal(out.duringShutdown, 'pong', 'the main thread serves until its workers have stopped');
    // Within the stop's grace (2 s), which a worker still blocked would have used up before it was terminated.
    assert.ok(out.shutdownMs < 1900, `shutdown took ${out.shutdownMs.toFixed(0)} ms`);
    assert.equal(out.isolates.length, 5);
    for (const i of out.isolates) assert.deepStrictEqual(i, { ...i, state: 'exited', exitCode: 0 }, 'each polling isolate exited by itself');
  });
});

describe('the sync slot a blocked thread waits in', () => {
  const slotAt = (capacity = 1024): { slot: SyncSlot; sab: SharedArrayBuffer } => {
    const sab = new SharedArrayBuffer(slotBytes(capacity));
    return { slot: new SyncSlot(sab, 0), sab };
  };
  const wait = (ms: number, writerBell?: Int32Array) => ({ timeout: ms, writerBell, spinMicros: 50 });

  it('takes the answer to its own ticket and passes over a late one to an earlier ticket', () => {
    const { slot } = slotAt();
    slot.write(7, true, 'late, for 7');
    slot.write(8, true, [1, 'for 8']);
    assert.deepStrictEqual(slot.await(8, wait(1000)), [1, 'for 8']);
    slot.write(9, true, new Map([[1, 'msgpack']]));
    assert.deepStrictEqual(slot.await(9, wait(1000)), new Map([[1, 'msgpack']]));
    // An answer too large for the first line goes after it; a small one after that is on the line again.
    slot.write(11, true, 'y'.repeat(300));
    assert.equal(slot.await(11, wait(1000)), 'y'.repeat(300));
    slot.write(12, true, 'small');
    assert.equal(slot.await(12, wait(1000)), 'small');
    const { err, ms } = syncError(() => slot.await(10, wait(TIMEOUT)));
    assert.equal(err.code, 'ETIMEDOUT', 'an answer to 12 is not taken for 10');
    assertTimedOutIn(ms);
  });

  it('an error answer throws its FosError; an answer larger than the slot becomes EMSGSIZE', () => {
    const { slot } = slotAt(512);
    slot.write(1, false, new FosError('ENOSYS', 'no such method'));
    const e = syncError(() => slot.await(1, wait(1000))).err;
    assert.deepStrictEqual([e.code, e.message], ['ENOSYS', 'ENOSYS: no such method']);
    slot.write(2, true, 'x'.repeat(600));
    assert.equal(syncError(() => slot.await(2, wait(1000))).err.code, 'EMSGSIZE');
  });

  it('ECONNRESET as soon as the writer is marked dead', () => {
    const { slot } = slotAt();
    const bell = new Int32Array(new SharedArrayBuffer(128));
    markDead(bell);
    const { err, ms } = syncError(() => slot.await(1, wait(10_000, bell)));
    assert.equal(err.code, 'ECONNRESET');
    assert.ok(ms < 1000, `took ${ms} ms`);
  });

  it('ECLOSED when the writer was stopped rather than died; the first mark of its end stays', () => {
    const { slot } = slotAt();
    const stopped = new Int32Array(new SharedArrayBuffer(128));
    markDead(stopped, 'stopped');
    markDead(stopped); // its thread's exit, after the stop
    assert.equal(syncError(() => slot.await(1, wait(10_000, stopped))).err.code, 'ECLOSED');
    const died = new Int32Array(new SharedArrayBuffer(128));
    markDead(died);
    markDead(died, 'stopped');
    assert.equal(syncError(() => slot.await(2, wait(10_000, died))).err.code, 'ECONNRESET');
  });

  it('a sleep begun after the answer landed returns at once: it does not wait out its slice', () => {
    const { slot } = slotAt();
    slot.write(3, true, 'already');
    const t0 = performance.now();
    (slot as unknown as { sleep(ticket: number, ms: number): void }).sleep(3, 1000);
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `slept ${ms.toFixed(0)} ms with its answer in the slot`);
    assert.equal(slot.await(3, wait(1000)), 'already');
  });

  it('a spin budget longer than the timeout outlasts neither the timeout nor a dead writer', () => {
    const { slot } = slotAt();
    const late = syncError(() => slot.await(1, { timeout: 100, writerBell: undefined, spinMicros: 3_000_000 }));
    assert.equal(late.err.code, 'ETIMEDOUT');
    assert.ok(late.ms < 1500, `ETIMEDOUT after ${late.ms.toFixed(0)} ms, for a timeout of 100 and 3 s of spinning`);
    const bell = new Int32Array(new SharedArrayBuffer(128));
    markDead(bell);
    const dead = syncError(() => slot.await(2, { timeout: 10_000, writerBell: bell, spinMicros: 3_000_000 }));
    assert.equal(dead.err.code, 'ECONNRESET');
    assert.ok(dead.ms < 1500, `ECONNRESET after ${dead.ms.toFixed(0)} ms`);
  });

  it('ECONNRESET as soon as the writer closes the slot; an answer written before the close is still read', () => {
    const { slot } = slotAt();
    slot.write(1, true, 'in time');
    slot.close();
    assert.equal(slot.await(1, wait(10_000, undefined)), 'in time');
    const { err, ms } = syncError(() => slot.await(2, wait(10_000, undefined)));
    assert.equal(err.code, 'ECONNRESET');
    assert.ok(ms < 1000, `took ${ms} ms`);
  });

  it('an owner asleep in Atomics.wait wakes when another thread writes its answer', async () => {
    const { slot, sab } = slotAt();
    const url = new URL('../src/transport/shm/sync-slot.js', import.meta.url).href;
    const writer = new Worker(
      `const { workerData: w } = require('node:worker_threads');
       import(w.url).then(({ SyncSlot }) => setTimeout(() => new SyncSlot(w.sab, 0).write(5, true, 'from the writer'), 200));`,
      { eval: true, workerData: { url, sab } },
    );
    try {
      const t0 = performance.now();
      // It spins 50 µs, then sleeps (in slices of at most 5 ms) until the writer's answer.
      assert.equal(slot.await(5, { timeout: 10_000, writerBell: undefined, spinMicros: 50 }), 'from the writer');
      const ms = performance.now() - t0;
      assert.ok(ms >= 150 && ms < 2000, `answered after ${ms.toFixed(1)} ms`);
    } finally {
      await writer.terminate();
    }
  });
});
