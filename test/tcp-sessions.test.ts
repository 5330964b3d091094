// Two nodes that both dial each other (each lists the other as a peer, as
// in a full mesh): the tie-break keeps one connection, the other dialer
// waits instead of redialing in a loop; when the kept connection is cut,
// whichever side reconnects first resumes the same session — nothing is
// lost, repeated or declared down, also for frames larger than the
// handshake's 4 KiB limit (sent again as the session resumes, or a name
// table sent as it starts). And a flood of refused messages, whose
// verdicts exceed a frame, crashes nothing. A peer that keeps shaking
// hands but never sends a frame is silent, and declared down. A second
// process started under a live node's name is refused, and the live node
// keeps its place. A node given its own address drops it. waitForPeers
// says why a peer is not up: EACCES at once for a refused authentication,
// else ETIMEDOUT with the last reason.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { boot, call, createMailbox, send, serve, type StatusEvent } from '../src/index.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { nextEvent, peerUp, startNode, type RemoteNode } from './helpers/cluster.js';
import { AGENT, eventually } from './helpers/places.js';
import type { Verdict } from './fixtures/agent.js';
import { collect } from './helpers/boxes.js';
import { rawDial } from './helpers/raw-tcp.js';
import { Dialers, SELF_REDIAL_MS } from '../src/transport/tcp/dialers.js';
import type { Connection } from '../src/transport/tcp/connection.js';

const DOWN_MS = 3000;
const TCP = { heartbeatMs: 100, downMs: DOWN_MS, backoff: { min: 20, max: 200 }, maxFrame: 64 * 1024 };
const logged: string[] = [];
const node = await boot({ name: 'mesh-a', listen: '127.0.0.1:0', tcp: TCP, log: (line) => logged.push(line) });
const events: StatusEvent[] = [];
void (async () => {
  for await (const e of node.status()) events.push(e);
})();
let b: RemoteNode;
let proxy: FaultProxy;

before(async () => {
  const up = peerUp(node, 'mesh-b');
  // b dials this node directly; this node dials b through the fault proxy.
  // The tie-break keeps the connection this node dialed ('mesh-a' sorts first): the one through the proxy.
  b = await startNode({ boot: { name: 'mesh-b', listen: '127.0.0.1:0', peers: [node.address!], tcp: TCP }, spawn: [{ module: AGENT.href, data: { name: '/mesh/agent' } }], waitFor: ['mesh-a'] });
  await up;
  proxy = await startFaultProxy(b.address!);
  node.addPeer(proxy.address);
  await eventually(() => proxy.live > 0 && events.some((e) => e.type === 'handshake-rejected' || (e.type === 'peer-up' && e.resumed)), 10_000, 'the second connection settled');
});

after(async () => {
  await b?.kill();
  await proxy?.close();
  await node.shutdown();
});

it('waitForPeers gives the nodes reached at the addresses this node dials, once they are up', async () => {
  assert.deepStrictEqual(await node.waitForPeers(5000), ['mesh-b']);
});

it('the losing dialer waits rather than redialing in a loop', async () => {
  await new Promise((r) => setTimeout(r, 500));
  const before = events.length;
  await new Promise((r) => setTimeout(r, 1500));
  const rejected = events.slice(before).filter((e) => e.type === 'handshake-rejected' || e.type === 'reconnecting');
  assert.ok(rejected.length <= 1, `quiet for 1.5 s, got ${JSON.stringify(rejected)}`);
  // The crossing itself (a connection refused as a duplicate, or replaced) is how a mesh forms: not in the log.
  assert.ok(events.some((e) => e.type === 'handshake-rejected' || (e.type === 'peer-up' && e.resumed)), 'the connections crossed');
  assert.deepStrictEqual(logged.filter((l) => /duplicate connection|replaced by another connection/.test(l)), []);
});

