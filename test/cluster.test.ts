// Names and fleets across nodes: three nodes in three processes (this one
// and two children), joined into a full mesh though each child was given
// one peer only. Lookups from every node see every node's members; calls
// to a fleet spread over the nodes, or stay local when asked; a unique
// name bound on two nodes before they met resolves the same way on both.
// callSync to a fleet spread over nodes picks among its node's members.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { boot, call, callSync, connect, createMailbox, FosError, lookup, serve } from '../src/index.js';
import type { Agent } from './fixtures/agent.js';
import type { Member } from './fixtures/cluster-member.js';
import { peerUp, startNode, type RemoteNode } from './helpers/cluster.js';
import { AGENT, eventually, unwrap } from './helpers/places.js';

const MEMBER = new URL('./fixtures/cluster-member.js', import.meta.url);
const FLEET = '/cluster/members';

// Names sort a < b < c: the tie-break for conflicts favours this node.
const node = await boot({ name: `a-${process.pid}`, listen: '127.0.0.1:0' });
const remotes: RemoteNode[] = [];
after(async () => {
  await Promise.all(remotes.map((r) => r.kill()));
  await node.shutdown();
});

const agentOn = (n: string): ReturnType<typeof connect<Agent>> => connect<Agent>(`/cluster/agent/${n}`, { timeout: 20_000 });
const names = { b: `b-${process.pid}`, c: `c-${process.pid}` };

before(async () => {
  serve(FLEET, { where: () => ({ node: node.name, isolate: 0 }), echo: <T>(v: T): T => v } satisfies Member);
  const upB = peerUp(node, names.b);
  const b = await startNode({
    boot: { name: names.b, listen: '127.0.0.1:0', peers: [node.address!] },
    spawn: [
      { module: MEMBER.href, data: { name: FLEET }, count: 2 },
      { module: AGENT.href, data: { name: `/cluster/agent/${names.b}` } },
    ],
    waitFor: [node.name],
  });
  remotes.push(b);
  await upB;
  // c knows only b: b introduces it to this node, and this node to it.
  const upC = peerUp(node, names.c);
  const c = await startNode({
    boot: { name: names.c, listen: '127.0.0.1:0', peers: [b.address!] },
    spawn: [
      { module: MEMBER.href, data: { name: FLEET } },
      { module: AGENT.href, data: { name: `/cluster/agent/${names.c}` } },
    ],
    waitFor: [names.b, node.name],
  });
  remotes.push(c);
  await upC;
  await eventually(async () => (await lookup(FLEET).catch(() => [])).length === 4, 10_000, 'all four members');
});

