// Capabilities: a send or call with a wrong or missing capability fails at
// the sender (EACCES, or EINVAL for what is not a ref at all) and nothing
// reaches the mailbox; a ref is plain data that works after travelling in a
// message; capabilities carry at least 128 random bits; a ref kept from an
// earlier process of a node names no mailbox of the next (ENOENT).
//
// Each scenario runs with the mailbox at every place (main thread: 'local';
// a worker: 'kernel'), and is sent to from both the main thread and a worker,
// so both the same-isolate and the kernel admission paths are covered.
import assert from 'node:assert/strict';
import { spawn as spawnProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { boot, call, connect, lookup, send, serve, type CallOptions, type Ref, type SendOptions } from '../src/index.js';
import type { Agent } from './fixtures/agent.js';
import { counter } from './fixtures/caps-counter.js';
import { codeOf, eventually, places, unwrap, type Place, type tcpPlace } from './helpers/places.js';

const node = await boot({ listen: '127.0.0.1:0' });
after(() => node.shutdown());

const all = await places(node);
// A worker that sends too: the agent behind the 'kernel' place.
const agent = connect<Agent>('/test/agent/kernel', { timeout: 20_000 });

/** Who sends: the main thread itself, or the agent worker. */
interface Sender {
  readonly who: string;
  send(target: unknown, data: unknown, opts?: Omit<SendOptions, 'signal' | 'transfer'>): Promise<void>;
  call(target: unknown, method: string, args: unknown[], opts?: Omit<CallOptions, 'signal' | 'transfer'>): Promise<unknown>;
}
/** The senders of a scenario at `place`, each using the place's transport. */
function sendersFor(place: Place): Sender[] {
  const t = place.opts;
  return [
    {
      who: 'main',
      send: (target, data, opts) => send(target as Ref, data, { ...t, ...opts }),
      call: (target, method, args, opts) => call(target as Ref, method, args, { ...t, ...opts }),
    },
    {
      who: 'worker',
      send: (target, data, opts) => unwrap(agent.send(target as Ref, data, { ...t, ...opts })),
      call: (target, method, args, opts) => unwrap(agent.call(target as Ref, method, args, { ...t, ...opts })),
    },
  ];
}

/** A served counter at each place: in main for 'local', in a worker of its own (of the other node for 'tcp') otherwise. */
async function counterAt(place: Place): Promise<Ref> {
  const name = `/caps/counter/${place.transport}`;
  if (place.transport === 'local') return serve(name, counter(0)).ready;
  const module = new URL('./fixtures/caps-counter.js', import.meta.url);
  if (place.transport === 'tcp') await (place as Awaited<ReturnType<typeof tcpPlace>>).remote.spawn(module, { name });
  else await node.spawn(module, { data: { name } });
  await eventually(() => lookup(name).then(() => true, () => false), 10_000, `${name} bound`);
  const refs = await lookup(name);
  assert.equal(refs.length, 1);
  return refs[0]!;
}

/** Refs that name `ref`'s mailbox with a capability that is not its own. */
function forgeries(ref: Ref, otherCap: string): [string, Ref][] {
  const { address, cap } = ref;
  const last = cap.at(-1) === 'A' ? 'B' : 'A';
  const forged = (c: string): Ref => ({ address, cap: c }) as Ref;
  return [
    ['the cap of another mailbox', forged(otherCap)],
    ['the cap with its last character changed', forged(cap.slice(0, -1) + last)],
    ['the cap with its first character changed', forged((cap[0] === 'A' ? 'B' : 'A') + cap.slice(1))],
    ['a prefix of the cap', forged(cap.slice(0, -1))],
    ['the cap with a character added', forged(cap + 'A')],
    ['the cap in upper case', forged(cap.toUpperCase() === cap ? cap.toLowerCase() : cap.toUpperCase())],
    ['an empty cap', forged('')],
  ];
}

/** What is not a usable ref, and the code a send to it fails with: EACCES for a missing capability, EINVAL for what names no mailbox. */
function malformed(ref: Ref): [string, unknown, 'EINVAL' | 'EACCES'][] {
  const { address, cap } = ref;
  return [
    ['a ref without its cap', { address }, 'EACCES'],
    ['a ref whose cap is undefined', { address, cap: undefined }, 'EACCES'],
    ['a ref whose cap is a number', { address, cap: 42 }, 'EACCES'],
    ['a ref whose cap is null', { address, cap: null }, 'EACCES'],
    ['a ref whose cap is bytes', { address, cap: Buffer.from(cap, 'base64url') }, 'EACCES'],
    ['a ref without an address', { cap }, 'EINVAL'],
    ['an address without a mailbox number', { address: { node: address.node, isolate: address.isolate }, cap }, 'EINVAL'],
    ['an isolate number as a string', { address: { ...address, isolate: String(address.isolate) }, cap }, 'EINVAL'],
    ['a fractional mailbox number', { address: { ...address, mailbox: address.mailbox + 0.5 }, cap }, 'EINVAL'],
    ['null', null, 'EINVAL'],
    ['a number', 42, 'EINVAL'],
    ['an empty object', {}, 'EINVAL'],
    ['an array', [address, cap], 'EINVAL'],
  ];
}

for (const place of all) {
  describe(`capabilities, mailbox over ${place.transport}`, () => {
    it('a wrong cap fails with EACCES at the sender, and nothing is delivered', async () => {
      const box = await place.box();
      const other = await place.box();
      for (const from of sendersFor(place)) {
        for (const [what, ref] of forgeries(box.ref, other.ref.cap)) {
          assert.equal(await codeOf(from.send(ref, `forged: ${what}`)), 'EACCES', `${what}, from ${from.who}`);
          assert.equal(await codeOf(from.send(ref, `forged: ${what}`, { wait: false })), 'EACCES', `${what}, from ${from.who}, not waiting`);
        }
      }
      assert.deepStrictEqual(await box.drain(), [], 'nothing reached the mailbox');
      assert.deepStrictEqual(await other.drain(), [], 'nothing reached the mailbox whose cap was borrowed');
      // The mailbox still takes messages with its own cap, and they are the
      // first it holds: a forged message queued before them would come first.
      for (const from of sendersFor(place)) await from.send(box.ref, `genuine from ${from.who}`);
      assert.deepStrictEqual(await box.take(2), ['genuine from main', 'genuine from worker']);
      assert.deepStrictEqual(await box.drain(), []);
      await box.close();
      await other.close();
    });

    it('a wrong cap is refused at once even when the mailbox is full: it never waits for room', async () => {
      const box = await place.box({ capacity: 1 });
      const other = await place.box();
      await send(box.ref, 'fill', place.opts);
      for (const from of sendersFor(place)) {
        for (const [what, ref] of forgeries(box.ref, other.ref.cap)) {
          // Not EAGAIN: the capability is checked before the room.
          assert.equal(await codeOf(from.send(ref, 'forged', { wait: false })), 'EACCES', `${what}, from ${from.who}`);
        }
      }
      // A waiting send with a wrong cap must not wait: if it did, the signal
      // would fire and the send would fail with ECANCELED instead.
      const [what, ref] = forgeries(box.ref, other.ref.cap)[0]!;
      assert.equal(await codeOf(send(ref, 'forged', { ...place.opts, signal: AbortSignal.timeout(2000) })), 'EACCES', what);
      assert.deepStrictEqual(await box.drain(), ['fill']);
      assert.deepStrictEqual(await box.depth(), { depth: 0, waiting: 0 }, 'no forged send waits for room');
      await box.close();
      await other.close();
    });

    it('a missing cap or a malformed ref fails at the sender, and nothing is delivered', async () => {
      const box = await place.box();
      for (const from of sendersFor(place)) {
        for (const [what, target, code] of malformed(box.ref)) {
          assert.equal(await codeOf(from.send(target, `malformed: ${what}`)), code, `${what}, from ${from.who}`);
          assert.equal(await codeOf(from.call(target, 'whoami', [], { timeout: 10_000 })), code, `call to ${what}, from ${from.who}`);
        }
      }
      assert.deepStrictEqual(await box.drain(), []);
      await send(box.ref, 'genuine', place.opts);
      assert.deepStrictEqual(await box.take(1), ['genuine']);
      await box.close();
    });

    it('a ref received inside a message works', async () => {
      const target = await place.box();
      const carrier = await place.box();
      const senders = sendersFor(place);
      // Each sender passes the target's ref along, nested in a message.
      for (const from of sendersFor(place)) await from.send(carrier.ref, { from: from.who, refs: new Map([['target', target.ref]]), list: [target.ref] });
      const carried = (await carrier.take(senders.length)) as { from: string; refs: Map<string, Ref>; list: Ref[] }[];
      assert.deepStrictEqual(
        carried.map((m) => m.from),
        senders.map((s) => s.who),
      );
      for (const m of carried) {
        const got = m.refs.get('target');
        assert.deepStrictEqual(got, target.ref, 'the ref arrives as it left');
        assert.deepStrictEqual(m.list[0], target.ref);
        // Whoever holds the ref can use it.
        for (const from of sendersFor(place)) await from.send(got, `via ${m.from}'s ref, sent by ${from.who}`);
      }
      const expected = carried.flatMap((m) => senders.map((s) => `via ${m.from}'s ref, sent by ${s.who}`));
      assert.deepStrictEqual(await target.take(expected.length), expected);
      assert.deepStrictEqual(await target.drain(), []);
      // The carried ref is the capability itself: altering it is refused.
      const altered = { address: carried[0]!.list[0]!.address, cap: carried[0]!.list[0]!.cap.slice(1) + 'A' };
      assert.equal(await codeOf(send(altered as Ref, 'forged', place.opts)), 'EACCES');
      assert.deepStrictEqual(await target.drain(), []);
      await target.close();
      await carrier.close();
    });

    it('a call with a wrong cap to a served mailbox fails with EACCES and runs no handler', async () => {
      const svc = await counterAt(place);
      const other = await place.box();
      assert.equal(await call(svc, 'hits'), 0);
      for (const from of sendersFor(place)) {
        for (const [what, ref] of forgeries(svc, other.ref.cap)) {
          assert.equal(await codeOf(from.call(ref, 'hit', [], { timeout: 10_000 })), 'EACCES', `${what}, from ${from.who}`);
          // A plain send to it too: the cap is checked before the kind of mailbox.
          assert.equal(await codeOf(from.send(ref, 'forged')), 'EACCES', `send with ${what}, from ${from.who}`);
        }
      }
      assert.equal(await call(svc, 'hits'), 0, 'no forged call ran');
      // The genuine ref still works, from both sides.
      assert.equal(await sendersFor(place)[0]!.call(svc, 'hit', []), 1);
      assert.equal(await sendersFor(place)[1]!.call(svc, 'hit', []), 2);
      await other.close();
    });

    it('capabilities are at least 128 random bits: 1000 are distinct', async () => {
      const boxes = await Promise.all(Array.from({ length: 1000 }, () => place.box()));
      const caps = boxes.map((b) => b.ref.cap as string);
      const or = new Uint8Array(16);
      const and = new Uint8Array(16).fill(0xff);
      for (const cap of caps) {
        assert.match(cap, /^[A-Za-z0-9_-]+$/, 'base64url');
        const bytes = Buffer.from(cap, 'base64url');
        assert.equal(bytes.toString('base64url'), cap, 'decodes exactly');
        assert.ok(bytes.length >= 16, `${cap} is ${bytes.length * 8} bits`);
        for (let i = 0; i < 16; i++) {
          or[i]! |= bytes[i]!;
          and[i]! &= bytes[i]!;
        }
      }
      assert.equal(new Set(caps).size, caps.length, 'every cap is distinct');
      // Each of the first 128 bits takes both values over 1000 caps (a fixed
      // bit would happen by chance with probability 2^-999): no counter, no
      // constant prefix.
      assert.deepStrictEqual([...or], new Array(16).fill(0xff), 'every bit is set in some cap');
      assert.deepStrictEqual([...and], new Array(16).fill(0), 'every bit is clear in some cap');
      await Promise.all(boxes.map((b) => b.close()));
    });
  });
}

it('the capabilities of both places and of served mailboxes are distinct and 128 bits', async () => {
  const caps: string[] = [];
  for (const place of all) {
    for (let i = 0; i < 50; i++) {
      const b = await place.box();
      caps.push(b.ref.cap);
      await b.close();
    }
  }
  for (const ref of [...(await lookup('/test/agent/kernel')), ...(await lookup('/test/agent/shm'))]) caps.push(ref.cap);
  for (const cap of caps) assert.ok(Buffer.from(cap, 'base64url').length >= 16, cap);
  assert.equal(new Set(caps).size, caps.length);
});

it('a ref kept from an earlier process of a node, booted again under its name, fails with ENOENT: it names no mailbox of the new one', async () => {
  const child = spawnProcess(process.execPath, [fileURLToPath(new URL('./fixtures/stale-ref-child.js', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, out);
  // Numbered from a random start each time: none of the new mailboxes took the old one's number, so its capability is never checked against theirs.
  assert.deepStrictEqual(JSON.parse(out), { stale: 'ENOENT', fresh: 'delivered', wrongCap: 'EACCES', sameNumber: false });
});
