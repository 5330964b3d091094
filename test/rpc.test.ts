// RPC: serve / call / connect. Every scenario is written once and run with
// the server in this thread ('local'), in a spawned worker ('kernel',
// 'shm') and in a worker of another node ('tcp').
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { inspect } from 'node:util';
import { boot, call as callFrom, callSync, connect as connectTo, FosError, lookup, send, sendMany, serve, type CallOptions, type SendOptions, type SyncCallOptions, type IsolateStats, type MailboxStats, type Ref, type Remote, type ServiceContext, type TransportName } from '../src/index.js';
import { AGENT, codeOf, ECHO, eventually, unwrap, within } from './helpers/places.js';
import type { Agent } from './fixtures/agent.js';
import { nextEvent, peerUp, startNode, type RemoteNode } from './helpers/cluster.js';
import type { Echo } from './fixtures/echo.js';
import { serveExtra, type RpcExtra } from './fixtures/rpc-service.js';
import { CallTable } from '../src/rpc/calls.js';
import { runtime } from '../src/runtime/current.js';
import type { ShmOut } from '../src/transport/shm/channel.js';

const call = callFrom;
const connect = connectTo;

const node = await boot({ listen: '127.0.0.1:0' });
const remotes: RemoteNode[] = [];
after(async () => {
  await Promise.all(remotes.map((r) => r.kill()));
  await node.shutdown();
});

const EXTRA = new URL('./fixtures/rpc-service.js', import.meta.url);

/** Where a scenario's server runs, and the names it serves there. */
interface Server {
  readonly transport: TransportName;
  /** Call options that force this server's transport. */
  readonly opts: { readonly transport?: 'kernel' | 'shm' | 'tcp' };
  /** The echo fixture's handlers. */
  readonly echo: string;
  /** The rpc-service fixture's handlers. */
  readonly extra: string;
  /** Makes a server of the extra handlers under `name`, and a way to make it leave. */
  readonly serveExtraAt: (name: string) => Promise<{ leave: () => Promise<void> }>;
}

async function isBound(name: string): Promise<boolean> {
  return lookup(name).then(
    () => true,
    () => false,
  );
}

async function localServer(): Promise<Server> {
  // The very handler modules the workers run, started in this thread.
  const echoModule = (await import(ECHO.href)) as { default: (ctx: ServiceContext<{ name: string }>) => void };
  echoModule.default({ data: { name: '/rpc/local/echo' }, index: 0, count: 1, isolate: 0, node: node.name });
  await eventually(() => isBound('/rpc/local/echo'), 5000, '/rpc/local/echo to be bound');
  await serveExtra('/rpc/local/extra').ready;
  return {
    transport: 'local',
    opts: {},
    echo: '/rpc/local/echo',
    extra: '/rpc/local/extra',
    async serveExtraAt(name) {
      const svc = serveExtra(name);
      await svc.ready;
      return { leave: async () => svc.close() };
    },
  };
}

async function workerServer(transport: 'kernel' | 'shm'): Promise<Server> {
  await node.spawn(ECHO, { data: { name: `/rpc/${transport}/echo` } });
  await node.spawn(EXTRA, { data: { name: `/rpc/${transport}/extra` } });
  return {
    transport,
    opts: { transport },
    echo: `/rpc/${transport}/echo`,
    extra: `/rpc/${transport}/extra`,
    async serveExtraAt(name) {
      const svc = await node.spawn(EXTRA, { data: { name } });
      return { leave: () => svc.stop() };
    },
  };
}

let remoteNodes = 0;

/** A node of its own (another process), started with `spawn` and peered with this one. */
async function remoteNode(spawn: { module: string; data: unknown }[]): Promise<RemoteNode> {
  const name = `rpc-remote-${process.pid}-${++remoteNodes}`;
  const up = peerUp(node, name);
  const r = await startNode({ boot: { name, peers: [node.address!] }, spawn, waitFor: [node.name] });
  remotes.push(r);
  await up;
  return r;
}

