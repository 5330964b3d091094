// node.stats(): per-isolate and per-mailbox counters, errors by code, names.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { boot, call, connect, createMailbox, send, type IsolateStats, type MailboxStats, type NodeStats, type Ref } from '../src/index.js';
import { AGENT, codeOf, ECHO, eventually, unwrap } from './helpers/places.js';
import type { Agent } from './fixtures/agent.js';

const node = await boot();
after(() => node.shutdown());

const agentSvc = await node.spawn(AGENT, { data: { name: '/stats/agent' } });
const agentIsolate = agentSvc.isolates[0]!;
const agent = connect<Agent>('/stats/agent', { timeout: 30_000 });
const echoSvc = await node.spawn(ECHO, { data: { name: '/stats/echo' } });
const echoIsolate = echoSvc.isolates[0]!;

function isolateStats(s: NodeStats, isolate: number): IsolateStats {
  const r = s.isolates.find((i) => i.isolate === isolate);
  assert.ok(r !== undefined, `isolate ${isolate} is reported`);
  assert.ok(r.stats !== undefined, `isolate ${isolate} reports its counters`);
  return r.stats;
}

function mailboxStats(s: NodeStats, ref: Ref): MailboxStats {
  const st = isolateStats(s, ref.address.isolate);
  const mb = st.mailboxes.find((m) => m.address.mailbox === ref.address.mailbox);
  assert.ok(mb !== undefined, `mailbox ${ref.address.isolate}/${ref.address.mailbox} is reported`);
  return mb;
}

const bytes = (n: number, fill: number): Uint8Array<ArrayBuffer> => new Uint8Array(n).fill(fill);