describe('names across nodes', () => {
  it('every node sees every member of a fleet, and the same ones', async () => {
    const here = (await lookup(FLEET)).map((r) => r.address);
    assert.deepStrictEqual(new Set(here.map((a) => a.node)), new Set([node.name, names.b, names.c]));
    for (const n of [names.b, names.c]) {
      await eventually(async () => (await unwrap(agentOn(n).lookup(FLEET))).length === 4, 10_000, `${n} sees four members`);
      const there = (await unwrap(agentOn(n).lookup(FLEET))).map((r) => r.address);
      assert.deepStrictEqual(new Set(there.map((a) => JSON.stringify(a))), new Set(here.map((a) => JSON.stringify(a))), `lookup from ${n}`);
    }
  });

  it("waitForPeers waits for the nodes its peers introduce too: right after it, a lookup sees every node's members", async () => {
    // d dials b only; a and c come by introduction, and a fleet member lives on each.
    const e = await startNode({ boot: { name: `e-${process.pid}`, listen: '127.0.0.1:0', peers: [remotes[0]!.address!] }, lookupAfterWaitForPeers: FLEET });
    try {
      assert.equal(e.found, 4, 'the members on a, b (two) and c');
    } finally {
      await e.kill();
    }
  });

  it('calls to a fleet go round robin over the members of every node', async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const w = await call<{ node: string; isolate: number }>(FLEET, 'where', []);
      const k = `${w.node}/${w.isolate}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    assert.equal(seen.size, 4, `four members reached: ${JSON.stringify([...seen])}`);
    for (const [k, n] of seen) assert.equal(n, 10, `member ${k} got its share`);
  });

  it("prefer: 'local' keeps calls on the caller's node when it has members, from the main thread and from a worker", async () => {
    for (let i = 0; i < 10; i++) assert.equal((await call<{ node: string }>(FLEET, 'where', [], { prefer: 'local' })).node, node.name);
    for (let i = 0; i < 6; i++) {
      const w = (await unwrap(agentOn(names.b).call(FLEET, 'where', [], { prefer: 'local' }))) as { node: string };
      assert.equal(w.node, names.b);
    }
  });

  it("callSync to a fleet spread over the nodes goes round robin over the members on the caller's node, other than the caller", async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 8; i++) {
      const w = (await unwrap(agentOn(names.b).callSync(FLEET, 'where', [], { timeout: 5000 }))) as { node: string; isolate: number };
      const k = `${w.node}/${w.isolate}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    assert.deepStrictEqual([...seen.values()], [4, 4], `b's two members, each in turn: ${JSON.stringify([...seen])}`);
    assert.ok([...seen.keys()].every((k) => k.startsWith(`${names.b}/`)), `all on b: ${JSON.stringify([...seen])}`);
    // This node's only member is its main thread, the caller: nothing it could wait for.
    assert.throws(() => callSync(FLEET, 'where', [], { timeout: 1000 }), (e: unknown) => e instanceof FosError && e.code === 'EINVAL');
  });

  it('a key picks the same member from every node (rendezvous hashing over the same members)', async () => {
    for (const key of ['alpha', 'beta', 42]) {
      const here = await call<{ node: string; isolate: number }>(FLEET, 'where', [], { key });
      const fromB = await unwrap(agentOn(names.b).call(FLEET, 'where', [], { key }));
      const fromC = await unwrap(agentOn(names.c).call(FLEET, 'where', [], { key }));
      assert.deepStrictEqual(fromB, here, `key ${key} from b`);
      assert.deepStrictEqual(fromC, here, `key ${key} from c`);
    }
  });

  it('values arrive equal from a worker of one node to a worker of another', async () => {
    const v = { m: new Map([[1, { d: new Date(0) }]]), s: new Set(['x']), big: 2n ** 70n, bytes: new Uint8Array([1, 2, 3]), u: [undefined, null] };
    assert.deepStrictEqual(await unwrap(agentOn(names.b).call(`/cluster/agent/${names.c}`, 'whoami', [])), 2);
    const echoed = await unwrap(agentOn(names.b).call(FLEET, 'echo', [v], { key: 'values' }));
    assert.deepStrictEqual(echoed, v);
  });

  it('a Uint8Array from another node arrives as a plain Uint8Array owning exactly its bytes', async () => {
    const mb = await createMailbox();
    const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);
    await unwrap(agentOn(names.b).send(mb.ref, bytes));
    const got = (await mb.receive()).data as Uint8Array;
    assert.equal(Object.getPrototypeOf(got), Uint8Array.prototype, 'not a Buffer, nor any other view');
    assert.equal(got.buffer.byteLength, 100, 'its own buffer, not a view of the connection\'s read chunk');
    assert.deepStrictEqual(got, bytes);
    mb.close();
  });

  it('a binding made after the nodes met reaches every node, and so does its removal', async () => {
    const mb = await createMailbox({ name: '/cluster/late' });
    for (const n of [names.b, names.c]) {
      await eventually(async () => (await agentOn(n).lookup('/cluster/late').catch(() => [])).length === 1, 10_000, `${n} sees /cluster/late`);
    }
    await assert.rejects(createMailbox({ name: '/cluster/late' }), { code: 'EEXIST' });
    mb.close();
    for (const n of [names.b, names.c]) {
      await eventually(async () => (await agentOn(n).lookup('/cluster/late').then(() => 'found', (e: { code?: string }) => e.code)) !== 'found', 10_000, `${n} forgets /cluster/late`);
    }
  });

  it('a unique name bound on two nodes before they met resolves to the node whose name sorts first, on both', async () => {
    const conflict = '/cluster/conflict';
    // d has not met this node yet: both bind the name, uniquely.
    const dName = `d-${process.pid}`;
    const d = await startNode({
      boot: { name: dName, listen: '127.0.0.1:0' },
      spawn: [{ module: AGENT.href, data: { name: `/cluster/agent/${dName}`, box: { name: conflict } } }],
    });
    remotes.push(d);
    const mine = await createMailbox({ name: conflict });
    const up = peerUp(node, dName);
    d.dial(node.address!);
    await up;
    await eventually(async () => (await agentOn(dName).lookup(conflict).catch(() => [])).length > 0, 10_000, 'd resolves the name');
    const here = await lookup(conflict);
    const there = await unwrap(agentOn(dName).lookup(conflict));
    assert.deepStrictEqual(here.map((r) => r.address), [mine.ref.address], 'this node keeps its own binding: its name sorts first');
    assert.deepStrictEqual(there.map((r) => r.address), [mine.ref.address], 'd agrees');
    // Once the winner goes, the shadowed binding shows, on both.
    mine.close();
    await eventually(async () => (await lookup(conflict).catch(() => [])).some((r) => r.address.node === dName), 10_000, "d's binding shows here");
    await eventually(async () => (await unwrap(agentOn(dName).lookup(conflict))).some((r) => r.address.node === dName), 10_000, "d's binding shows on d");
  });

  it("a node may join the fleet that wins a conflict, whichever node it met first: the shadowed unique binding does not refuse it", async () => {
    const shadowed = '/cluster/shadowed';
    // e binds the name uniquely before it meets this node, whose fleet of the same name wins (a < e).
    const eName = `e-${process.pid}`;
    const e = await startNode({
      boot: { name: eName, listen: '127.0.0.1:0' },
      spawn: [{ module: AGENT.href, data: { name: `/cluster/agent/${eName}`, box: { name: shadowed } } }],
    });
    remotes.push(e);
    const mine = await createMailbox({ fleet: shadowed });
    // g meets e first, so e's table is the first it holds; this node comes later, through e.
    const gName = `g-${process.pid}`;
    const g = await startNode({ boot: { name: gName, listen: '127.0.0.1:0', peers: [e.address!] }, spawn: [{ module: AGENT.href, data: { name: `/cluster/agent/${gName}` } }], waitFor: [eName] });
    remotes.push(g);
    e.dial(node.address!);
    await eventually(async () => (await agentOn(gName).lookup(shadowed).catch(() => [])).some((r) => r.address.node === node.name), 10_000, "g sees this node's fleet win");
    const joined = await unwrap(agentOn(gName).box({ fleet: shadowed }));
    await eventually(async () => (await lookup(shadowed)).length === 2, 10_000, "g's member joins the fleet here");
    assert.deepStrictEqual(new Set((await lookup(shadowed)).map((r) => r.address.node)), new Set([node.name, gName]));
    assert.equal(joined.ref.address.node, gName);
    mine.close();
  });
});

