// Two nodes whose connections cross, in every order the network can
// deliver them: the proxies of two nodes in this process, on an in-memory
// network (helpers/fake-net.ts) whose deliveries a seeded generator
// orders, with Node's timers mocked so that a seed replays exactly.
// Whatever the order, they must end on one connection and one session
// that both hold, with no node declared down but the one that really lost
// its session, and messages must then go through, each exactly once. The
// scenarios: a first meeting; a broken connection both redial; a node
// that restarted; a node that declared the other down while apart; one
// node dialing two addresses of the other; a silence in the middle of a
// handshake; a half-open connection; a stale incarnation still alive beside
// its replacement; and random cuts, silences, restarts and sends.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import type { ReplyEnvelope } from '../src/envelope.js';
import type { Ref } from '../src/runtime/ref.js';
import type { StatusEvent } from '../src/node/status.js';
import { Proxy, type ProxyHost } from '../src/transport/tcp/proxy.js';
import type { Connection } from '../src/transport/tcp/connection.js';
import { PeerHistory } from '../src/transport/tcp/peer-history.js';
import { FakeNet, seeded, type FakeSocket } from './helpers/fake-net.js';

/** Orders tried per scenario. */
const ORDERS = 200;
// Timers that must not fire while a test watches (heartbeats, silence, handshakes); redials come at once.
const TCP = { heartbeatMs: 600_000, downMs: 1_800_000, handshakeMs: 600_000, backoff: { min: 1, max: 2 } };

mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });

interface TestNode {
  readonly name: string;
  readonly proxy: Proxy;
  readonly events: StatusEvent[];
  readonly delivered: unknown[];
  readonly logs: string[];
}

/** What the tests read of a proxy's state. */
interface Inside {
  readonly sessions: Map<string, { readonly sid: string; readonly lastSeq: number; readonly lastReceived: number; readonly incarnation: string; lastHeard: number }>;
  readonly wires: Map<string, Connection>;
  readonly connections: Set<Connection>;
  silent(peer: string, why: string): void;
}
const inside = (n: TestNode): Inside => n.proxy as unknown as Inside;

function startNode(net: FakeNet, name: string, address: string): TestNode {
  const events: StatusEvent[] = [];
  const delivered: unknown[] = [];
  const logs: string[] = [];
  const host: ProxyHost = {
    node: name,
    deliver: (_ref, msg) => {
      delivered.push(msg.data);
      return Promise.resolve();
    },
    reply: (_isolate: number, _env: ReplyEnvelope) => {},
    ownNames: () => ({ full: true, entries: [] }),
    peerNames: () => {},
    peerDown: () => {},
    emit: (ev) => events.push(ev),
    log: (line) => logs.push(line),
  };
  // The reconnect jitter seeded by the node's address, so that a scenario's redials come when they did the last time it ran.
  const jitter = seeded([...address].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 0));
  const proxy = new Proxy(host, { secret: 'a cluster secret of the tests', openSocket: (h, p) => net.connect(`${h}:${p}`), random: () => jitter(1 << 30) / (1 << 30), ...TCP });
  net.listen(address, (s) => proxy.accept(s));
  return { name, proxy, events, delivered, logs };
}

const A = '10.0.0.1:7070';
const B = '10.0.0.2:7070';
/** Another address of b's. */
const B2 = '10.0.1.2:7070';
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
/** Lets `ms` of mocked time pass, a millisecond at a time, with a turn of the event loop after each. */
async function pause(ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    mock.timers.tick(1);
    await turn();
  }
}
const downs = (n: TestNode): StatusEvent[] => n.events.filter((e) => e.type === 'peer-down');
/** What a session's frames going wrong would log: a gap, an ack of a frame never sent. */
const protocolErrors = (...nodes: TestNode[]): string[] => nodes.flatMap((n) => n.logs).filter((l) => /gap|never sent|acknowledges frame/.test(l));

