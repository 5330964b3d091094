// The limits of a link between two nodes: a frame larger than either
// node's limit fails with EMSGSIZE at its sender (a message, or a reply);
// past the bytes a peer has not acknowledged, sends wait, or fail with
// EAGAIN when asked not to, and a slow-peer event says so; once the peer
// reads again, every waiting send is delivered, in order.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { boot, connect, send, serve, type FosError, type StatusEvent } from '../src/index.js';
import type { Agent } from './fixtures/agent.js';
import { nextEvent, peerUp, startNode, type RemoteNode } from './helpers/cluster.js';
import { AGENT, codeOf, eventually, unwrap } from './helpers/places.js';

const MAX_FRAME = 64 * 1024;
const MAX_PENDING = 256 * 1024;
const node = await boot({ name: 'limits-a', listen: '127.0.0.1:0', tcp: { maxFrame: MAX_FRAME, maxPendingBytes: MAX_PENDING, heartbeatMs: 200, downMs: 20_000 } });
let b: RemoteNode;
const agent = connect<Agent>('/limits/agent', { timeout: 30_000 });

before(async () => {
  serve('/limits/here', { big: (n: number) => new Uint8Array(n) });
  const up = peerUp(node, 'limits-b');
  // b keeps the default limits (64 MiB): the smaller, this node's, rules the link both ways.
  b = await startNode({ boot: { name: 'limits-b', peers: [node.address!] }, spawn: [{ module: AGENT.href, data: { name: '/limits/agent' } }], waitFor: ['limits-a'] });
  await up;
  await eventually(() => agent.whoami().then(() => true, () => false), 10_000, 'the agent');
});

after(async () => {
  if (b !== undefined) {
    b.child.kill('SIGCONT');
    await b.kill();
  }
  await node.shutdown();
});

it("a message or a reply larger than the link's frame limit fails with EMSGSIZE at its sender; smaller ones pass", async () => {
  const { id, ref } = await agent.box({});
  assert.equal(await codeOf(send(ref, new Uint8Array(MAX_FRAME + 1))), 'EMSGSIZE', 'from this node');
  const here = await import('../src/index.js').then((m) => m.createMailbox());
  assert.equal(await codeOf(unwrap(agent.send(here.ref, new Uint8Array(MAX_FRAME + 1)))), 'EMSGSIZE', "from b: this node's smaller limit applies");
  // What b's call failed with, as b's agent threw it.
  const tooLarge = await agent.call('/limits/here', 'big', [MAX_FRAME + 1]).then(() => assert.fail('answered'), (e: unknown) => (e as FosError).remote);
  assert.equal(tooLarge?.code, 'EMSGSIZE', 'a reply too large');
  assert.match(tooLarge?.message ?? '', /^EMSGSIZE: reply cannot be sent: a frame of \d+ bytes/, 'its code said once');
  await send(ref, new Uint8Array(MAX_FRAME / 2));
  assert.equal(((await agent.take(id, 1, 5000))[0] as Uint8Array).length, MAX_FRAME / 2);
  assert.equal(((await unwrap(agent.call('/limits/here', 'big', [1000]))) as Uint8Array).length, 1000);
  here.close();
});

it('past the unacknowledged bytes limit, sends wait (or fail with EAGAIN), and all arrive in order once the peer reads again', async () => {
  const { id, ref } = await agent.box({ capacity: 4096 });
  const slow = nextEvent(node, (e) => e.type === 'slow-peer' && e.slow, 20_000) as Promise<Extract<StatusEvent, { type: 'slow-peer' }>>;
  b.child.kill('SIGSTOP'); // b reads nothing, acknowledges nothing
  const chunk = 8 * 1024;
  const sends: Promise<void>[] = [];
  let i = 0;
  // Well past the limit in bytes: these are accepted and wait.
  for (; i < (2 * MAX_PENDING) / chunk; i++) sends.push(send(ref, Uint8Array.from({ length: chunk }, () => i & 0xff)));
  const ev = await slow;
  assert.ok(ev.pendingBytes >= MAX_PENDING, `slow-peer at ${ev.pendingBytes} bytes`);
  assert.equal(await codeOf(send(ref, new Uint8Array(chunk), { wait: false })), 'EAGAIN', 'a non-waiting send is refused');
  const settled = await Promise.race([Promise.all(sends).then(() => 'settled'), new Promise((r) => setTimeout(r, 300, 'waiting'))]);
  assert.equal(settled, 'waiting', 'the waiting sends wait while the peer reads nothing');
  b.child.kill('SIGCONT');
  await Promise.all(sends);
  // Taken a few at a time: a reply too must fit in a frame of this link.
  const got: Uint8Array[] = [];
  while (got.length < i) got.push(...((await agent.take(id, Math.min(4, i - got.length), 20_000)) as Uint8Array[]));
  assert.equal(got.length, i);
  got.forEach((m, k) => assert.equal(m[0], k & 0xff, `message ${k} in order`));
  assert.deepStrictEqual(await agent.drain(id), [], 'not one more: the refused send was not delivered');
});

it('a names table larger than a frame is cut into frames that fit, the last without `more`, and adds up to the whole', async () => {
  const { Session } = await import('../src/transport/tcp/session.js');
  const { FrameDecoder, FrameKind } = await import('../src/transport/tcp/wire.js');
  const { unpackValue } = await import('../src/envelope.js');
  const frames: Buffer[] = [];
  const noop = (): void => {};
  const session = new Session('peer', 'sid', 'inc', { message: noop, reply: noop, cancel: noop, names: noop, peers: noop, slow: noop }, { maxPendingBytes: 1 << 30 });
  session.attach({ write: (f) => frames.push(Buffer.from(f)), close: noop }, 0, MAX_FRAME);
  const ref = { address: { node: 'limits-a', isolate: 1, mailbox: 1 }, cap: 'c'.repeat(22) };
  const entries = Array.from({ length: 3000 }, (_, i) => [`/big/name-${i}`, 'fleet', [ref]] as [string, 'fleet', (typeof ref)[]]);
  session.sendNames({ full: true, entries: entries as never });
  const decoded = new FrameDecoder(MAX_FRAME).push(Buffer.concat(frames)).filter((f) => f.kind === FrameKind.Names);
  assert.ok(decoded.length > 1, `cut into ${decoded.length} frames`);
  const parts = decoded.map((f) => unpackValue(f.body) as { full: boolean; entries: unknown[]; more?: boolean });
  assert.deepStrictEqual(parts.map((p) => p.full), parts.map((_, i) => i === 0), 'only the first part replaces the table');
  assert.deepStrictEqual(parts.map((p) => p.more === true), parts.map((_, i) => i < parts.length - 1), 'every part but the last says more');
  assert.deepStrictEqual(parts.flatMap((p) => p.entries), entries, 'the parts add up to the whole, in order');
  session.fail(new (await import('../src/index.js')).FosError('ECLOSED', 'test over'));
});