it("a node given its own address among its peers (one list for every node) dials it only now and then, quietly: no refusal, no redial event, and waitForPeers waits for the others only", async () => {
  const before = events.length;
  node.addPeer(node.address!);
  assert.deepStrictEqual(await node.waitForPeers(5000), ['mesh-b']);
  await new Promise((r) => setTimeout(r, 1000));
  const ofItself = events.slice(before).filter((e) => (e.type === 'reconnecting' && e.address === node.address) || (e.type === 'handshake-rejected' && /calls itself|itself/.test(e.reason)));
  assert.deepStrictEqual(ofItself, []);
  assert.deepStrictEqual(logged.filter((l) => l.includes('itself')), [`${node.address} leads back to this node itself: dialed again only every 30 s, quietly`]);
});

it('Dialers: an address that led back to this node is dialed again after SELF_REDIAL_MS, with no reconnecting event; once another node answers there, it backs off as any', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const conns: Connection[] = [];
  const emitted: StatusEvent[] = [];
  const dialers = new Dialers({ connect: (_h, _p, address) => (conns.push({ address } as Connection), conns[conns.length - 1]!), connected: () => false, emit: (e) => emitted.push(e) }, { min: 10, max: 100 }, () => 0);
  try {
    dialers.dial('127.0.0.1:1');
    assert.equal(conns.length, 1);
    dialers.landedOnSelf(conns[0]!);
    assert.ok(dialers.isOwn('127.0.0.1:1'));
    dialers.ended(conns[0]!, 'this node dialed itself');
    assert.equal(emitted.length, 0, 'no reconnecting event');
    t.mock.timers.tick(SELF_REDIAL_MS - 1);
    assert.equal(conns.length, 1, 'not before SELF_REDIAL_MS');
    t.mock.timers.tick(1);
    assert.equal(conns.length, 2, 'dialed again');
    dialers.reached('127.0.0.1:1', 'another', 'inc');
    assert.ok(!dialers.isOwn('127.0.0.1:1'));
    dialers.ended(conns[1]!, 'connection closed');
    assert.deepStrictEqual(emitted.map((e) => e.type), ['reconnecting']);
    t.mock.timers.tick(10);
    assert.equal(conns.length, 3, 'after the backoff');
  } finally {
    dialers.close();
  }
});

/**
 * b sends `n` sequence-numbered messages tagged `tag` (each with `pad`
 * bytes more, if given) to a mailbox of this node while the kept
 * connection is cut 8 times, every `everyMs`: what arrived, and how many
 * connections the cuts ended.
 */
async function streamAcrossCuts(tag: string, n: number, everyMs: number, pad?: number): Promise<{ verdict: Verdict; cuts: number }> {
  const mb = await createMailbox({ capacity: 4096 });
  try {
    const got = collect(mb, n) as Promise<Verdict>;
    const sent = b.call('/mesh/agent', 'sendSeq', pad === undefined ? [mb.ref, n, tag] : [mb.ref, n, tag, {}, pad], 60_000);
    let cuts = 0;
    const cutter = (async () => {
      for (let i = 0; i < 8; i++) {
        await new Promise((r) => setTimeout(r, everyMs));
        cuts += proxy.cut();
      }
    })();
    const verdict = await got;
    await sent;
    await cutter;
    return { verdict, cuts };
  } finally {
    mb.close();
  }
}

it('cutting the kept connection again and again loses, repeats and resets nothing: the session resumes', async () => {
  const N = 20_000;
  const { verdict, cuts } = await streamAcrossCuts('mesh', N, 150);
  assert.deepStrictEqual(verdict, { received: N, perTag: { mesh: N }, outOfOrder: 0, duplicates: 0 });
  assert.ok(cuts >= 1, 'the kept connection was cut');
  assert.ok(!events.some((e) => e.type === 'peer-down'), `no peer-down: ${JSON.stringify(events.filter((e) => e.type === 'peer-down'))}`);
  assert.ok(events.some((e) => e.type === 'peer-up' && e.resumed), 'the session resumed');
});