/** Servers on another node: calls go over tcp (from a worker of the other node, the echo and the extra handlers). */
async function tcpServer(): Promise<Server> {
  await remoteNode([
    { module: ECHO.href, data: { name: '/rpc/tcp/echo' } },
    { module: EXTRA.href, data: { name: '/rpc/tcp/extra' } },
  ]);
  await eventually(async () => (await isBound('/rpc/tcp/echo')) && (await isBound('/rpc/tcp/extra')), 10_000, 'the tcp servers to be bound');
  return {
    transport: 'tcp',
    opts: { transport: 'tcp' },
    echo: '/rpc/tcp/echo',
    extra: '/rpc/tcp/extra',
    async serveExtraAt(name) {
      const r = await remoteNode([{ module: EXTRA.href, data: { name } }]);
      await eventually(() => isBound(name), 10_000, `${name} to be bound`);
      return {
        // The node shuts down: this node hears it at once, and its names go.
        leave: async () => {
          const down = nextEvent(node, (e) => e.type === 'peer-down' && e.node === r.name);
          await r.shutdown();
          await down;
        },
      };
    },
  };
}

const servers = [await localServer(), await workerServer('kernel'), await workerServer('shm'), await tcpServer()];
// A worker that makes calls of its own.
await node.spawn(AGENT, { data: { name: '/rpc/agent' } });
const agent = connect<Agent>('/rpc/agent');

async function mainStats(): Promise<IsolateStats> {
  const s = await node.stats();
  const main = s.isolates.find((i) => i.isolate === 0);
  assert.ok(main?.stats, 'the main isolate reports its stats');
  return main.stats;
}