describe('stats', () => {
  test('every live isolate is reported with its module, state and counters', async () => {
    const s = await node.stats();
    assert.equal(s.node, node.name);
    const main = s.isolates.find((i) => i.isolate === 0);
    assert.equal(main?.module, 'main');
    assert.equal(main?.state, 'running');
    assert.equal(main?.stats?.isolate, 0);
    const a = s.isolates.find((i) => i.isolate === agentIsolate);
    assert.equal(a?.module, AGENT.href);
    assert.equal(a?.state, 'running');
    assert.equal(a?.stats?.isolate, agentIsolate);
    const e = s.isolates.find((i) => i.isolate === echoIsolate);
    assert.equal(e?.module, ECHO.href);
    for (const t of ['local', 'kernel', 'shm', 'tcp'] as const) {
      assert.deepEqual(Object.keys(main?.stats?.transports[t] ?? {}).sort(), ['bytesReceived', 'bytesSent', 'messagesReceived', 'messagesSent']);
    }
  });

  for (const transport of ['kernel', 'shm'] as const) {
  test(`${transport}: messages and bytes sent and received increase by what was sent; unread messages are the depth`, async () => {
    const { id, ref } = await agent.box({ capacity: 64 });
    const s0 = await node.stats();
    const m0 = isolateStats(s0, 0).transports[transport];
    const a0 = isolateStats(s0, agentIsolate).transports[transport];

    for (let i = 0; i < 10; i++) await send(ref, { i, text: 'not counted in bytes' }, { transport });
    for (let i = 0; i < 5; i++) await send(ref, bytes(100, i), { transport });
    const moved = bytes(1000, 9);
    await send(ref, moved, { transfer: [moved.buffer], transport });

    const s1 = await node.stats();
    const m1 = isolateStats(s1, 0).transports[transport];
    const a1 = isolateStats(s1, agentIsolate).transports[transport];
    assert.equal(m1.messagesSent - m0.messagesSent, 16, `main sent 16 ${transport} messages`);
    assert.equal(m1.bytesSent - m0.bytesSent, 5 * 100 + 1000, 'main sent the bytes of its Uint8Array payloads');
    assert.equal(a1.messagesReceived - a0.messagesReceived, 16, `the agent received 16 ${transport} messages`);
    assert.equal(a1.bytesReceived - a0.bytesReceived, 5 * 100 + 1000, 'the agent received those bytes');
    assert.equal(m1.messagesReceived, m0.messagesReceived, 'main received nothing meanwhile');
    assert.equal(a1.messagesSent, a0.messagesSent, 'the agent sent nothing meanwhile');

    const mb = mailboxStats(s1, ref);
    assert.equal(mb.depth, 16, 'the unread messages are queued');
    assert.equal(mb.capacity, 64);
    assert.equal(mb.received, 0);
    assert.equal((await agent.drain(id)).length, 16);
    const s2 = await node.stats();
    assert.equal(mailboxStats(s2, ref).depth, 0);
    assert.equal(mailboxStats(s2, ref).received, 16);
    await agent.closeBox(id);
  });
  }

  test('local: messages and bytes sent and received in this isolate', async () => {
    const mb = await createMailbox({ capacity: 16 });
    const l0 = isolateStats(await node.stats(), 0).transports.local;
    for (let i = 0; i < 3; i++) await send(mb.ref, bytes(10, i));
    await send(mb.ref, 'a string');
    const l1 = isolateStats(await node.stats(), 0).transports.local;
    assert.equal(l1.messagesSent - l0.messagesSent, 4);
    assert.equal(l1.bytesSent - l0.bytesSent, 30 + 'a string'.length);
    assert.equal(l1.messagesReceived - l0.messagesReceived, 4, 'a message delivered within the isolate is also received by it');
    assert.equal(l1.bytesReceived - l0.bytesReceived, 30 + 'a string'.length);
    mb.close();
  });

  test('a mailbox that is not read: depth, waiting senders, refusals', async () => {
    const mb = await createMailbox({ name: '/stats/unread', capacity: 4 });
    for (let i = 0; i < 3; i++) await send(mb.ref, i);
    let s = await node.stats();
    assert.equal(mailboxStats(s, mb.ref).depth, 3);
    assert.equal(mailboxStats(s, mb.ref).waiting, 0);

    const fourth = send(mb.ref, 3);
    const fifth = send(mb.ref, 4); // waits for room
    await fourth;
    s = await node.stats();
    assert.equal(mailboxStats(s, mb.ref).depth, 4);
    assert.equal(mailboxStats(s, mb.ref).waiting, 1);
    assert.equal(await codeOf(send(mb.ref, 5, { wait: false })), 'EAGAIN');
    s = await node.stats();
    assert.equal(mailboxStats(s, mb.ref).refusedFull, 1);

    assert.equal(mb.tryReceive()?.data, 0);
    await fifth;
    s = await node.stats();
    assert.equal(mailboxStats(s, mb.ref).depth, 4);
    assert.equal(mailboxStats(s, mb.ref).waiting, 0);
    assert.equal(mailboxStats(s, mb.ref).received, 1);
    mb.close();
    s = await node.stats();
    assert.ok(!isolateStats(s, 0).mailboxes.some((m) => m.address.mailbox === mb.ref.address.mailbox), 'a closed mailbox is no longer reported');
  });

  test('the depth of an unread mailbox in a worker', async () => {
    const { id, ref } = await agent.box({ capacity: 8 });
    for (let i = 0; i < 8; i++) await send(ref, i);
    assert.equal(await codeOf(send(ref, 8, { wait: false })), 'EAGAIN');
    const st = mailboxStats(await node.stats(), ref);
    assert.equal(st.depth, 8);
    assert.equal(st.refusedFull, 1);
    await agent.closeBox(id);
  });

  test('callsInFlight counts the calls waiting for their reply, per isolate', async () => {
    assert.equal(isolateStats(await node.stats(), 0).callsInFlight, 0);
    const fromMain = call('/stats/echo', 'slow', [400]);
    // The agent's own call to the echo service, made while our call to the agent is pending.
    const fromAgent = agent.call('/stats/echo', 'slow', [400], {});
    await eventually(
      async () => {
        const s = await node.stats();
        return isolateStats(s, agentIsolate).callsInFlight === 1;
      },
      2000,
      "the agent's call to be in flight",
    );
    const s = await node.stats();
    assert.equal(isolateStats(s, 0).callsInFlight, 2, 'main waits for its call to the echo and its call to the agent');
    assert.equal(isolateStats(s, agentIsolate).callsInFlight, 1);
    assert.equal(isolateStats(s, echoIsolate).callsInFlight, 0, 'a server has no calls of its own in flight');
    assert.deepEqual(await Promise.all([fromMain, fromAgent]), ['slept 400', 'slept 400']);
    const s2 = await node.stats();
    assert.equal(isolateStats(s2, 0).callsInFlight, 0);
    assert.equal(isolateStats(s2, agentIsolate).callsInFlight, 0);
  });

  test('errors are counted by code in the isolate that saw them', async () => {
    const e0 = isolateStats(await node.stats(), 0).errors;
    const a0 = isolateStats(await node.stats(), agentIsolate).errors;
    const full = await createMailbox({ capacity: 1 });
    await send(full.ref, 'fills it');

    assert.equal(await codeOf(send('/stats/no-such-name', 1)), 'ENOENT');
    assert.equal(await codeOf(call('/stats/no-such-name', 'echo', [1])), 'ENOENT');
    assert.equal(await codeOf(send(full.ref, 'no room', { wait: false })), 'EAGAIN');
    assert.equal(await codeOf(call('/stats/echo', 'slow', [200], { timeout: 10 })), 'ETIMEDOUT');
    assert.equal(await codeOf(call('/stats/echo', 'fail', ['boom'])), 'EREMOTE');
    assert.equal(await codeOf(call('/stats/echo', 'echo', 'not an array' as never)), 'EINVAL');
    assert.equal(await codeOf(call('/stats/echo', 'echo', [1], { signal: AbortSignal.abort() })), 'ECANCELED');
    // And in a worker: the agent's failed send is counted there, not here.
    assert.equal(await codeOf(unwrap(agent.send('/stats/no-such-name', 1))), 'ENOENT');

    const e1 = isolateStats(await node.stats(), 0).errors;
    const a1 = isolateStats(await node.stats(), agentIsolate).errors;
    const diff = (a: Partial<Record<string, number>>, b: Partial<Record<string, number>>, code: string): number => (b[code] ?? 0) - (a[code] ?? 0);
    assert.equal(diff(e0, e1, 'ENOENT'), 2);
    assert.equal(diff(e0, e1, 'EAGAIN'), 1);
    assert.equal(diff(e0, e1, 'ETIMEDOUT'), 1);
    assert.equal(diff(e0, e1, 'EINVAL'), 1, 'a call refused before it started');
    assert.equal(diff(e0, e1, 'ECANCELED'), 1, 'a call aborted before it started');
    assert.equal(diff(e0, e1, 'EREMOTE'), 2, 'the failed call, and the call to the agent that failed for it');
    assert.equal(diff(a0, a1, 'ENOENT'), 1);
    assert.equal(diff(a0, a1, 'EAGAIN'), 0);
    full.close();
  });

  test('names are listed, in the name table and on each mailbox', async () => {
    const mb = await createMailbox({ name: '/stats/named', fleet: '/stats/fleet' });
    const { id, ref } = await agent.box({ fleet: '/stats/fleet' });
    let s = await node.stats();
    const byName = new Map(s.names.map((n) => [n.name, n]));
    assert.equal(byName.get('/stats/named')?.kind, 'unique');
    assert.deepEqual(byName.get('/stats/named')?.members, [mb.ref]);
    assert.equal(byName.get('/stats/fleet')?.kind, 'fleet');
    assert.deepEqual(
      new Set(byName.get('/stats/fleet')?.members.map((m) => m.address.isolate)),
      new Set([0, agentIsolate]),
    );
    assert.equal(byName.get('/stats/echo')?.kind, 'fleet');
    assert.equal(byName.get('/stats/echo')?.members[0]?.address.isolate, echoIsolate);
    assert.equal(byName.get('/stats/agent')?.members[0]?.address.isolate, agentIsolate);
    assert.deepEqual([...mailboxStats(s, mb.ref).names].sort(), ['/stats/fleet', '/stats/named']);
    assert.deepEqual(mailboxStats(s, ref).names, ['/stats/fleet']);
    const echoBox = isolateStats(s, echoIsolate).mailboxes.find((m) => m.names.includes('/stats/echo'));
    assert.ok(echoBox !== undefined, "the echo service's mailbox lists its name");

    mb.close();
    await agent.closeBox(id);
    await eventually(async () => !(await node.stats()).names.some((n) => n.name === '/stats/fleet'), 2000, '/stats/fleet to go');
    s = await node.stats();
    assert.ok(!s.names.some((n) => n.name === '/stats/named'), 'a closed mailbox takes its names with it');
  });

  test('an ended isolate is reported without live counters', async () => {
    const svc = await node.spawn(ECHO, { data: { name: '/stats/short-lived' } });
    await svc.stop();
    const r = (await node.stats()).isolates.find((i) => i.isolate === svc.isolates[0]);
    assert.equal(r?.state, 'exited');
    assert.equal(r?.stats, undefined);
  });
});
