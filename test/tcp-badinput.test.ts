// Bad input on a node's listening port. A node listens on loopback with a
// cluster secret and a short handshake timeout; a good peer (a process of
// its own, with the same secret) calls a service on it. Raw node:net
// sockets then send random bytes, truncated headers, oversize lengths,
// absurd seq/ack values, wrong secrets, a replayed handshake, stalled
// handshakes and bad versions. Each connection must be closed by the node
// with its reason (the handshake-rejected status event, the log, and the
// Close frame on the wire agree), and afterwards the node still serves its
// good peer, which never saw it go down.
//
// Also: boot() refuses to listen beyond loopback without a secret, and
// refuses a secret shorter than 16 characters.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { boot, call, connect, lookup, serve, type ErrorCode, type FosNode, type Ref, type Remote, type StatusEvent } from '../src/index.js';
import { encode, packValue, RecordType, unpackValue } from '../src/envelope.js';
import { unpackVerdicts } from '../src/transport/verdicts.js';
import { checkHello, newNonce, proof, proofMatches, PROTOCOL_VERSION, type Hello } from '../src/transport/tcp/handshake.js';
import { FrameKind, MAX_SEQ } from '../src/transport/tcp/wire.js';
import type { Agent } from './fixtures/agent.js';
import { peerUp, startNode, type RemoteNode } from './helpers/cluster.js';
import { codeOf, ECHO, eventually } from './helpers/places.js';
import { framesOf, helloBody, rawDial, rawFrame, RawConn, recordingRelay, type Frame } from './helpers/raw-tcp.js';

const SECRET = 'bad-input-cluster-secret-0123456789';
const OTHER_SECRET = 'not-the-cluster-secret-9876543210';
const HANDSHAKE_MS = 500;
/** How late past its deadline a close may come on a slow, busy machine. */
const SLACK_MS = 2500;
const AGENT = new URL('./fixtures/agent.js', import.meta.url);
const AGENT_NAME = '/badinput/agent';
const ECHO_NAME = '/badinput/echo';

describe('boot refuses an unsafe configuration', () => {
  // These run before any node boots in this process (one runtime per isolate).
  it('listening or dialing beyond loopback without a secret: EINVAL, with a clear error', async () => {
    for (const opts of [{ listen: '0.0.0.0:0' }, { listen: ':0' }, { listen: '[::]:0' }, { listen: '127.0.0.1:0', peers: ['192.0.2.1:7000'] }]) {
      let error: unknown;
      assert.equal(
        await codeOf(
          boot(opts).catch((e: unknown) => {
            error = e;
            throw e;
          }),
        ),
        'EINVAL',
        JSON.stringify(opts),
      );
      assert.match((error as Error).message, /without a cluster secret/);
    }
  });

  it('a secret shorter than 16 characters: EINVAL (on loopback too); 16 characters start', async () => {
    for (const secret of ['', 'short', 'x'.repeat(15)]) {
      assert.equal(await codeOf(boot({ listen: '127.0.0.1:0', secret })), 'EINVAL', JSON.stringify(secret));
      assert.equal(await codeOf(boot({ listen: '0.0.0.0:0', secret })), 'EINVAL', JSON.stringify(secret));
    }
    // Refused boots left nothing behind: a good one starts.
    const node = await boot({ listen: '127.0.0.1:0', secret: 'x'.repeat(16) });
    assert.match(node.address ?? '', /^127\.0\.0\.1:\d+$/);
    await node.shutdown();
  });
});