/** The FosError `p` rejects with; fails if it resolves or rejects with anything else. */
async function errorOf(p: Promise<unknown>): Promise<FosError> {
  try {
    const v = await p;
    assert.fail(`expected a FosError, got the value ${String(v)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof FosError, `expected a FosError, got ${String(e)}`);
    return e;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

for (const s of servers) {
  describe(`rpc, server ${s.transport}`, () => {
    // Every call of the scenario goes by the server's transport.
    const call = <R = unknown>(target: string | Ref, method: string, args: readonly unknown[] = [], o: CallOptions = {}): Promise<R> =>
      callFrom<R>(target, method, args, { ...s.opts, ...o });
    const connect = <T,>(target: string | Ref, o: CallOptions = {}): Remote<T> => connectTo<T>(target, { ...s.opts, ...o });
    test('a sync handler answers with its value', async () => {
      const v = { a: [1, 2, { b: 'c' }], m: new Map([[1, 'one']]), d: new Date(0), n: 10n, u: [undefined, null] };
      assert.deepEqual(await call(s.echo, 'echo', [v]), v);
      assert.equal(await call(s.extra, 'add', [2, 3]), 5);
    });

    test('the handler runs in the right isolate', async () => {
      const who = await call<number>(s.echo, 'whoami');
      if (s.transport === 'local') assert.equal(who, 0);
      else assert.ok(who > 0, `a worker isolate, got ${who}`);
    });

    test('an async handler answers with what its promise resolves to', async () => {
      assert.equal(await call(s.echo, 'slow', [5]), 'slept 5');
    });

    test('a thrown Error reaches the caller as EREMOTE with message, code and stack', async () => {
      const e = await errorOf(call(s.echo, 'fail', ['it broke', 'EBROKE']));
      assert.equal(e.code, 'EREMOTE');
      assert.match(e.message, /it broke/);
      assert.ok(e.remote !== undefined, 'remote info is set');
      assert.equal(e.remote.message, 'it broke');
      assert.equal(e.remote.code, 'EBROKE');
      assert.equal(e.remote.name, 'Error');
      assert.equal(typeof e.remote.stack, 'string');
      // The stack is the handler's, not the caller's.
      assert.match(e.remote.stack ?? '', /it broke/);
      assert.match(e.remote.stack ?? '', /fixtures[/\\]echo\.js/);
    });

    test('a thrown Error without a code has no remote code', async () => {
      const e = await errorOf(call(s.echo, 'fail', ['no code here']));
      assert.equal(e.code, 'EREMOTE');
      assert.equal(e.remote?.message, 'no code here');
      assert.equal(e.remote?.code, undefined);
    });

    test('an async rejection reaches the caller as EREMOTE', async () => {
      const e = await errorOf(call(s.echo, 'failAsync', ['async trouble']));
      assert.equal(e.code, 'EREMOTE');
      assert.equal(e.remote?.name, 'TypeError');
      assert.equal(e.remote?.message, 'async trouble');
      assert.match(e.remote?.stack ?? '', /TypeError: async trouble/);
      assert.match(e.remote?.stack ?? '', /fixtures[/\\]echo\.js/);
    });

    test('a thrown non-Error reaches the caller as EREMOTE', async () => {
      const e = await errorOf(call(s.extra, 'throwString', ['just a string']));
      assert.equal(e.code, 'EREMOTE');
      assert.equal(e.remote?.message, 'just a string');
      assert.equal(e.remote?.name, 'String', 'what was thrown, not Error');
    });

    test('a thrown object shaped like an error ({ code, message }) reaches the caller as EREMOTE with its message and code', async () => {
      const e = await errorOf(call(s.extra, 'throwErrorLike', ['EWEIRD', 'shaped like one']));
      assert.equal(e.code, 'EREMOTE');
      assert.equal(e.message, 'EREMOTE: shaped like one');
      assert.deepStrictEqual([e.remote?.name, e.remote?.message, e.remote?.code], ['Error', 'shaped like one', 'EWEIRD']);
    });

    test('a thrown object without a prototype reaches the caller as EREMOTE, and the server lives on', async () => {
      const e = await errorOf(call(s.extra, 'throwBare', []));
      assert.equal(e.code, 'EREMOTE');
      assert.equal(await call(s.extra, 'add', [1, 1]), 2);
    });

    test('a timeout beyond 2^31 ms is no timeout, not an instant ETIMEDOUT', async () => {
      assert.equal(await call(s.echo, 'slow', [30], { timeout: 2 ** 31 }), 'slept 30');
      assert.equal(await call(s.echo, 'slow', [30], { timeout: Infinity }), 'slept 30');
    });

    test('an unknown method fails with ENOSYS', async () => {
      assert.equal(await codeOf(call(s.echo, 'noSuchMethod', [])), 'ENOSYS');
    });

    test("Object.prototype's members are not callable: ENOSYS", async () => {
      for (const m of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'isPrototypeOf']) {
        assert.equal(await codeOf(call(s.echo, m, [])), 'ENOSYS', `method ${m}`);
      }
      // The service still works afterwards.
      assert.equal(await call(s.echo, 'echo', ['still here']), 'still here');
    });

    test('timeout: ETIMEDOUT, the late reply is dropped without a leak, and later calls work', async () => {
      const before = await mainStats();
      const t0 = performance.now();
      const e = await errorOf(call(s.echo, 'slow', [500], { timeout: 50 }));
      const elapsed = performance.now() - t0;
      assert.equal(e.code, 'ETIMEDOUT');
      assert.ok(elapsed >= 45 && elapsed < 2000, `timed out after ${elapsed.toFixed(0)} ms, not about 50`);
      assert.equal((await mainStats()).callsInFlight, 0, 'the timed-out call is no longer in flight');
      // Wait for the late reply to arrive (counted on receipt), then check it settled nothing.
      const received = (st: IsolateStats): number => st.transports[s.transport].messagesReceived;
      await eventually(async () => received(await mainStats()) > received(before), 3000, 'the late reply');
      const after = await mainStats();
      assert.equal(after.callsInFlight, 0);
      assert.equal(await call(s.echo, 'echo', ['after the timeout']), 'after the timeout');
      assert.equal((await mainStats()).callsInFlight, 0);
    });

    test('connect() passes its timeout on: ETIMEDOUT', async () => {
      const slowEcho = connect<Echo>(s.echo, { timeout: 30 });
      assert.equal(await codeOf(slowEcho.slow(400)), 'ETIMEDOUT');
    });

    test('an aborted signal fails the call with ECANCELED, the abort reason its cause', async () => {
      const ac = new AbortController();
      const p = call(s.echo, 'slow', [2000], { signal: ac.signal });
      const why = new Error('the user went away');
      setTimeout(() => ac.abort(why), 20);
      const t0 = performance.now();
      const e = await errorOf(p);
      assert.equal(e.code, 'ECANCELED');
      assert.equal(e.cause, why);
      assert.ok(performance.now() - t0 < 1000, 'the call is cancelled when the signal fires, not when the handler ends');
      assert.equal((await mainStats()).callsInFlight, 0);
    });

    test('a signal aborted before the call fails it with ECANCELED', async () => {
      const e = await errorOf(call(s.echo, 'echo', ['never'], { signal: AbortSignal.abort('no longer wanted') }));
      assert.deepStrictEqual([e.code, e.cause], ['ECANCELED', 'no longer wanted']);
      assert.equal((await mainStats()).callsInFlight, 0);
    });

    test('a handler returning an uncloneable value: the caller gets EINVAL, not a hang', async () => {
      // A timeout well above the normal answer time: a hang shows as ETIMEDOUT, not EINVAL.
      const sync = await errorOf(call(s.extra, 'uncloneable', [], { timeout: 5000 }));
      assert.equal(sync.code, 'EINVAL', `got ${sync.code}: ${sync.message}`);
      const async_ = await errorOf(call(s.extra, 'uncloneableAsync', [], { timeout: 5000 }));
      assert.equal(async_.code, 'EINVAL', `got ${async_.code}: ${async_.message}`);
      assert.equal(await call(s.extra, 'add', [1, 1]), 2);
    });

    test('many uncloneable replies do not wedge the link: later calls still work', async () => {
      // Each refused reply must leave the link as it found it (its
      // acknowledgements included); more than a window's worth (1024) of them.
      // A server of its own, so that a wedged link fails this test only.
      const name = `/rpc/${s.transport}/refusals`;
      const server = await s.serveExtraAt(name);
      let timedOutAt = -1;
      for (let i = 0; i < 1100 && timedOutAt < 0; i++) {
        try {
          await call(name, 'uncloneable', [], { timeout: 2000 });
        } catch (e) {
          if (e instanceof FosError && e.code === 'ETIMEDOUT') timedOutAt = i;
        }
      }
      assert.equal(timedOutAt, -1, `call number ${timedOutAt + 1} after refused replies timed out`);
      assert.equal(await call(name, 'add', [20, 22], { timeout: 2000 }), 42);
      await server.leave();
    });

    test('a service that closes while a handler runs answers that call ECLOSED at once; the late answer is dropped', async () => {
      const name = `/rpc/${s.transport}/closing`;
      const server = await s.serveExtraAt(name);
      const held = call(name, 'hold', [3000], { timeout: 10_000 });
      await eventually(async () => (await call(name, 'held', [])) === 1, 5000, 'the hold to start');
      const t0 = performance.now();
      await call(name, 'closeIn', [20]);
      const e = await errorOf(held);
      assert.equal(e.code, 'ECLOSED', e.message);
      assert.match(e.message, /closed while the call ran/);
      assert.ok(performance.now() - t0 < 2000, `answered when the service closed, not when the handler ended (${Math.round(performance.now() - t0)} ms)`);
      await server.leave();
      assert.equal((await mainStats()).callsInFlight, 0);
    });

    test('a name whose only member left fails with ENOENT at once', async () => {
      const name = `/rpc/${s.transport}/leaving`;
      const server = await s.serveExtraAt(name);
      assert.equal(await call(name, 'add', [1, 2]), 3);
      await server.leave();
      const t0 = performance.now();
      assert.equal(await codeOf(call(name, 'add', [1, 2], { timeout: 10_000 })), 'ENOENT');
      assert.ok(performance.now() - t0 < 1000, 'ENOENT comes at once, not after a timeout');
    });

    test('connect<T>() makes the same calls', async () => {
      const echo = connect<Echo>(s.echo);
      assert.deepEqual(await echo.echo({ x: [1, 2] }), { x: [1, 2] });
      assert.equal(await echo.slow(3), 'slept 3');
      const e = await errorOf(echo.fail('via proxy', 'EPROXY'));
      assert.equal(e.code, 'EREMOTE');
      assert.equal(e.remote?.code, 'EPROXY');
      assert.equal(await codeOf(echo.failAsync('async via proxy')), 'EREMOTE');
      const extra = connect<RpcExtra>(s.extra);
      assert.equal(await extra.add(40, 2), 42);
      // A method the type does not have still goes to the server, which says ENOSYS.
      const loose = connect<{ nothingLikeThis(): void }>(s.echo);
      assert.equal(await codeOf(loose.nothingLikeThis()), 'ENOSYS');
    });

    test('await connect(...) gives the proxy itself: it is not a thenable', async () => {
      const proxy = connect<Echo>(s.echo);
      assert.equal((proxy as unknown as { then?: unknown }).then, undefined);
      const awaited = await connect<Echo>(s.echo);
      assert.equal(typeof awaited.echo, 'function');
      assert.equal(await awaited.echo('through the awaited proxy'), 'through the awaited proxy');
      assert.equal(await Promise.resolve(proxy), proxy);
    });

    test('a proxy prints as what it reaches, in a string and in console.log', async () => {
      const [ref] = await lookup(s.echo);
      const byRef = connectTo<Echo>(ref!);
      const a = ref!.address;
      assert.equal(String(byRef), `[fos remote ${a.node}/${a.isolate}/${a.mailbox}]`);
      assert.equal(`${connectTo('/rpc/printed')}`, '[fos remote /rpc/printed]');
      assert.equal(inspect(connectTo('/rpc/printed')), '[fos remote /rpc/printed]');
      assert.equal(JSON.stringify({ p: byRef }), '{"p":{}}');
      // A bad target is the calls' EINVAL, not connect's TypeError, nor its printing's.
      for (const bad of [undefined, {}, 5]) {
        const p = connectTo<Echo>(bad as unknown as string);
        assert.equal(String(p), '[fos remote ?]');
        assert.equal(await codeOf(p.echo(1)), 'EINVAL');
      }
    });
  });
}

describe('rpc, call timeouts', () => {
  test('one timer serves every call of a timeout; it fires in order and holds nothing open once no call is pending', async () => {
    const table = new CallTable();
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const long = Array.from({ length: 100 }, () => table.start('n', 1, 30_000, undefined));
    assert.equal(timers() - before, 1, 'one timer for 100 calls of the same timeout');
    const t0 = performance.now();
    const short = [table.start('n', 1, 40, undefined), table.start('n', 1, 20, undefined)];
    assert.equal(timers() - before, 3, 'one more per other timeout');
    const ended: number[] = [];
    await Promise.all(short.map((c, i) => c.promise.catch((e: unknown) => ended.push(i) && assert.equal((e as FosError).code, 'ETIMEDOUT'))));
    assert.deepEqual(ended, [1, 0], 'the 20 ms call times out first');
    assert.ok(performance.now() - t0 >= 39, 'not before its time');
    // Counted in one synchronous stretch, so that no other timer of the process comes or goes in between.
    const whileLong = timers();
    for (const c of long) table.answer(c.id, undefined, 'done');
    assert.equal(whileLong - timers(), 1, 'once the last call settled, its timer no longer holds the process open');
    assert.deepEqual(await Promise.all(long.map((c) => c.promise)), long.map(() => 'done'));
    const idle = timers();
    const again = table.start('n', 1, 20, undefined);
    assert.equal(timers() - idle, 1, 'a new call of an expired timeout gets a timer again');
    table.answer(again.id, undefined, 'ok');
    assert.equal(timers(), idle, 'no timer once no call is pending: nothing holds the process open');
  });

  test('one call that never ends does not make the deadlines of the calls after it pile up', () => {
    const table = new CallTable();
    const stuck = table.start('n', 1, 30_000, undefined);
    for (let i = 0; i < 10_000; i++) table.answer(table.start('n', 1, 30_000, undefined).id, undefined, i);
    const queued = (table as unknown as { deadlines: Map<number, { entries: { size: number } }> }).deadlines.get(30_000)?.entries.size ?? 0;
    assert.ok(queued <= 2 * 2 + 64, `${queued} deadlines kept for 1 call pending`);
    table.answer(stuck.id, undefined, 'done');
  });
});

describe('rpc over shm: calls carried without a verdict', () => {
  test('go untracked, keep their order with calls forced onto kernel and with calls past the window, and are all answered', async () => {
    const name = '/rpc/untracked/order';
    const svc = await node.spawn(EXTRA, { data: { name } });
    const out = (): ShmOut | undefined => runtime().shm.out(svc.isolates[0]!);
    assert.equal(await call(name, 'add', [1, 2], { transport: 'shm' }), 3);
    assert.ok(out() !== undefined, 'a channel to the service is open');
    let i = 0;
    const burst = (n: number, transport: 'shm' | 'kernel' | 'auto'): Promise<number>[] => Array.from({ length: n }, () => call<number>(name, 'arrive', [i++], { transport }));
    const calls = burst(50, 'shm');
    assert.equal(out()!.untrackedCalls, 50, 'the calls are open on the channel, untracked');
    const [ref] = await lookup(name);
    assert.equal(out()!.flow.busy(ref!.address.mailbox), false, 'none of them waits for a verdict in the flow');
    calls.push(...burst(1, 'kernel'), ...burst(49, 'auto'));
    // Past the window: the rest go tracked, behind the untracked ones.
    calls.push(...burst(3 * 1024, 'shm'));
    assert.equal(out()!.untrackedCalls, 1024, 'at most a window of untracked calls are open');
    assert.deepStrictEqual(await within(Promise.all(calls), 30_000, 'every call'), Array.from({ length: i }, (_, k) => k));
    assert.deepStrictEqual(await call(name, 'arrivals', [], { transport: 'shm' }), Array.from({ length: i }, (_, k) => k), 'calls arrived in the order they were made');
    assert.equal(out()!.untrackedCalls, 0, 'every call ended');
    await svc.stop();
  });

  test('a call that waits for room in a full mailbox is answered once it gets in', async () => {
    const name = '/rpc/untracked/held';
    const svc = await node.spawn(EXTRA, { data: { name, concurrency: 1, capacity: 1 } });
    await call(name, 'add', [1, 2], { transport: 'shm' });
    const waiting = async (): Promise<number> => (await node.stats()).isolates.flatMap((s) => s.stats?.mailboxes ?? []).find((m) => m.names.includes(name))?.waiting ?? -1;
    // One runs, one is queued, the third waits for room at the receiver.
    const holds = [0, 1, 2].map(() => call<number>(name, 'hold', [300], { transport: 'shm' }));
    assert.equal(runtime().shm.out(svc.isolates[0]!)?.untrackedCalls, 3);
    await eventually(async () => (await waiting()) === 1, 5000, 'the third call to wait for room');
    assert.deepStrictEqual(await within(Promise.all(holds), 10_000, 'the holds'), [1, 2, 3]);
    await svc.stop();
  });
});

describe('rpc, calls that end without an answer', () => {
  for (const transport of ['local', 'kernel', 'shm'] as const) {
    test(`leave nothing queued behind them (${transport})`, async () => {
      // A stuck server: one handler at a time, one call queued.
      const name = `/rpc/stuck/${transport}`;
      const opts = { concurrency: 1, capacity: 1 };
      const local = transport === 'local' ? serveExtra(name, opts) : undefined;
      await local?.ready;
      const spawned = transport === 'local' ? undefined : await node.spawn(EXTRA, { data: { name, ...opts } });
      const via = transport === 'local' ? {} : { transport };
      const mailbox = async (): Promise<MailboxStats> => {
        const mb = (await node.stats()).isolates.flatMap((i) => i.stats?.mailboxes ?? []).find((m) => m.names.includes(name));
        assert.ok(mb !== undefined, `the mailbox of ${name}`);
        return mb;
      };
      const first = call<number>(name, 'hold', [1000], via); // occupies the only handler for a second
      await eventually(async () => (await mailbox()).received === 1, 5000, 'the first hold to start');
      for (let round = 0; round < 3; round++) {
        const results = await Promise.allSettled(Array.from({ length: 300 }, () => call(name, 'hold', [1000], { ...via, timeout: 20 })));
        assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as FosError).code === 'ETIMEDOUT'));
      }
      // Every timed-out call was withdrawn: none waits for room, at most one
      // sits in the queue (capacity 1) and runs once the handler is free.
      const mb = await mailbox();
      assert.equal(mb.waiting, 0, 'no timed-out call waits for room at the receiver');
      assert.ok(mb.depth <= 1, `depth ${mb.depth}`);
      assert.equal(await first, 1);
      const ran = await call<number>(name, 'held', [], { ...via, timeout: 5000 });
      assert.ok(ran <= 2, `${ran} holds ran: the timed-out calls must not run later (at most the one queued)`);
      local?.close();
      await spawned?.stop();
    });
  }
});

describe('rpc, handlers run as calls arrive', () => {
  test("a handler of the caller's own isolate never runs inside its caller's call()", async () => {
    let ran = 0;
    const svc = serve('/rpc/arrive/local', { count: () => ++ran });
    await svc.ready;
    const pending = callFrom('/rpc/arrive/local', 'count');
    assert.equal(ran, 0, 'the handler waits for the caller to return');
    assert.equal(await pending, 1);
    svc.close();
  });

  test('at most `concurrency` async handlers run at once; the others start in arrival order as slots free', async () => {
    let active = 0;
    let most = 0;
    const started: number[] = [];
    const svc = serve(
      '/rpc/arrive/bounded',
      {
        async work(i: number) {
          started.push(i);
          most = Math.max(most, ++active);
          await new Promise((r) => setTimeout(r, 2));
          active--;
          return i;
        },
        now: (i: number) => i,
      },
      { concurrency: 3 },
    );
    await svc.ready;
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => callFrom('/rpc/arrive/bounded', i % 5 === 0 ? 'now' : 'work', [i])));
    assert.deepEqual(results, Array.from({ length: 30 }, (_, i) => i));
    assert.equal(most, 3);
    assert.deepEqual(started, [...started].sort((a, b) => a - b), 'handlers start in arrival order');
    svc.close();
  });
});

describe('rpc, names', () => {
  test('a call to a name with no members fails with ENOENT at once', async () => {
    const t0 = performance.now();
    assert.equal(await codeOf(call('/rpc/nobody/home', 'echo', [1], { timeout: 10_000 })), 'ENOENT');
    assert.ok(performance.now() - t0 < 1000, 'ENOENT comes at once, not after a timeout');
    assert.equal(await codeOf(connect<Echo>('/rpc/nobody/home').echo(1)), 'ENOENT');
  });

  test('a call to a malformed name fails with EINVAL', async () => {
    assert.equal(await codeOf(call('no-slash', 'echo', [1])), 'EINVAL');
  });
});

describe('rpc, options outside their types', () => {
  // What a caller without TypeScript may pass: each fails with EINVAL, none is taken for the default.
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['an unknown transport', { transport: 'sharedmem' }, /transport is 'auto', 'kernel', 'shm' or 'tcp', got "sharedmem"/],
    ['an empty transport', { transport: '' }, /got ""/],
    ['a transport that is a number', { transport: 5 }, /got 5$/],
    ['a null key', { key: null }, /a routing key is a string, number or bigint, got null/],
    ['an object key', { key: { id: 1 } }, /got an object$/],
    ['an array key', { key: [1] }, /got an array/],
    ['an unknown prefer', { prefer: 'near' }, /prefer is 'local' or 'any', got "near"/],
    ['a signal that is not one', { signal: {} }, /signal is an AbortSignal, got an object$/],
    ['a signal that is a string', { signal: 'abort' }, /signal is an AbortSignal, got "abort"$/],
  ];
  for (const [what, opts, message] of bad) {
    test(`${what}: call, send, sendMany and callSync fail with EINVAL`, async () => {
      const target = servers[2]!.echo; // a worker's service: every path would reach it
      for (const [via, p] of [
        ['call', call(target, 'echo', [1], opts as CallOptions)],
        ['send', send(target, 1, opts as SendOptions)],
        ['sendMany', sendMany(target, [1], opts as SendOptions)],
        ['callSync', (async () => callSync(target, 'echo', [1], opts as SyncCallOptions))()],
      ] as const) {
        const e = await errorOf(p);
        assert.equal(e.code, 'EINVAL', `${via}: ${e.message}`);
        assert.match(e.message, message, via);
      }
    });
  }
  test('options that are not an object (null, a number, an array): call, send, sendMany and callSync fail with EINVAL saying so', async () => {
    const target = servers[2]!.echo;
    for (const [opts, shown] of [[null, 'null'], [5, '5'], [[], 'an array']] as const) {
      for (const [via, p] of [
        ['call', errorOf(call(target, 'echo', [1], opts as unknown as CallOptions))],
        ['send', errorOf(send(target, 1, opts as unknown as SendOptions))],
        ['sendMany', errorOf(sendMany(target, [1], opts as unknown as SendOptions))],
        ['callSync', errorOf((async () => callSync(target, 'echo', [1], opts as unknown as SyncCallOptions))())],
      ] as const) {
        const e = await p;
        assert.equal(e.code, 'EINVAL', `${via}: ${e.message}`);
        assert.match(e.message, new RegExp(`the options are an object, got ${shown}$`), via);
      }
    }
  });

  test('every option in its type is taken', async () => {
    const target = servers[2]!.echo;
    for (const transport of ['auto', 'kernel', 'shm'] as const) assert.equal(await call(target, 'echo', [1], { transport, key: 'k', prefer: 'any' }), 1);
    assert.equal(await call(target, 'echo', [2], { key: 7n, prefer: 'local' }), 2);
    assert.equal(callSync(target, 'echo', [3], { key: 3 }), 3);
  });
});

for (const transport of ['kernel', 'shm'] as const) describe(`rpc, server killed, over ${transport}`, () => {
  const call = <R = unknown>(target: string | Ref, method: string, args: readonly unknown[] = [], o: CallOptions = {}): Promise<R> =>
    callFrom<R>(target, method, args, { transport, ...o });
  test('calls in flight to an isolate that exits fail with ECONNRESET promptly, none hangs', async () => {
    const name = `/rpc/doomed/${transport}`;
    const svc = await node.spawn(ECHO, { count: 2, data: { name } });
    const key = 'the same member';
    const victim = await call<number>(name, 'whoami', [], { key });
    assert.ok(svc.isolates.includes(victim));
    const survivor = svc.isolates.find((i) => i !== victim)!;

    const pending = [1, 2, 3, 4].map(() => call(name, 'slow', [5000], { key }));
    // A call in flight from another worker hears of the death too (through the main thread's notice).
    const fromAgent = unwrap(agent.call(name, 'slow', [5000], { key, transport }));
    // Wait until the victim has taken the slow calls (its handlers are running).
    await eventually(
      async () => {
        const st = await node.stats();
        const mb = st.isolates.find((i) => i.isolate === victim)?.stats?.mailboxes.find((m) => m.names.includes(name));
        return mb !== undefined && mb.received >= 6 && mb.depth === 0;
      },
      5000,
      'the victim to take the slow calls',
    );
    assert.equal((await mainStats()).callsInFlight, 5, 'four calls to the victim and one to the agent');

    const t0 = performance.now();
    const dying = call(name, 'die', [], { key });
    const settled = await within(
      Promise.all(
        [...pending, fromAgent, dying].map((p) =>
          p.then(
            () => ({ code: 'resolved', at: performance.now() - t0 }),
            (e: unknown) => ({ code: e instanceof FosError ? e.code : String(e), at: performance.now() - t0 }),
          ),
        ),
      ),
      5000,
      'calls to the dead isolate',
    );
    for (const [i, r] of settled.entries()) {
      assert.equal(r.code, 'ECONNRESET', `call ${i}`);
      assert.ok(r.at < 1000, `call ${i} failed after ${r.at.toFixed(0)} ms`);
    }
    assert.equal((await mainStats()).callsInFlight, 0);

    // The dead member's binding goes; the rest of the fleet keeps serving.
    await eventually(async () => (await lookup(name)).length === 1, 5000, 'the dead member to leave the fleet');
    assert.equal(await call(name, 'whoami', [], { key }), survivor);
    assert.equal(await call(name, 'whoami'), survivor);
    const report = (await node.stats()).isolates.find((i) => i.isolate === victim);
    assert.equal(report?.state, 'crashed');
    assert.equal(report?.exitCode, 7);
    await svc.stop();
  });

  test('the same through connect<T>(): ECONNRESET for each, spawn count 1', async () => {
    const name = `/rpc/doomed-one/${transport}`;
    const svc = await node.spawn(ECHO, { count: 1, data: { name } });
    const echo = connect<Echo>(name, { transport });
    const pending = [echo.slow(5000), echo.slow(5000), echo.slow(5000)];
    await eventually(async () => (await mainStats()).callsInFlight === 3, 5000, 'three calls in flight');
    await sleep(50); // let them reach the handler
    const t0 = performance.now();
    const codes = await within(Promise.all([...pending, echo.die()].map((p) => codeOf(p))), 5000, 'calls to the dead isolate');
    assert.ok(performance.now() - t0 < 1000, 'ECONNRESET well under a second');
    assert.deepEqual(codes, ['ECONNRESET', 'ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
    assert.equal(await codeOf(echo.echo('anyone?')), 'ENOENT');
    await svc.stop();
  });
});