/** What each side holds, for a failure's message. */
function holds(a: TestNode, b: TestNode): string {
  const one = (n: TestNode, peer: string): string => {
    const w = inside(n).wires.get(peer);
    const s = inside(n).sessions.get(peer);
    const conn = w === undefined ? 'no connection' : `a connection it ${w.role === 'dialer' ? 'dialed' : 'accepted'}${w.open ? '' : ' (closed)'}`;
    return `${n.name}: ${conn}, session ${s === undefined ? 'none' : `${s.sid} (sent ${s.lastSeq}, received ${s.lastReceived})`}, ${inside(n).connections.size} connection(s)`;
  };
  return `${one(a, b.name)}; ${one(b, a.name)}`;
}

/** Asserts that `a` and `b` share one open connection, and nothing else, and one session; returns its id. */
function assertConverged(a: TestNode, b: TestNode, seed: number): string {
  const wa = inside(a).wires.get(b.name);
  const wb = inside(b).wires.get(a.name);
  const why = `seed ${seed}: ${holds(a, b)}`;
  assert.ok(wa?.open === true && wb?.open === true, `both hold an open connection; ${why}`);
  assert.equal(wa.socket as unknown as FakeSocket, (wb.socket as unknown as FakeSocket).out.to, `both hold the two ends of one connection; ${why}`);
  assert.deepStrictEqual([inside(a).connections.size, inside(b).connections.size], [1, 1], `no other connection left open or in a handshake; ${why}`);
  const sid = inside(a).sessions.get(b.name)?.sid;
  assert.ok(sid !== undefined && sid === inside(b).sessions.get(a.name)?.sid, `one session on both sides; ${why}`);
  return sid;
}

const refOf = (node: string): Ref => ({ address: { node, isolate: 1, mailbox: 1 }, cap: 'c' }) as unknown as Ref;

/** Sends a message from `a` to `b` and delivers until it is in: the session carries traffic. */
async function assertCarries(net: FakeNet, a: TestNode, b: TestNode, pick: (n: number) => number, seed: number): Promise<void> {
  const data = `seed ${seed}`;
  const sent = a.proxy.send(refOf(b.name), { data }, { wait: true });
  await net.run(pick);
  await sent;
  assert.equal(b.delivered.at(-1), data);
}

/** Lets the dialers' redial timers fire, then delivers what they started, `rounds` times. */
async function settle(net: FakeNet, pick: (n: number) => number, rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await pause(8);
    await net.run(pick);
  }
}

/** Settled, the nodes stay quiet: a dialer whose connection lost waits; nobody dials again and again. */
async function assertQuiet(net: FakeNet, a: TestNode, b: TestNode, pick: (n: number) => number, seed: number): Promise<void> {
  const before = a.events.length + b.events.length;
  await settle(net, pick);
  assert.equal(a.events.length + b.events.length, before, `seed ${seed}: quiet once settled: ${JSON.stringify([...a.events, ...b.events].slice(before, before + 4))}`);
}

/**
 * As if `n` had heard nothing from `peer` for longer than three heartbeats:
 * the time a newcomer of `peer`'s name waits before it may take the name
 * over (the mocked timers do not move performance.now(), which sessions
 * time their silences by).
 */
function longSilent(n: TestNode, peer: string): void {
  const s = inside(n).sessions.get(peer);
  if (s !== undefined) s.lastHeard = -Infinity;
}

/** The sockets of `n`'s connections are cut, as a crash or a broken link would: no Close frame. */
function cut(n: TestNode): void {
  for (const c of inside(n).connections) c.socket.destroy();
}

/** Two nodes meeting by dialing each other at once, delivered in the order `seed` picks. */
async function firstMeeting(seed: number): Promise<{ net: FakeNet; a: TestNode; b: TestNode; pick: (n: number) => number }> {
  const net = new FakeNet();
  const a = startNode(net, 'a', A);
  const b = startNode(net, 'b', B);
  a.proxy.dial(B);
  b.proxy.dial(A);
  const pick = seeded(seed);
  await net.run(pick);
  return { net, a, b, pick };
}

