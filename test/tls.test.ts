// Mutual TLS between nodes: two nodes whose certificates one CA signs talk;
// a node whose certificate another CA signed, or that speaks plain TCP, is
// refused by the listening node's TLS handshake, which keeps serving.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { boot, call, connect, serve, type StatusEvent } from '../src/index.js';
import { peerUp, startNode, type RemoteNode } from './helpers/cluster.js';
import { makeCerts } from './helpers/certs.js';
import { AGENT, eventually, unwrap } from './helpers/places.js';
import type { Agent } from './fixtures/agent.js';

const SECRET = 'the secret of the tls test cluster';
const certs = makeCerts(['a', 'b']);
const stranger = makeCerts(['x']).x!; // signed by another CA

const events: StatusEvent[] = [];
const node = await boot({ name: 'tls-a', listen: '127.0.0.1:0', secret: SECRET, tls: certs.a! });
void (async () => {
  for await (const e of node.status()) events.push(e);
})();
const remotes: RemoteNode[] = [];
after(async () => {
  await Promise.all(remotes.map((r) => r.kill()));
  await node.shutdown();
});

before(() => {
  serve('/tls/here', { ping: () => 'pong from a' });
});

it('two nodes with certificates of one CA call each other', async () => {
  const up = peerUp(node, 'tls-b');
  const b = await startNode({ boot: { name: 'tls-b', peers: [node.address!], secret: SECRET, tls: certs.b! }, spawn: [{ module: AGENT.href, data: { name: '/tls/agent' } }], waitFor: ['tls-a'] });
  remotes.push(b);
  await up;
  await eventually(() => call('/tls/agent', 'whoami', []).then(() => true, () => false), 10_000, 'the agent bound');
  const agent = connect<Agent>('/tls/agent');
  assert.equal(await unwrap(agent.call('/tls/here', 'ping', [])), 'pong from a');
});

for (const [what, tls] of [
  ['a certificate another CA signed', stranger],
  ['no TLS at all', undefined],
] as const) {
  it(`a node with ${what} is refused during the TLS handshake, and the node keeps serving`, async () => {
    const before = events.length;
    const x = await startNode({ boot: { name: `tls-x${remotes.length}`, peers: [node.address!], secret: SECRET, ...(tls !== undefined ? { tls } : {}) } });
    remotes.push(x);
    await eventually(() => events.slice(before).some((e) => e.type === 'handshake-rejected'), 10_000, 'a rejection');
    const rejected = events.slice(before).find((e) => e.type === 'handshake-rejected');
    assert.match((rejected as { reason: string }).reason, /^TLS: /);
    assert.deepStrictEqual([(rejected as { code: string }).code, (rejected as { by: string }).by], ['EACCES', 'local'], 'an authentication failure, found here');
    assert.ok(!events.slice(before).some((e) => e.type === 'peer-up' && e.node === x.name), 'never up');
    await x.kill();
    assert.equal(await unwrap(connect<Agent>('/tls/agent').call('/tls/here', 'ping', [])), 'pong from a');
  });
}
