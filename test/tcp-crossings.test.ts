// Two nodes dialing each other at once, in every order the network can
// deliver the two handshakes: the proxies of two nodes in this process, on
// an in-memory network (helpers/fake-net.ts) whose deliveries a seeded
// generator orders. Whatever the order, they must end on one connection
// (the one the tie-break names) and one session that both hold, with no
// node declared down but the one that really lost its session, and a
// message must then go through. The scenarios: a first meeting; a broken
// connection both redial; a node that restarted; a node that declared the
// other down while they were apart.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReplyEnvelope } from '../src/envelope.js';
import type { Ref } from '../src/runtime/ref.js';
import type { StatusEvent } from '../src/node/status.js';
import { Proxy, type ProxyHost } from '../src/transport/tcp/proxy.js';
import type { Connection } from '../src/transport/tcp/connection.js';
import { FakeNet, seeded, type FakeSocket } from './helpers/fake-net.js';

/** Orders tried per scenario. */
const ORDERS = 60;
// Timers that must not fire while a test watches (heartbeats, silence, handshakes); redials come at once.
const TCP = { heartbeatMs: 600_000, downMs: 1_200_000, handshakeMs: 600_000, backoff: { min: 1, max: 2 } };

interface TestNode {
  readonly name: string;
  readonly address: string;
  readonly proxy: Proxy;
  readonly events: StatusEvent[];
  readonly delivered: unknown[];
}

/** What the tests read of a proxy's state. */
interface Inside {
  readonly sessions: Map<string, { readonly sid: string }>;
  readonly wires: Map<string, Connection>;
  readonly connections: Set<Connection>;
  silent(peer: string, why: string): void;
}
const inside = (n: TestNode): Inside => n.proxy as unknown as Inside;

function startNode(net: FakeNet, name: string, address: string): TestNode {
  const events: StatusEvent[] = [];
  const delivered: unknown[] = [];
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
    log: () => {},
  };
  const proxy = new Proxy(host, { secret: 'a cluster secret of the tests', openSocket: (h, p) => net.connect(`${h}:${p}`), ...TCP });
  const node = { name, address, proxy, events, delivered };
  net.listen(address, (s) => proxy.accept(s));
  return node;
}

const A = '10.0.0.1:7070';
const B = '10.0.0.2:7070';
/** Another address of b's. */
const B2 = '10.0.1.2:7070';
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const downs = (n: TestNode): StatusEvent[] => n.events.filter((e) => e.type === 'peer-down');

/** What each side holds, for a failure's message. */
function holds(a: TestNode, b: TestNode): string {
  const one = (n: TestNode, peer: string): string => {
    const w = inside(n).wires.get(peer);
    return `${n.name}: ${w === undefined ? 'no connection' : `a connection it ${w.role === 'dialer' ? 'dialed' : 'accepted'}${w.open ? '' : ' (closed)'}`}, session ${inside(n).sessions.get(peer)?.sid ?? 'none'}`;
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

/** Sends a message from `a` to `b` and delivers until it is in: the session carries traffic. */
async function assertCarries(net: FakeNet, a: TestNode, b: TestNode, pick: (n: number) => number, seed: number): Promise<void> {
  const ref = { address: { node: b.name, isolate: 1, mailbox: 1 }, cap: 'c' } as unknown as Ref;
  const data = `seed ${seed}`;
  const sent = a.proxy.send(ref, { data }, { wait: true });
  await net.run(pick);
  await sent;
  assert.equal(b.delivered.at(-1), data);
}

/** Lets the dialers' redial timers fire, then delivers what they started: a refused dialer must wait, not dial again and again. */
async function settle(net: FakeNet, pick: (n: number) => number): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await pause(8);
    await net.run(pick);
  }
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

describe('two nodes dialing each other at once, in every order of delivery', () => {
  it(`meeting for the first time: one connection, one session, nobody declared down (${ORDERS} orders)`, async () => {
    for (let seed = 1; seed <= ORDERS; seed++) {
      const { net, a, b, pick } = await firstMeeting(seed);
      try {
        assertConverged(a, b, seed);
        await settle(net, pick);
        assertConverged(a, b, seed);
        assert.deepStrictEqual([downs(a), downs(b)], [[], []], `seed ${seed}: nobody declared down`);
        // Settled: a dialer whose connection lost waits; nobody dials again and again.
        const before = a.events.length + b.events.length;
        await settle(net, pick);
        assert.equal(a.events.length + b.events.length, before, `seed ${seed}: quiet once settled: ${JSON.stringify([...a.events, ...b.events].slice(-4))}`);
        await assertCarries(net, a, b, pick, seed);
      } finally {
        await Promise.all([a.proxy.close(), b.proxy.close()]);
      }
    }
  });

  it(`one node dialing the other at two addresses at once: one connection, one session (${ORDERS} orders)`, async () => {
    for (let seed = 1; seed <= ORDERS; seed++) {
      const net = new FakeNet();
      const a = startNode(net, 'a', A);
      const b = startNode(net, 'b', B);
      net.listen(B2, (s) => b.proxy.accept(s));
      a.proxy.dial(B);
      a.proxy.dial(B2);
      const pick = seeded(seed);
      try {
        await settle(net, pick);
        assertConverged(a, b, seed);
        assert.deepStrictEqual([downs(a), downs(b)], [[], []], `seed ${seed}: nobody declared down`);
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

  it(`after one node restarted: a new session, the restart declared once, by the other (${ORDERS} orders)`, async () => {
    for (let seed = 1; seed <= ORDERS; seed++) {
      const { net, a, b, pick } = await firstMeeting(seed);
      let b2: TestNode | undefined;
      try {
        await settle(net, pick);
        const sid = assertConverged(a, b, seed);
        // b crashes (no Close frame) and comes back at the same address; both dial.
        cut(b);
        await b.proxy.close();
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
        inside(b).connections.forEach((c) => c.socket.destroy());
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
});