describe('bad input on the listening port', () => {
  let target: FosNode;
  let address: string;
  let good: RemoteNode | undefined;
  let agent: Remote<Agent>;
  const events: StatusEvent[] = [];
  const logs: string[] = [];
  const others: RemoteNode[] = [];
  const conns: RawConn[] = [];
  /** How many events had come when each connection was opened: a port is reused, so only later events can be its own. */
  const eventsBefore = new Map<RawConn, number>();

  /** A raw connection to the node, closed after the tests whatever happens. */
  async function open(): Promise<RawConn> {
    const before = events.length;
    const c = await RawConn.open(address);
    eventsBefore.set(c, before);
    conns.push(c);
    return c;
  }

  /** The handshake-rejected event the node emitted for `c`. */
  async function rejection(c: RawConn, ms = 3000): Promise<StatusEvent & { type: 'handshake-rejected' }> {
    const from = eventsBefore.get(c) ?? 0;
    const find = (): (StatusEvent & { type: 'handshake-rejected' }) | undefined =>
      events.slice(from).find((e): e is StatusEvent & { type: 'handshake-rejected' } => e.type === 'handshake-rejected' && e.address === c.remoteOfNode);
    await eventually(() => find() !== undefined, ms, `a handshake-rejected event for ${c.remoteOfNode}`);
    return find()!;
  }

  /**
   * `c` is closed by the node within `withinMs` (and not before
   * `atLeastMs`); the node reports the rejection with `code` (a function
   * of the reason, for random input) and a reason matching `reason`, logs
   * it, and (unless the peer's own Close frame ended it) sent the same
   * reason and code in a Close frame before closing.
   */
  async function refused(c: RawConn, code: ErrorCode | ((reason: string) => ErrorCode), reason: RegExp, withinMs: number, atLeastMs = 0): Promise<string> {
    const closed = await c.waitClosed(withinMs + 1000);
    assert.ok(closed.byPeer, `the node closed the connection (error: ${closed.error ?? 'none'})`);
    assert.ok(closed.afterMs <= withinMs, `closed after ${Math.round(closed.afterMs)} ms, more than ${withinMs}`);
    assert.ok(closed.afterMs >= atLeastMs, `closed after ${Math.round(closed.afterMs)} ms, before ${atLeastMs}`);
    const ev = await rejection(c);
    assert.match(ev.reason, reason);
    const byPeer = ev.reason.startsWith('closed by the peer:');
    assert.equal(ev.by, byPeer ? 'peer' : 'local');
    assert.equal(ev.code, typeof code === 'string' ? code : code(ev.reason), `the code of ${ev.reason}`);
    const line = `handshake with ${ev.node ?? c.remoteOfNode} rejected: ${ev.reason}`;
    assert.ok(logs.includes(line), `logged: ${line}`);
    if (!byPeer) assert.deepStrictEqual(c.closeReason, { reason: ev.reason.slice(0, 200), final: false, code: ev.code }, 'the node sent its reason and code in a Close frame');
    return ev.reason;
  }

  before(async () => {
    target = await boot({ name: 'target', listen: '127.0.0.1:0', secret: SECRET, tcp: { handshakeMs: HANDSHAKE_MS }, log: (l) => logs.push(l) });
    address = target.address!;
    void (async () => {
      for await (const e of target.status()) events.push(e);
    })();
    serve(ECHO_NAME, { echo: (v: unknown) => v, whoami: () => 'target' });
    const up = peerUp(target, 'good');
    good = await startNode({ boot: { name: 'good', peers: [address], secret: SECRET }, spawn: [{ module: AGENT.href, data: { name: AGENT_NAME } }], waitFor: ['target'] });
    await up;
    await eventually(() => lookup(AGENT_NAME).then(() => true, () => false), 10_000, `${AGENT_NAME} bound`);
    agent = connect<Agent>(AGENT_NAME, { timeout: 20_000 });
    // The good peer calls a service of the node, through the node's proxy.
    assert.equal(await agent.call(ECHO_NAME, 'whoami', []), 'target');
  });

  after(async () => {
    for (const c of conns) c.destroy();
    await Promise.all(others.map((o) => o.kill()));
    await good?.shutdown();
    await target?.shutdown();
  });

  it('random bytes: each connection closed with a reason, while the good peer keeps calling (seeded)', async (t) => {
    const reasonOfRandomInput =
      /^(malformed stream: EINVAL: frame (length \d+ is shorter than a header|of \d+ bytes exceeds the limit of 4096)|EINVAL: (unexpected frame kind \d+ during the handshake|malformed value: [^]*|malformed hello[^]*|protocol version [^]* is not \d+)|handshake not finished within 500 ms|closed by the peer: [^]*)$/;
    // What each of those reasons is: a timeout, or bad input (a Close frame the raw side sent is neither: it says EINVAL, being a fos frame without a code).
    const codeOfRandomInput = (reason: string): ErrorCode => (reason.startsWith('handshake not finished') ? 'ETIMEDOUT' : 'EINVAL');
    const framed = (kind: fc.Arbitrary<number>, body: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> =>
      fc.tuple(kind, fc.integer({ min: 0, max: MAX_SEQ }), fc.integer({ min: 0, max: MAX_SEQ }), body).map(([k, s, a, b]) => new Uint8Array(rawFrame(k, b, s, a)));
    const input = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 6000 }),
      // A plausible length, so that whole frames of random kinds and bodies reach the handshake.
      framed(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 300 })),
      // Hellos with random bytes, or random msgpack values, as their body.
      framed(fc.constant(FrameKind.Hello), fc.uint8Array({ maxLength: 300 })),
      framed(fc.constant(FrameKind.Hello), fc.anything({ maxDepth: 3 }).map((v) => packValue(v))),
    );
    const inputs = fc.sample(input, { seed: 20260401, numRuns: 40 });
    let calls = 0;
    let stop = false;
    const caller = (async () => {
      while (!stop) {
        assert.deepStrictEqual(await agent.call(ECHO_NAME, 'echo', [{ calls }]), { calls });
        calls++;
      }
    })();
    try {
      const reasons = await Promise.all(
        inputs.map(async (bytes) => {
          const c = await open();
          c.send(bytes);
          return refused(c, codeOfRandomInput, reasonOfRandomInput, HANDSHAKE_MS + SLACK_MS);
        }),
      );
      const kinds = new Set(reasons.map((r) => r.replace(/\d+/g, 'N').slice(0, 40)));
      t.diagnostic(`reasons: ${[...kinds].join(' | ')}`);
      assert.ok(kinds.size >= 4, `the inputs reached several checks: ${[...kinds].join(' | ')}`);
    } finally {
      stop = true;
      await caller;
    }
    assert.ok(calls > 0, 'the good peer called during the attack');
  });

  it('a truncated header, half a hello, a hello without its auth, or nothing: closed after handshakeMs', async () => {
    const hello = rawFrame(FrameKind.Hello, packValue(helloBody({ node: 'slow' })));
    const stalls: [string, (c: RawConn) => void][] = [
      ...Array.from({ length: 8 }, (_, i): [string, (c: RawConn) => void] => [`nothing #${i}`, () => {}]),
      ['2 bytes of a length', (c) => c.send(hello.subarray(0, 2))],
      ['the length and half the header', (c) => c.send(hello.subarray(0, 10))],
      ['16 of the 17 header bytes', (c) => c.send(hello.subarray(0, 16))],
      ['half a hello', (c) => c.send(hello.subarray(0, hello.length >> 1))],
      ['a hello byte by byte, all but the last', (c) => void sendSlowly(c, hello.subarray(0, hello.length - 1))],
      ['a whole hello, then no auth', (c) => c.send(hello)],
    ];
    await Promise.all(
      stalls.map(async ([what, act]) => {
        const c = await open();
        act(c);
        await refused(c, 'ETIMEDOUT', new RegExp(`^handshake not finished within ${HANDSHAKE_MS} ms$`), HANDSHAKE_MS + SLACK_MS, HANDSHAKE_MS - 5).catch((e: Error) => {
          throw new Error(`${what}: ${e.message}`);
        });
      }),
    );
  });

  it('a header announcing 2^32-1 bytes (the most a u32 length says; 2^53 cannot be said) is refused at once', async () => {
    // Only the length field, and then the length field with a stream of bytes behind it.
    const bare = await open();
    bare.send(Uint8Array.of(0xff, 0xff, 0xff, 0xff));
    const streaming = await open();
    streaming.send(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, FrameKind.Hello]), Buffer.alloc(64 * 1024, 0x61)]));
    const justOver = await open();
    const b = Buffer.alloc(4);
    b.writeUInt32LE(4097, 0); // one byte over the 4 KiB an unauthenticated peer may send
    justOver.send(b);
    for (const c of [bare, streaming]) await refused(c, 'EINVAL', /^malformed stream: EINVAL: frame of 4294967295 bytes exceeds the limit of 4096$/, HANDSHAKE_MS - 1);
    await refused(justOver, 'EINVAL', /^malformed stream: EINVAL: frame of 4097 bytes exceeds the limit of 4096$/, HANDSHAKE_MS - 1);
    // A length shorter than a header.
    const short = await open();
    short.send(Uint8Array.of(12, 0, 0, 0));
    await refused(short, 'EINVAL', /^malformed stream: EINVAL: frame length 12 is shorter than a header$/, HANDSHAKE_MS - 1);
  });

  it('a hello with seq and ack at 2^48-1: ignored by the handshake, an impostor still fails authentication', async () => {
    const c = await open();
    const own = helloBody({ node: 'impostor' }) as unknown as Hello;
    c.sendFrame(FrameKind.Hello, own, MAX_SEQ, MAX_SEQ);
    const peerHello = checkHello(unpackValue((await c.frame((f) => f.kind === FrameKind.Hello)).body), true);
    c.sendFrame(FrameKind.Auth, { proof: proof(OTHER_SECRET, 'dialer', own, peerHello), received: MAX_SEQ }, MAX_SEQ, MAX_SEQ);
    await refused(c, 'EACCES', /^EACCES: authentication failed: node impostor, which dialed, and node [\w.-]+ do not hold the same cluster secret \(one has another, or none\)$/, HANDSHAKE_MS - 1);
  });

  it('with the secret, absurd seq/ack in the handshake are not taken as acknowledgements; after it, an ack or seq beyond reason closes the connection', async () => {
    const s = await rawDial(address, { name: 'raw-absurd', secret: SECRET, seq: MAX_SEQ, ack: MAX_SEQ });
    conns.push(s.conn);
    // The node's first sequenced frame (its names) is 1, and its ack says it has nothing from us.
    const first = await s.conn.frame((f) => f.seq > 0);
    assert.equal(first.kind, FrameKind.Names);
    assert.equal(first.seq, 1);
    assert.equal(first.ack, 0);
    s.conn.sendFrame(FrameKind.Ack, new Uint8Array(0), 0, MAX_SEQ);
    await s.conn.waitClosed(3000);
    assert.equal(s.conn.closeReason?.reason, `EINVAL: ack ${MAX_SEQ} of a frame never sent`);
    await eventually(() => logs.some((l) => l.includes(`connection to raw-absurd closed: EINVAL: ack ${MAX_SEQ} of a frame never sent`)), 3000, 'the reason logged');

    const t = await rawDial(address, { name: 'raw-gap', secret: SECRET });
    conns.push(t.conn);
    t.conn.sendFrame(FrameKind.Names, packValue({}), MAX_SEQ, 0);
    await t.conn.waitClosed(3000);
    assert.equal(t.conn.closeReason?.reason, `EINVAL: frame ${MAX_SEQ} after 0: a gap`);
  });

  it('a resumed handshake whose Auth claims more than the node ever sent is refused, not taken as an acknowledgement', async () => {
    // A session, then a frame the node sends while this side is away.
    const first = await rawDial(address, { name: 'raw-resume', secret: SECRET });
    conns.push(first.conn);
    await first.conn.frame((f) => f.kind === FrameKind.Names && f.seq > 0); // its names
    await new Promise((r) => setTimeout(r, 200)); // and whatever else it sends a new session
    const lastSeen = Math.max(...first.conn.frames.map((f) => f.seq));
    first.conn.destroy();
    await eventually(() => logs.some((l) => l.startsWith('connection to raw-resume closed')), 3000, 'the node noticed the close');
    const away = serve('/badinput/while-away', { x: () => 1 }); // a name change: seq 2, unacknowledged
    await away.ready;
    // Resume, claiming to have received 2^53-1.
    let again: Awaited<ReturnType<typeof rawDial>> | undefined;
    try {
      again = await rawDial(address, { name: 'raw-resume', secret: SECRET, sid: first.sid, received: Number.MAX_SAFE_INTEGER });
    } catch (e) {
      // Refused during the handshake: what is expected.
      assert.match((e as Error).message, /connection closed before the frame came/);
    }
    if (again !== undefined) {
      conns.push(again.conn);
      assert.equal(again.sid, first.sid, 'the session resumed');
      // The handshake went through: then the node must either close the connection now, or
      // resend what it sent while this side was away (from lastSeen + 1) before anything newer.
      const later = serve('/badinput/after-resume', { x: () => 1 });
      await later.ready;
      const f = await again.conn.frame((x) => x.seq > 0, 3000).catch(() => undefined);
      later.close();
      again.conn.destroy();
      if (f === undefined) assert.ok(again.conn.isClosed, `the node neither refused the resumption nor resent frame ${lastSeen + 1}`);
      else {
        assert.ok(
          f.seq <= lastSeen + 1,
          `the node took an Auth claiming ${Number.MAX_SAFE_INTEGER} received as an acknowledgement (this side had seen up to ${lastSeen}), and dropped what it sent meanwhile: the next frame is ${f.seq}`,
        );
      }
    }
    away.close();
  });

  it('a wrong secret (a node of its own): both sides report handshake-rejected with an authentication reason', async () => {
    const wrong = await startNode({ boot: { name: 'wrong', peers: [address], secret: OTHER_SECRET } });
    others.push(wrong);
    await eventually(() => events.some((e) => e.type === 'handshake-rejected' && e.node === 'wrong'), 10_000, 'the node rejects the wrong secret');
    await eventually(() => wrong.events.some((e) => e.type === 'handshake-rejected'), 10_000, 'the wrong node rejects the node');
    const here = events.find((e): e is StatusEvent & { type: 'handshake-rejected' } => e.type === 'handshake-rejected' && e.node === 'wrong')!;
    const there = wrong.events.find((e): e is StatusEvent & { type: 'handshake-rejected' } => e.type === 'handshake-rejected')!;
    assert.match(here.reason, /authentication failed/);
    assert.match(there.reason, /authentication failed/);
    // The dialer checks the acceptor's proof first: it refuses, and the node hears it as the peer's refusal, under the same code.
    assert.deepStrictEqual([here.code, here.by, there.code, there.by], ['EACCES', 'peer', 'EACCES', 'local']);
    assert.equal(there.node, 'target');
    assert.ok(!wrong.events.some((e) => e.type === 'peer-up'), 'never up');
    assert.ok(!events.some((e) => e.type === 'peer-up' && e.node === 'wrong'));
    await wrong.shutdown();
  });

  it('a wrong secret (a raw dialer): its proof fails at the node with an authentication reason', async () => {
    const c = await open();
    const own = helloBody({ node: 'raw-wrong' }) as unknown as Hello;
    c.sendFrame(FrameKind.Hello, own);
    const peerHello = checkHello(unpackValue((await c.frame((f) => f.kind === FrameKind.Hello)).body), true);
    assert.ok(!proofMatches(proof(OTHER_SECRET, 'acceptor', own, peerHello), peerHello.proof), 'the wrong secret cannot check the node');
    assert.ok(proofMatches(proof(SECRET, 'acceptor', own, peerHello), peerHello.proof), 'the right one can');
    c.sendFrame(FrameKind.Auth, { proof: proof(OTHER_SECRET, 'dialer', own, peerHello), received: 0 });
    await refused(c, 'EACCES', /^EACCES: authentication failed: node raw-wrong, which dialed, and node [\w.-]+ do not hold the same cluster secret \(one has another, or none\)$/, HANDSHAKE_MS - 1);
    // The acceptor's proof reflected back as the dialer's.
    const r = await open();
    const own2 = helloBody({ node: 'raw-reflect' }) as unknown as Hello;
    r.sendFrame(FrameKind.Hello, own2);
    const h2 = checkHello(unpackValue((await r.frame((f) => f.kind === FrameKind.Hello)).body), true);
    r.sendFrame(FrameKind.Auth, { proof: h2.proof, received: 0 });
    await refused(r, 'EACCES', /^EACCES: authentication failed/, HANDSHAKE_MS - 1);
  });

  it("a replayed handshake: a genuine dialer's recorded bytes fail on a new connection (the nonce differs)", async () => {
    const relay = await recordingRelay(address);
    try {
      const up = peerUp(target, 'genuine');
      const genuine = await startNode({ boot: { name: 'genuine', peers: [relay.address], secret: SECRET }, waitFor: ['target'] });
      others.push(genuine);
      await up;
      const sent = framesOf(relay.recording.up[0]!);
      const answered = framesOf(relay.recording.down[0]!);
      assert.deepStrictEqual(
        sent.slice(0, 2).map((f) => f.kind),
        [FrameKind.Hello, FrameKind.Auth],
      );
      const [dialerHello, auth] = sent as [Frame, Frame];
      const recordedHello = checkHello(unpackValue(dialerHello.body), false);
      const nodeHello = checkHello(unpackValue(answered[0]!.body), true);
      const recordedAuth = unpackValue(auth.body) as { proof: Uint8Array };
      // The recording is genuine: its proof was good for its nonce pair.
      assert.ok(proofMatches(proof(SECRET, 'dialer', recordedHello, nodeHello), recordedAuth.proof));
      // Replayed byte for byte on a new connection.
      const replay = await open();
      replay.send(relay.recording.up[0]!.subarray(0, 4 + dialerHello.body.length + 13 + 4 + auth.body.length + 13));
      const fresh = checkHello(unpackValue((await replay.frame((f) => f.kind === FrameKind.Hello)).body), true);
      assert.notDeepStrictEqual(Buffer.from(fresh.nonce), Buffer.from(nodeHello.nonce), 'a new nonce for a new connection');
      await refused(replay, 'EACCES', /^EACCES: authentication failed: node genuine, which dialed, and node [\w.-]+ do not hold the same cluster secret \(one has another, or none\)$/, HANDSHAKE_MS - 1);
      assert.equal((await rejection(replay)).node, 'genuine');
      // The genuine session did not notice.
      assert.ok(!events.some((e) => e.type === 'peer-down' && e.node === 'genuine'));
      assert.ok(!genuine.events.some((e) => e.type === 'peer-down' || e.type === 'handshake-rejected'));
      await genuine.shutdown();
    } finally {
      await relay.close();
    }
  });

  it("a replayed hello of a connection this node dialed and uses is refused, and cuts nothing: it is not taken for the node dialing itself", async () => {
    const far = await startNode({ boot: { name: 'far-dialed', listen: '127.0.0.1:0', secret: SECRET } });
    others.push(far);
    const relay = await recordingRelay(far.address!);
    try {
      const up = peerUp(target, 'far-dialed');
      target.addPeer(relay.address);
      await up;
      const [hello] = framesOf(relay.recording.up[0]!) as [Frame];
      assert.equal(hello.kind, FrameKind.Hello);
      // This node's own hello, of the connection it now uses, sent back to it (anyone on the path can copy it).
      const replay = await open();
      replay.send(relay.recording.up[0]!.subarray(0, 4 + hello.body.length + 13));
      await refused(replay, 'EINVAL', /^EINVAL: the peer calls itself target, as this node is called, with this very process's incarnation/, HANDSHAKE_MS - 1);
      await new Promise((r) => setTimeout(r, 300));
      assert.ok((await target.stats()).peers.some((p) => p.node === 'far-dialed' && p.connected), 'the session is still connected');
      assert.ok(!events.some((e) => e.type === 'peer-down' && e.node === 'far-dialed'));
      assert.ok(!logs.some((l) => /leads back to this node|dialed itself/.test(l)), logs.join('\n'));
      assert.equal(await call(`/sys/nodes/far-dialed`, 'peers', [], { timeout: 5000 }).then(() => 'answers'), 'answers');
      await far.shutdown();
    } finally {
      await relay.close();
    }
  });

  it('past 64 handshakes in progress, a new connection is refused with a word (EAGAIN in a Close frame), and is said as refused', async () => {
    const quiet = await Promise.all(Array.from({ length: 64 }, () => open()));
    const extra = await open();
    await extra.waitClosed(SLACK_MS);
    assert.deepStrictEqual(extra.closeReason, { reason: '64 handshakes already in progress', final: false, code: 'EAGAIN' });
    assert.equal((await rejection(extra)).code, 'EAGAIN');
    // The node ends the 64 at its handshake timeout: then it takes new connections again.
    for (const c of quiet) await c.waitClosed(HANDSHAKE_MS + SLACK_MS);
  });

  it('a bad protocol version: refused with the version in the reason', async () => {
    for (const v of [PROTOCOL_VERSION + 1, PROTOCOL_VERSION - 1, 0, 1.5, String(PROTOCOL_VERSION)]) {
      const c = await open();
      c.sendFrame(FrameKind.Hello, helloBody({ v, node: 'raw-version' }));
      const shown = typeof v === 'string' ? JSON.stringify(v) : String(v); // a string version is quoted
      await refused(c, 'EINVAL', new RegExp(`^EINVAL: protocol version ${shown.replace('.', '\\.')} is not ${PROTOCOL_VERSION}$`), HANDSHAKE_MS - 1);
    }
  });

  it('a bad protocol version that String() cannot print ({ toString: "" } in msgpack) is refused as a bad version too', async () => {
    const c = await open();
    c.sendFrame(FrameKind.Hello, helloBody({ v: { toString: '' }, node: 'raw-version' }));
    await refused(c, 'EINVAL', /^EINVAL: (protocol version|malformed hello)/, HANDSHAKE_MS - 1);
  });

  it('malformed handshakes: each refused with its own reason', async () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['a bad node name', rawFrame(FrameKind.Hello, packValue(helloBody({ node: 'no/slashes' }))), /^EINVAL: malformed hello: bad node name$/],
      ['a short nonce', rawFrame(FrameKind.Hello, packValue(helloBody({ nonce: newNonce().subarray(0, 16) }))), /^EINVAL: malformed hello: bad nonce$/],
      ['a tiny frame limit', rawFrame(FrameKind.Hello, packValue(helloBody({ maxFrame: 10 }))), /^EINVAL: malformed hello: bad frame limit$/],
      ['a hello that is not an object', rawFrame(FrameKind.Hello, packValue('hello')), /^EINVAL: malformed hello$/],
      ['a body that is not msgpack', rawFrame(FrameKind.Hello, Uint8Array.of(0xc1, 0xc1, 0xc1)), /^EINVAL: malformed value: /],
      ['an empty hello', rawFrame(FrameKind.Hello, new Uint8Array(0)), /^EINVAL: malformed (value|hello)/],
      ['an auth first', rawFrame(FrameKind.Auth, packValue({ proof: new Uint8Array(32), received: 0 })), /^EINVAL: unexpected frame kind 2 during the handshake$/],
      ['a message first', rawFrame(FrameKind.Msg, new Uint8Array(40), 1, 0), /^EINVAL: unexpected frame kind 10 during the handshake$/],
      ['a hello naming the node itself', rawFrame(FrameKind.Hello, packValue(helloBody({ node: 'target' }))), /^EINVAL: the peer calls itself target, as this node is called: another process has this node's name/],
      ['a 4000-byte hello of junk (under the 4 KiB limit)', rawFrame(FrameKind.Hello, new Uint8Array(4000).fill(0xc1)), /^EINVAL: malformed value: /],
    ];
    await Promise.all(
      cases.map(async ([what, bytes, reason]) => {
        const c = await open();
        c.send(bytes);
        await refused(c, 'EINVAL', reason, HANDSHAKE_MS - 1).catch((e: Error) => {
          throw new Error(`${what}: ${e.message}`);
        });
      }),
    );
    // A hello with the node's own name and incarnation, whose nonce no connection of the node sent: not taken for the node dialing itself.
    const asker = await open();
    asker.sendFrame(FrameKind.Hello, helloBody({ node: 'raw-inc' }));
    const { inc } = checkHello(unpackValue((await asker.frame((f) => f.kind === FrameKind.Hello)).body), true);
    asker.destroy();
    const mirror = await open();
    mirror.sendFrame(FrameKind.Hello, helloBody({ node: 'target', inc }));
    await refused(mirror, 'EINVAL', /^EINVAL: the peer calls itself target/, HANDSHAKE_MS - 1);
    // An auth that is not an object, after a good hello.
    const c = await open();
    c.sendFrame(FrameKind.Hello, helloBody({ node: 'raw-auth' }));
    await c.frame((f) => f.kind === FrameKind.Hello);
    c.sendFrame(FrameKind.Auth, 42);
    await refused(c, 'EACCES', /^EACCES: authentication failed/, HANDSHAKE_MS - 1);
  });

  it("an impostor naming the good peer fails, and the good peer's session is untouched", async () => {
    const c = await open();
    const own = helloBody({ node: 'good' }) as unknown as Hello;
    c.sendFrame(FrameKind.Hello, own);
    const h = checkHello(unpackValue((await c.frame((f) => f.kind === FrameKind.Hello)).body), true);
    c.sendFrame(FrameKind.Auth, { proof: proof(OTHER_SECRET, 'dialer', own, h), received: 0 });
    await refused(c, 'EACCES', /^EACCES: authentication failed/, HANDSHAKE_MS - 1);
    assert.equal((await rejection(c)).node, 'good');
    assert.deepStrictEqual(await agent.call(ECHO_NAME, 'echo', ['still here']), 'still here');
  });

  it('a call from another node flagged as needing no verdict (or as a callSync) still gets its verdict, forwarded over shm to a worker', async () => {
    const worker = await target.spawn(ECHO, { data: { name: '/badinput/worker-echo' } });
    try {
      const [ref] = await lookup('/badinput/worker-echo');
      assert.ok(ref !== undefined);
      assert.equal(await call(ref, 'echo', [1], { transport: 'shm' }), 1, 'the node reaches the worker over shm');
      const s = await rawDial(address, { name: 'raw-flags', secret: SECRET });
      conns.push(s.conn);
      const from = { address: { node: 'raw-flags', isolate: 0, mailbox: 1 }, cap: 'A'.repeat(22) } as Ref;
      const verdictOn = (seq: number): { a: boolean; n?: string } | undefined => {
        for (const f of s.conn.frames) {
          if (f.kind !== FrameKind.Verdict) continue;
          const v = unpackVerdicts(f.body);
          const refused = v.n?.find(([q]) => q === seq);
          if (refused !== undefined) return { a: false, n: refused[1].code };
          const a = v.a ?? [];
          for (let i = 0; i + 1 < a.length; i += 2) if (a[i]! <= seq && seq <= a[i + 1]!) return { a: true };
        }
        return undefined;
      };
      let seq = 0;
      for (const flags of [{ untracked: true }, { sync: true, untracked: true }] as const) {
        for (const cap of ['not-the-capability-xxx', ref.cap]) {
          seq++;
          const enc = encode({ type: RecordType.Message, to: ref.address.mailbox, cap, wait: true, data: [seq], from, call: { id: seq, method: 'echo', ...flags } });
          const body = new Uint8Array(4 + enc.length);
          new DataView(body.buffer).setUint32(0, ref.address.isolate, true);
          enc.writeTo(body, 4);
          s.conn.sendFrame(FrameKind.Msg, body, seq, 0);
          await eventually(() => verdictOn(seq) !== undefined, 5000, `the verdict on message ${seq} (${JSON.stringify(flags)}, ${cap === ref.cap ? 'right' : 'wrong'} capability)`);
          assert.deepStrictEqual(verdictOn(seq), cap === ref.cap ? { a: true } : { a: false, n: 'EACCES' });
        }
      }
      s.conn.destroy();
    } finally {
      await worker.stop();
    }
  });

  it('after all of it, the node still serves its good peer, which never saw it go down', async () => {
    for (let i = 0; i < 20; i++) assert.deepStrictEqual(await agent.call(ECHO_NAME, 'echo', [{ i, s: 'x'.repeat(i * 100) }]), { i, s: 'x'.repeat(i * 100) });
    assert.equal(typeof (await agent.whoami()), 'number', 'and the node reaches the good peer');
    assert.ok(good !== undefined);
    // (Of the node: the good peer also meets the nodes the node dialed, and sees them go.)
    assert.deepStrictEqual(
      good.events.filter((e) => (e.type === 'peer-down' && e.node === 'target') || (e.type === 'handshake-rejected' && (e.node === 'target' || e.address === address))),
      [],
      'the good peer never saw the node down, nor a rejection',
    );
    assert.ok(!events.some((e) => e.type === 'peer-down' && e.node === 'good'), 'the node never declared the good peer down');
    const peers = (await target.stats()).peers.find((p) => p.node === 'good');
    assert.equal(peers?.connected, true);
    // Every raw connection is closed (those this side did not close, by the node).
    for (const c of conns) await c.waitClosed(SLACK_MS);
  });
});

/** Sends `bytes` one at a time, a few milliseconds apart, while the connection lasts. */
async function sendSlowly(c: RawConn, bytes: Uint8Array): Promise<void> {
  for (const b of bytes) {
    if (c.isClosed) return;
    c.send(Uint8Array.of(b));
    await new Promise((r) => setTimeout(r, 3));
  }
}