describe('waitForPeers and a node that died', () => {
  it('a node its peer still introduces, dead, delays waitForPeers by 2 s at most, and fails it not', async () => {
    const b = remotes[0]!;
    const zName = `z-${process.pid}`;
    const z = await startNode({ boot: { name: zName, listen: '127.0.0.1:0', peers: [b.address!] }, waitFor: [b.name] });
    await eventually(() => b.events.some((ev) => ev.type === 'peer-up' && ev.node === zName), 10_000, 'b to meet z');
    await z.kill(); // b holds z's session until its down timeout (10 s), and introduces z meanwhile
    const t0 = performance.now();
    const f = await startNode({ boot: { name: `f-${process.pid}`, listen: '127.0.0.1:0', peers: [b.address!] }, lookupAfterWaitForPeers: FLEET });
    try {
      const ms = performance.now() - t0;
      assert.equal(f.found, 4, 'the members on a, b (two) and c');
      assert.ok(ms < 9000, `ready in ${ms.toFixed(0)} ms: the dead node was waited for 2 s at most`);
      assert.ok(
        f.events.some((ev) => ev.type === 'reconnecting' && ev.address === z.address) || b.events.some((ev) => ev.type === 'peer-down' && ev.node === zName),
        'z was introduced to f, dead (unless b had declared it down already)',
      );
    } finally {
      await f.kill();
    }
  });
});