it('frames larger than the handshake allows (4 KiB) are sent again after a cut like any other: the session resumes, nothing lost', async () => {
  // b sends them, and b accepts the kept connection: what it sends again
  // follows its last handshake frame at once, often in the same chunk.
  const N = 1500;
  const { verdict, cuts } = await streamAcrossCuts('big', N, 100, 6000);
  assert.deepStrictEqual(verdict, { received: N, perTag: { big: N }, outOfOrder: 0, duplicates: 0 });
  assert.ok(cuts >= 1, 'the kept connection was cut');
  const refused = events.filter((e) => e.type === 'handshake-rejected' && /exceeds the limit/.test(e.reason));
  assert.deepStrictEqual(refused, [], 'no handshake refused for the size of a frame sent again');
  assert.ok(!events.some((e) => e.type === 'peer-down'), `no peer-down: ${JSON.stringify(events.filter((e) => e.type === 'peer-down'))}`);
});

it('a node whose name table is larger than the handshake allows (4 KiB) is joined: its table, sent as the session starts, arrives whole', async () => {
  const boxes = await Promise.all(Array.from({ length: 150 }, (_, i) => createMailbox({ name: `/mesh/many/${i}` })));
  try {
    // c dials this node, which sends its table right after its last handshake frame.
    const c = await startNode({ boot: { name: 'mesh-c', peers: [node.address!], tcp: TCP }, waitFor: ['mesh-a'], lookupAfterWaitForPeers: '/mesh/many/149' }, 10_000);
    try {
      assert.equal(c.found, 1, 'the last name of the table reached c');
      assert.deepStrictEqual(c.events.filter((e) => e.type === 'handshake-rejected'), []);
    } finally {
      await c.kill();
    }
  } finally {
    for (const mb of boxes) mb.close();
  }
});

it('a flood of refused messages, their verdicts more than a frame holds, fails each send with its reason and crashes nothing', async () => {
  const { ref } = (await b.call('/mesh/agent', 'box', [{}])) as { ref: { address: unknown; cap: string } };
  const forged = { ...ref, cap: 'A'.repeat(22) };
  const results = await Promise.allSettled(Array.from({ length: 4000 }, (_, i) => send(forged as never, i)));
  assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'EACCES'), 'every send refused with EACCES');
  assert.equal(b.child.exitCode, null, 'the other node still runs');
  assert.equal(typeof (await b.call('/mesh/agent', 'whoami', [])), 'number');
});

it('a peer that shakes hands again and again but never sends a frame is declared down after the down timeout', async () => {
  const t0 = performance.now();
  const first = await rawDial(node.address!, { name: 'raw-staller', secret: '' });
  const down = nextEvent(node, (e) => e.type === 'peer-down' && e.node === 'raw-staller', DOWN_MS * 4);
  let stop = false;
  let conn = first.conn;
  // Each connection is closed for silence after three heartbeats; the staller comes back with its session each time.
  const staller = (async () => {
    while (!stop) {
      await new Promise((r) => setTimeout(r, 250));
      conn.destroy();
      if (stop) break;
      conn = (await rawDial(node.address!, { name: 'raw-staller', secret: '', sid: first.sid }).catch(() => ({ conn }))).conn;
    }
  })();
  const ev = await down;
  stop = true;
  await staller;
  conn.destroy();
  const after = performance.now() - t0;
  assert.ok(after >= DOWN_MS * 0.9, `not before the down timeout (${Math.round(after)} ms)`);
  assert.ok(after < DOWN_MS * 3, `within the down timeout and slack (${Math.round(after)} ms)`);
  assert.match((ev as { reason: string }).reason, /no frame for/);
});

it('a second process started under the name of a live node is refused with the reason; the live one keeps its session and its names', async () => {
  const downsBefore = events.filter((e) => e.type === 'peer-down').length;
  const refused = nextEvent(node, (e) => e.type === 'handshake-rejected' && /node name mesh-b is taken/.test(e.reason), 10_000);
  const twin = await startNode({ boot: { name: 'mesh-b', listen: '127.0.0.1:0', peers: [node.address!], tcp: TCP } });
  try {
    await refused;
    await eventually(() => twin.events.some((e) => e.type === 'handshake-rejected' && /node name mesh-b is taken/.test(e.reason)), 10_000, 'the twin was told why');
    await new Promise((r) => setTimeout(r, 1000)); // the twin redials meanwhile
    assert.ok(!twin.events.some((e) => e.type === 'peer-up'), 'the twin never joined');
  } finally {
    await twin.kill();
  }
  assert.equal(events.filter((e) => e.type === 'peer-down').length, downsBefore, 'the live mesh-b was never declared down');
  assert.equal(typeof (await call('/mesh/agent', 'whoami', [], { timeout: 5000 })), 'number', "the live mesh-b's names still resolve");
});