describe('two nodes whose connections cross, in every order of delivery', () => {
  it(`meeting for the first time: one connection, one session, nobody declared down, the session up once on each side (${ORDERS} orders)`, async () => {
    for (let seed = 1; seed <= ORDERS; seed++) {
      const { net, a, b, pick } = await firstMeeting(seed);
      try {
        assertConverged(a, b, seed);
        await settle(net, pick);
        assertConverged(a, b, seed);
        assert.deepStrictEqual([downs(a), downs(b)], [[], []], `seed ${seed}: nobody declared down`);
        // A new session comes up once on each side. (A side that hears the peer close the connection it
        // replaced before the new one is ready sees the session resume on it: a peer-up that says so.)
        const ups = (n: TestNode): StatusEvent[] => n.events.filter((e) => e.type === 'peer-up' && !e.resumed);
        assert.deepStrictEqual([ups(a).length, ups(b).length], [1, 1], `seed ${seed}: one new session each: ${JSON.stringify([a.events, b.events])}`);
        await assertQuiet(net, a, b, pick, seed);
        await assertCarries(net, a, b, pick, seed);
      } finally {
        await Promise.all([a.proxy.close(), b.proxy.close()]);
      }
    }
  });

  it(`one node dialing the other at two addresses at once: one connection, one session, and quiet (${ORDERS} orders)`, async () => {
    for (let seed = 1; seed <= ORDERS; seed++) {
      const net = new FakeNet();
      const a = startNode(net, 'a', A);
      const b = startNode(net, 'b', B);
      net.listen(B2, (s) => b.proxy.accept(s));
      a.proxy.dial(B);
      a.proxy.dial(B2);
      const pick = seeded(seed);
      try {
        // Rounds enough for the redials the backoff's jitter (Math.random, not seeded) may put late.
        await settle(net, pick, 6);
        assertConverged(a, b, seed);
        assert.deepStrictEqual([downs(a), downs(b)], [[], []], `seed ${seed}: nobody declared down`);
        await assertQuiet(net, a, b, pick, seed);
        await assertCarries(net, a, b, pick, seed);
      } finally {
        await Promise.all([a.proxy.close(), b.proxy.close()]);
      }
    }
  });

  it(`after the connection broke, both redialing: the session resumes (${ORDERS} orders)`, async () => {
    for (let seed = 1; seed <= ORDERS; seed++) {
      const { net, a, b, pick } = await firstMeeting(seed);
      try {
        await settle(net, pick);
        const sid = assertConverged(a, b, seed);
        cut(a);
        await settle(net, seeded(seed + 1000));
        assert.equal(assertConverged(a, b, seed), sid, `seed ${seed}: the same session`);
        assert.deepStrictEqual([downs(a), downs(b)], [[], []], `seed ${seed}: nobody declared down`);
        await assertCarries(net, a, b, pick, seed);
      } finally {
        await Promise.all([a.proxy.close(), b.proxy.close()]);
      }
    }
  });

  it(`a node redialing while the other still uses its half-open connection replaces it at once (${ORDERS} orders)`, async () => {
    for (let seed = 1; seed <= ORDERS; seed++) {
      const net = new FakeNet();
      const a = startNode(net, 'a', A);
      const b = startNode(net, 'b', B);
      const pick = seeded(seed);
      try {
        b.proxy.dial(A);
        await settle(net, pick);
        const sid = assertConverged(a, b, seed);
        // b's end goes, and a hears nothing of it: a's end of the connection is still open, and was heard from just now.
        for (const c of inside(b).connections) (c.socket as unknown as FakeSocket).vanish();
        const before = a.events.length + b.events.length;
        await settle(net, pick);
        assert.equal(assertConverged(a, b, seed), sid, `seed ${seed}: the session resumed`);
        const refusals = [...a.events, ...b.events].slice(before).filter((e) => e.type === 'handshake-rejected');
        assert.deepStrictEqual(refusals, [], `seed ${seed}: the redial was not refused as a duplicate of the dead connection`);
        await assertCarries(net, a, b, pick, seed);
      } finally {
        await Promise.all([a.proxy.close(), b.proxy.close()]);
      }
    }
  });

  it(`after one node restarted: a new session, the restart declared once, by the other (${ORDERS} orders)`, async () => {
    for (let seed = 1; seed <= ORDERS; seed++) {
      const { net, a, b, pick } = await firstMeeting(seed);
      let b2: TestNode | undefined;
      try {
        await settle(net, pick);
        const sid = assertConverged(a, b, seed);
        // b crashes (no Close frame) and comes back at the same address, after a's staleness bound; both dial.
        cut(b);
        await b.proxy.close();
        longSilent(a, 'b');
        b2 = startNode(net, 'b', B);
        b2.proxy.dial(A);
        await settle(net, seeded(seed + 1000));
        assert.notEqual(assertConverged(a, b2, seed), sid, `seed ${seed}: a new session`);
        assert.equal(downs(a).length, 1, `seed ${seed}: a declared the old b down once: ${JSON.stringify(downs(a))}`);
        assert.deepStrictEqual(downs(b2), [], `seed ${seed}: the new b declared nobody down`);
        await assertCarries(net, a, b2, pick, seed);
      } finally {
        await Promise.all([a.proxy.close(), b.proxy.close(), b2?.proxy.close()]);
      }
    }
  });

  it(`after one node declared the other down while apart: a new session, declared down once on the other side too (${ORDERS} orders)`, async () => {
    for (let seed = 1; seed <= ORDERS; seed++) {
      const { net, a, b, pick } = await firstMeeting(seed);
      try {
        await settle(net, pick);
        const sid = assertConverged(a, b, seed);
        // Apart: the link is cut, and a (only) declares b down, as a silence past its down timeout would.
        cut(a);
        cut(b);
        inside(a).silent('b', 'silent past the down timeout');
        await settle(net, seeded(seed + 1000));
        assert.notEqual(assertConverged(a, b, seed), sid, `seed ${seed}: a new session`);
        assert.equal(downs(a).length, 1, `seed ${seed}: a's own verdict only: ${JSON.stringify(downs(a))}`);
        assert.equal(downs(b).length, 1, `seed ${seed}: b learns its session is gone, once: ${JSON.stringify(downs(b))}`);
        await assertCarries(net, a, b, pick, seed);
      } finally {
        await Promise.all([a.proxy.close(), b.proxy.close()]);
      }
    }
  });

  it('a node that declares the other down between its Auth and the Ready does not start the ended session again', async () => {
    // The order a review found by hand: b's handshake on its own dial waits
    // after its Auth while a's dial makes the session; b then declares a
    // down for silence, and the late Ready names the session b just ended.
    const net = new FakeNet();
    const a = startNode(net, 'a', A);
    const b = startNode(net, 'b', B);
    type Direction = (typeof net.directions)[number];
    const deliverFrom = async (d: Direction, n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        await turn();
        net.stepFrom(d);
      }
      await turn();
    };
    /** Delivers all but what waits in `held`. */
    const runExcept = async (held: Direction): Promise<void> => {
      for (let guard = 0; guard < 1000; guard++) {
        await turn();
        const next = net.directions.find((d) => d !== held && d.items.length > 0);
        if (next === undefined && net.waiting === held.items.length) return;
        if (next !== undefined) net.stepFrom(next);
        else net.step(() => 0); // a deferred event
      }
    };
    try {
      a.proxy.dial(B); // directions 0 (to b) and 1 (to a)
      b.proxy.dial(A); // directions 2 (to a) and 3 (to b)
      const [, , bsDialToA, bsDialToB] = net.directions as [Direction, Direction, Direction, Direction];
      await deliverFrom(bsDialToA, 2); // the open and b's hello
      await deliverFrom(bsDialToB, 1); // a's hello (with its proof): b sends its Auth, which waits
      assert.equal(bsDialToA.items.length, 1, "b's Auth waits");
      await runExcept(bsDialToA); // a's dial runs to the end: the session starts on both sides
      const first = inside(a).sessions.get('b')?.sid;
      assert.ok(first !== undefined && first === inside(b).sessions.get('a')?.sid, `one session: ${holds(a, b)}`);
      await deliverFrom(bsDialToA, 1); // b's Auth: a sends a Ready naming the same session, then refuses the duplicate
      inside(b).silent('a', 'silent past the down timeout');
      await net.run(seeded(1));
      await settle(net, seeded(2), 5);
      const sid = assertConverged(a, b, 0);
      assert.notEqual(sid, first, 'a new session');
      assert.deepStrictEqual(protocolErrors(a, b), [], 'no frame lost, repeated or out of place');
      await assertCarries(net, a, b, seeded(3), 0);
      await assertCarries(net, b, a, seeded(4), 0);
    } finally {
      await Promise.all([a.proxy.close(), b.proxy.close()]);
    }
  });

  it('a stale incarnation still alive beside the one that replaced it is refused; the new one keeps its session', async () => {
    const net = new FakeNet();
    const a = startNode(net, 'a', A);
    const old = startNode(net, 'b', B);
    const pick = seeded(7);
    try {
      old.proxy.dial(A);
      await settle(net, pick);
      await assertCarries(net, a, old, pick, 1);
      // The old b hangs: a hears nothing from it and drops its connection as stale (as its tick would).
      // b's replacement starts elsewhere while the old one lives on, and comes back later.
      inside(a).wires.get('b')!.close('no frame for 3000 ms');
      longSilent(a, 'b');
      const b = startNode(net, 'b', B2);
      try {
        b.proxy.dial(A);
        await settle(net, pick, 6);
        const sid = inside(a).sessions.get('b')?.sid;
        assert.equal(sid, inside(b).sessions.get('a')?.sid, `a holds the new b's session: ${holds(a, b)}`);
        assert.deepStrictEqual(protocolErrors(a, b, old), []);
        assert.ok(a.events.some((e) => e.type === 'handshake-rejected' && e.code === 'EEXIST' && /former incarnation/.test(e.reason)), 'the stale one was refused');
        await assertCarries(net, a, b, pick, 2);
        // The stale one's own down timeout gives it a new epoch, and so a new session id: still refused.
        if (inside(old).sessions.has('a')) inside(old).silent('a', 'silent past the down timeout');
        const downsBefore = downs(a).length;
        await settle(net, pick, 6);
        assert.equal(inside(a).sessions.get('b')?.sid, sid, `a keeps the new b's session: ${holds(a, b)}`);
        assert.equal(downs(a).length, downsBefore, 'a declared nobody down');
        await assertCarries(net, a, b, pick, 3);
        await assertCarries(net, b, a, pick, 4);
      } finally {
        await b.proxy.close();
      }
    } finally {
      await Promise.all([a.proxy.close(), old.proxy.close()]);
    }
  });

  it('a second process started under the name of a live node is refused; the live one keeps its session and its place', async () => {
    const net = new FakeNet();
    const a = startNode(net, 'a', A);
    const b = startNode(net, 'b', B);
    const pick = seeded(11);
    try {
      b.proxy.dial(A);
      await settle(net, pick);
      const sid = assertConverged(a, b, 0);
      // Another process calls itself b (a typo in --name), dials a and is dialed by it.
      const twin = startNode(net, 'b', B2);
      try {
        twin.proxy.dial(A);
        a.proxy.dial(B2);
        await settle(net, pick, 6);
        const refusals = (n: TestNode): string[] => n.events.flatMap((e) => (e.type === 'handshake-rejected' ? [`${e.code} by ${e.by}: ${e.reason}`] : []));
        assert.ok(refusals(a).length >= 2 && refusals(a).every((r) => /^EEXIST by local: .*node name b is taken/.test(r)), `a refused the twin both ways: ${JSON.stringify(refusals(a))}`);
        assert.ok(refusals(twin).some((r) => /^EEXIST by peer: .*node name b is taken/.test(r)), `the twin hears why: ${JSON.stringify(refusals(twin))}`);
        assert.equal(assertConverged(a, b, 0), sid, 'a and the real b keep their session');
        assert.deepStrictEqual([downs(a), downs(b)], [[], []], 'nobody declared down');
        assert.ok(!twin.events.some((e) => e.type === 'peer-up'), 'the twin never came up');
        assert.equal(a.proxy.upAt(B2), undefined, "the twin's address is not up: the session there is the real b's");
        // The real b's connection breaks while the twin keeps dialing: the twin must not slip in before b redials.
        for (let i = 0; i < 5; i++) {
          cut(b);
          await settle(net, seeded(100 + i), 6);
          assert.equal(assertConverged(a, b, i), sid, `cut ${i}: the real b resumed its session`);
        }
        assert.ok(!twin.events.some((e) => e.type === 'peer-up'), 'the twin never came up, through the cuts either');
        assert.deepStrictEqual([downs(a), downs(b)], [[], []], 'nobody declared down, through the cuts either');
      } finally {
        await twin.proxy.close();
      }
      // The twin gone, the real b is not a "former incarnation": it still carries traffic, and redials after a break.
      cut(b);
      await settle(net, pick, 6);
      assert.equal(assertConverged(a, b, 0), sid, 'the session resumed after a break');
      await assertCarries(net, a, b, pick, 1);
      await assertCarries(net, b, a, pick, 2);
    } finally {
      await Promise.all([a.proxy.close(), b.proxy.close()]);
    }
  });

  it("a process whose name another holds is told so at its address, not left alone: a dialer parks only for the process it found there", async () => {
    const net = new FakeNet();
    const a = startNode(net, 'a', A);
    const b = startNode(net, 'b', B);
    const pick = seeded(21);
    const twin = startNode(net, 'b', B2);
    let back: TestNode | undefined;
    try {
      a.proxy.dial(B);
      await settle(net, pick);
      assertConverged(a, b, 0);
      twin.proxy.dial(A); // refused while b lives
      await settle(net, pick, 4);
      // b shuts down cleanly: the twin takes the name.
      await b.proxy.close();
      await settle(net, pick, 6);
      assert.equal(inside(a).sessions.get('b')?.incarnation, twin.proxy.incarnation, 'the twin holds the name now');
      // b comes back at its address and dials nobody: a's dialer of that address must find it.
      back = startNode(net, 'b', B);
      await settle(net, pick, 6);
      const told = back.events.filter((e) => e.type === 'handshake-rejected' && /node name b is taken/.test(e.reason));
      assert.ok(told.length > 0, `the process back at b address hears its name is taken: ${JSON.stringify(back.events)} ${JSON.stringify(a.events.slice(-6))} ${JSON.stringify(a.logs.slice(-6))}`);
      assert.equal(inside(a).sessions.get('b')?.incarnation, twin.proxy.incarnation, 'the twin keeps the name it holds');
    } finally {
      await Promise.all([a.proxy.close(), b.proxy.close(), twin.proxy.close(), back?.proxy.close()]);
    }
  });

  it('a node that shuts down in the middle of a handshake reports no refusal: it refused nothing', async () => {
    const net = new FakeNet();
    const a = startNode(net, 'a', A);
    net.listen(B, () => {}); // accepts, and never answers
    a.proxy.dial(B);
    await net.run(seeded(1));
    await a.proxy.close();
    await net.run(seeded(2));
    assert.deepStrictEqual(a.events.filter((e) => e.type === 'handshake-rejected'), []);
  });

  it('random cuts, silences on either side, restarts and sends: the nodes converge, and every send settles, delivered exactly once if it succeeded (150 seeds)', async () => {
    for (let seed = 1; seed <= 150; seed++) {
      const net = new FakeNet();
      const a = startNode(net, 'a', A);
      let b = startNode(net, 'b', B);
      const retired: TestNode[] = [];
      a.proxy.dial(B);
      b.proxy.dial(A);
      const pick = seeded(seed);
      const chance = seeded(seed * 7919 + 1);
      // Time passes for a b that restarted: a's session with it, once its late frames are in, has been silent past the staleness bound.
      const deadAreSilent = (): void => {
        const inc = inside(a).sessions.get('b')?.incarnation;
        if (retired.some((r) => r.proxy.incarnation === inc)) longSilent(a, 'b');
      };
      const outcomes = new Map<string, { from: TestNode; to: string; result: string | undefined }>();
      let n = 0;
      const send = (x: TestNode, y: string): void => {
        if (inside(x).sessions.get(y) === undefined) return;
        const data = `${x.name}->${y} #${n++}`;
        const o = { from: x, to: y, result: undefined as string | undefined };
        outcomes.set(data, o);
        x.proxy.send(refOf(y), { data }, { wait: true }).then(
          () => (o.result = 'ok'),
          (e: Error & { code?: string }) => (o.result = e.code ?? e.message),
        );
      };
      try {
        for (let step = 0; step < 400; step++) {
          await turn();
          if (chance(100) < 5) {
            const fault = chance(6);
            if (fault === 0) (cut(a), cut(b));
            else if (fault === 1) inside(a).silent('b', 'injected silence');
            else if (fault === 2) inside(b).silent('a', 'injected silence');
            else if (fault === 3) {
              cut(b);
              await b.proxy.close();
              retired.push(b);
              b = startNode(net, 'b', B);
              b.proxy.dial(A);
            } else if (chance(2) === 0) send(a, 'b');
            else send(b, 'a');
            continue;
          }
          if (!net.step(pick)) await pause(3);
          deadAreSilent();
        }
        for (let round = 0; round < 10; round++) {
          deadAreSilent();
          await settle(net, pick, 1);
        }
        assertConverged(a, b, seed);
        assert.deepStrictEqual(protocolErrors(a, b, ...retired), [], `seed ${seed}`);
        send(a, 'b');
        send(b, 'a');
        await settle(net, pick, 5);
        for (const [data, o] of outcomes) {
          const to = o.to === 'a' ? [a] : [b, ...retired];
          const count = to.reduce((k, t) => k + t.delivered.filter((d) => d === data).length, 0);
          assert.notEqual(o.result, undefined, `seed ${seed}: ${data} settled (delivered ${count} times)`);
          assert.ok(count <= 1, `seed ${seed}: ${data} delivered ${count} times`);
          if (o.result === 'ok') assert.equal(count, 1, `seed ${seed}: ${data} succeeded, so it was delivered`);
          // ECONNRESET: the peer was declared down; ECLOSED: the sender's own node shut down (a restart).
          else assert.ok(o.result === 'ECONNRESET' || (o.result === 'ECLOSED' && retired.includes(o.from)), `seed ${seed}: ${data} failed with ${o.result}`);
        }
      } finally {
        await Promise.all([a.proxy.close(), b.proxy.close()]);
      }
    }
  });
});

describe("a node's history of its peers", () => {
  it('forgets the peers touched least recently past its bound, but never one it holds a session with', () => {
    const live = new Set(['healthy']);
    const h = new PeerHistory((peer) => live.has(peer));
    h.bump('healthy');
    h.end('healthy', 'sid-1');
    h.met('healthy', 'inc-1');
    h.met('healthy', 'inc-2');
    h.bump('gone');
    for (let i = 0; i < 2000; i++) h.end(`cli-${i}`, 'x');
    assert.equal(h.epoch('healthy'), 1, 'a peer with a session keeps its epoch');
    assert.ok(h.ended('healthy', 'sid-1') && h.retired('healthy', 'inc-1') && !h.retired('healthy', 'inc-2'));
    assert.equal(h.epoch('gone'), 0, 'one without a session, touched long ago, is forgotten');
    assert.equal(h.epoch('cli-1999'), 0);
    assert.ok(h.ended('cli-1999', 'x'), 'the latest are kept');
  });
});
