// Two hosts: two network namespaces joined by a veth pair (ip netns, from
// iproute2), a node in each, as on two machines. A call crosses the link;
// then the link is taken down mid-stream and brought up again, and not one
// of the messages in flight is lost, repeated or reordered. Needs root (CI
// runs as root); it fails, rather than skips, where namespaces cannot be made.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, it } from 'node:test';
import type { StatusEvent } from '../src/index.js';
import type { Verdict } from './fixtures/agent.js';
import { startNode, type RemoteNode } from './helpers/cluster.js';
import { AGENT, eventually } from './helpers/places.js';

const tag = (process.pid % 10_000).toString();
const NS = { a: `fos-a-${tag}`, b: `fos-b-${tag}` };
const IF = { a: `fva${tag}`, b: `fvb${tag}` };
const SUBNET = `10.${77 + (process.pid % 100)}.${process.pid % 250}`;
const ADDR = { a: `${SUBNET}.1`, b: `${SUBNET}.2` };
const SECRET = 'the secret of the two-host test';
const TCP = { heartbeatMs: 200, downMs: 30_000, backoff: { min: 50, max: 300 } };
const N = 30_000;

const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });
const nodes: RemoteNode[] = [];

function teardown(): void {
  for (const ns of Object.values(NS)) {
    try {
      ip('netns', 'del', ns); // takes its end of the veth pair, and so the pair, with it
    } catch {
      // not made, or gone
    }
  }
}

before(() => {
  teardown();
  ip('netns', 'add', NS.a);
  ip('netns', 'add', NS.b);
  ip('link', 'add', IF.a, 'type', 'veth', 'peer', 'name', IF.b);
  for (const side of ['a', 'b'] as const) {
    ip('link', 'set', IF[side], 'netns', NS[side]);
    ip('-n', NS[side], 'addr', 'add', `${ADDR[side]}/24`, 'dev', IF[side]);
    ip('-n', NS[side], 'link', 'set', IF[side], 'up');
    ip('-n', NS[side], 'link', 'set', 'lo', 'up');
  }
});

after(async () => {
  await Promise.all(nodes.map((n) => n.kill()));
  teardown();
});

it('a node on each host: a call crosses the link, and a link taken down and up mid-stream loses nothing', async () => {
  const a = await startNode(
    { boot: { name: 'host-a', listen: `${ADDR.a}:7070`, secret: SECRET, tcp: TCP }, spawn: [{ module: AGENT.href, data: { name: '/hosts/agent-a', box: { name: '/hosts/sink' } } }] },
    20_000,
    NS.a,
  );
  nodes.push(a);
  const b = await startNode(
    { boot: { name: 'host-b', peers: [`${ADDR.a}:7070`], secret: SECRET, tcp: TCP }, spawn: [{ module: AGENT.href, data: { name: '/hosts/agent-b' } }], waitFor: ['host-a'] },
    20_000,
    NS.b,
  );
  nodes.push(b);
  // The hosts really are apart: this process (in neither namespace) cannot reach them.
  assert.throws(() => execFileSync('ip', ['-n', NS.b, 'route', 'get', '8.8.8.8'], { stdio: 'pipe' }), 'host b has no route out');

  // A call from host b to a service on host a, by name.
  await eventually(() => b.call('/hosts/agent-a', 'whoami', []).then(() => true, () => false), 10_000, 'the agent of host a, seen from b');
  assert.equal(typeof (await b.call('/hosts/agent-a', 'whoami', [])), 'number');

  // A stream from host b's worker to a mailbox on host a, with the link cut in the middle.
  const collected = a.call('/hosts/agent-a', 'collect', [1, N], 120_000) as Promise<Verdict>;
  const sent = (b.call('/hosts/agent-b', 'sendSeq', ['/hosts/sink', N, 'hosts'], 120_000) as Promise<number>).then((n) => ({ n, at: Date.now() }));
  await new Promise((r) => setTimeout(r, 300));
  ip('-n', NS.a, 'link', 'set', IF.a, 'down');
  await new Promise((r) => setTimeout(r, 1500));
  const upAt = Date.now();
  ip('-n', NS.a, 'link', 'set', IF.a, 'up');

  const verdict = await collected;
  const done = await sent;
  assert.deepStrictEqual(verdict, { received: N, perTag: { hosts: N }, outOfOrder: 0, duplicates: 0 });
  assert.equal(done.n, N);
  assert.ok(done.at > upAt, 'the stream was still going when the link came back');
  const kinds = (events: StatusEvent[]): string[] => events.map((e) => e.type);
  assert.ok(kinds(b.events).includes('reconnecting'), `host b lost the connection and reconnected: ${kinds(b.events).join(', ')}`);
  assert.ok(!kinds(a.events).includes('peer-down') && !kinds(b.events).includes('peer-down'), 'neither side declared the other down');
});