it("a node whose own loop stood still judges its peers' silence from when it runs again: it closes nothing as stale and declares nobody down for it", async () => {
  const up = peerUp(node, 'mesh-stall');
  const here = serve('/mesh/stall-peer', { ping: () => 'pong' });
  await here.ready;
  const c = await startNode({ boot: { name: 'mesh-stall', peers: [node.address!], tcp: TCP }, waitFor: ['mesh-a'] });
  const carries = (): Promise<boolean> => c.call('/mesh/stall-peer', 'ping', [], 2000).then((v) => v === 'pong', () => false);
  try {
    await up;
    // Its own judgment would read "no frame for N ms" (what the peer sent waits unread); the peer's comes as "closed by the peer: ...".
    const ownVerdicts = (): StatusEvent[] => c.events.filter((e) => (e.type === 'reconnecting' || e.type === 'peer-down') && /^no frame for/.test(e.reason));
    // Just shorter than a connection may stay quiet (300 ms), a few times: the time since the last frame before it must not tip it over.
    for (let i = 0; i < 4; i++) {
      c.block(270);
      await new Promise((r) => setTimeout(r, 400));
    }
    assert.deepStrictEqual(ownVerdicts(), [], 'no connection closed as stale after stalls just under three heartbeats');
    // Longer than a connection may stay quiet (three heartbeats), shorter than the down timeout.
    c.block(1000);
    await new Promise((r) => setTimeout(r, 1000 + 1000));
    assert.deepStrictEqual(ownVerdicts(), [], 'no connection closed as stale by the node that stood still');
    assert.ok(!c.events.some((e) => e.type === 'peer-down'), 'and nobody declared down');
    await eventually(carries, 10_000, 'the session carries calls again');
    // Longer than the down timeout: the peer declares it down, and it hears so when it redials, not from its own clock.
    const downs = events.filter((e) => e.type === 'peer-down' && e.node === 'mesh-stall').length;
    const again = peerUp(node, 'mesh-stall');
    c.block(DOWN_MS + 500);
    await again;
    assert.equal(events.filter((e) => e.type === 'peer-down' && e.node === 'mesh-stall').length, downs + 1, 'the peer declared it down');
    assert.deepStrictEqual(ownVerdicts(), [], 'it declared nobody down for a silence that was its own');
    await eventually(() => c.events.some((e) => e.type === 'peer-down' && /started a new session/.test(e.reason)), 5000, 'it ended the old session when the peer started a new one');
    await eventually(carries, 10_000, 'the new session carries calls');
  } finally {
    here.close();
    await c.kill();
  }
});

// The two waitForPeers tests leave their addresses among those the node dials (nothing takes one out): they come last.
it('waitForPeers fails with EACCES, without waiting out its timeout, when a peer it dials refuses its authentication', async () => {
  const locked = await startNode({ boot: { name: 'mesh-locked', listen: '127.0.0.1:0', secret: 'a secret this node does not have', tcp: TCP } });
  try {
    node.addPeer(locked.address!);
    const t0 = performance.now();
    const e = await node.waitForPeers(20_000).then(
      () => assert.fail('resolved'),
      (err: unknown) => err as { code?: string; message: string },
    );
    assert.equal(e.code, 'EACCES', e.message);
    assert.match(e.message, /authentication failed: node mesh-locked, which answered, and node [\w.-]+ do not hold the same cluster secret/);
    assert.ok(performance.now() - t0 < 10_000, 'at once, not after the timeout');
  } finally {
    await locked.kill();
  }
});

it('waitForPeers fails with ETIMEDOUT naming an address where no node answers', async () => {
  const nobody = '127.0.0.1:9'; // discard: nothing listens there
  node.addPeer(nobody);
  await assert.rejects(node.waitForPeers(300), (e: unknown) => (e as { code?: string }).code === 'ETIMEDOUT' && new RegExp(`${nobody} \\(.*ECONNREFUSED`).test((e as Error).message));
});
