// The kernel link between two runtimes, in one thread over a MessageChannel:
// verdicts reach the sender whatever frame carries them; message, reply and
// ack frames go as flat arrays and arrive as a structured clone would have them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import fc from 'fast-check';
import type { Capability, Ref } from '../src/runtime/ref.js';
import { flattenFrame, posted, unflattenFrame, type FrameMetasIn } from '../src/transport/kernel/flat.js';
import { METAS, MetaIn, MetaOut } from '../src/util/meta-table.js';
import type { Frame } from '../src/transport/kernel/frames.js';
import { encodeSimple } from '../src/simple-values.js';
import { isEinval } from './helpers/fuzz.js';
import { value as anyValue } from './helpers/values.js';
import type { FosError, WireError } from '../src/errors.js';
import { serveOn } from '../src/rpc/serve.js';
import { Runtime } from '../src/runtime/runtime.js';
import { newIcb } from '../src/transport/shm/icb.js';
import { within } from './helpers/places.js';

function pair(): { a: Runtime; b: Runtime; close: () => void } {
  const icbA = newIcb();
  const icbB = newIcb();
  const make = (isolate: number, icb: SharedArrayBuffer): Runtime =>
    new Runtime({
      node: 'n',
      isolate,
      names: { lookup: async () => undefined, bind: async () => {} },
      unbind: () => {},
      connect: () => {},
      icb,
      lookupSync: () => undefined,
      relayOffer: () => {},
    });
  const a = make(1, icbA);
  const b = make(2, icbB);
  const { port1, port2 } = new MessageChannel();
  a.attachPort(2, port1, true, icbB);
  b.attachPort(1, port2, true, icbA);
  b.control.handle('ping', () => 'pong');
  a.control.handle('ping', () => 'pong');
  return {
    a,
    b,
    close: () => {
      a.close();
      b.close();
    },
  };
}

/** The messages of the process warnings emitted until the test `t` ends. */
function warningsDuring(t: { after: (fn: () => void) => void }): string[] {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.message);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  return warnings;
}

describe('kernel link', () => {
  it('settles a send whose acknowledgement rides on a control request', async () => {
    const { a, b, close } = pair();
    const mb = await b.createMailbox();
    const got = mb.receive().then((m) => {
      // Still in the tick that admitted the message, before the ack frame
      // is due: this request carries the pending acknowledgement.
      b.control.request(b.link(1)!, 'ping', null).catch(() => {});
      return m.data;
    });
    await within(a.send(mb.ref, 'x', { transport: 'kernel' }), 2000);
    assert.equal(await got, 'x');
    close();
  });

  it('settles a send whose acknowledgement rides on a control response', async () => {
    const { a, b, close } = pair();
    const mb = await b.createMailbox();
    const sent = a.send(mb.ref, 'y', { transport: 'kernel' });
    // B answers A's request in the same batch as it admits the message.
    const answered = a.control.request(a.link(2)!, 'ping', null);
    assert.equal(await within(answered, 2000), 'pong');
    await within(sent, 2000);
    assert.equal(mb.tryReceive()?.data, 'y');
    close();
  });
});

describe('kernel link, frames', () => {
  it('a malformed batch frame is refused with EINVAL; the link goes on', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    const mb = await b.createMailbox();
    const link = a.link(2)!;
    const bad = link.send({ t: 'm', s: 0, to: mb.ref.address.mailbox, cap: mb.ref.cap, w: 1, d: 'not an array', b: 1 }, { wait: true });
    await assert.rejects(within(bad, 2000), isEinval);
    await within(a.sendMany(mb.ref, ['x', 'y'], { transport: 'kernel' }), 2000);
    assert.deepStrictEqual([mb.tryReceive()?.data, mb.tryReceive()?.data, mb.tryReceive()], ['x', 'y', undefined]);
  });

  it('a message frame that cannot be read is refused with EINVAL, so its send settles; the link goes on', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    const mb = await b.createMailbox();
    const warnings = warningsDuring(t);
    const link = a.link(2)!;
    const bad = link.send({ t: 'm', s: 0, to: mb.ref.address.mailbox, cap: 42 as unknown as string, w: 1, d: 'x' }, { wait: true });
    await assert.rejects(within(bad, 2000), isEinval);
    await within(a.send(mb.ref, 'after', { transport: 'kernel' }), 2000);
    assert.deepStrictEqual([mb.tryReceive()?.data, mb.tryReceive()], ['after', undefined]);
    await new Promise((r) => setImmediate(r));
    assert.ok(warnings.some((w) => /dropped a frame/.test(w)), 'and says so');
  });

  it('a frame its receiver cannot deserialize gives the link up on both ends: what was in flight fails with ECONNRESET, later traffic at once, and what arrived before stands', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    const warnings = warningsDuring(t);
    const mb = await b.createMailbox();
    const mbA = await a.createMailbox();
    let called: () => void = () => {};
    const reached = new Promise<void>((r) => (called = r));
    const svc = serveOn(a, '/kl/never', { never: () => (called(), new Promise(() => {})) });
    t.after(() => svc.close());
    const ref = await svc.ready;
    await within(a.send(mb.ref, 'before', { transport: 'kernel' }), 2000);
    // A call of B's that A holds: its answer would come by the link.
    const held = b.call(ref, 'never', [], { transport: 'kernel', timeout: 60_000 }).then(() => 'answered', (e: FosError) => e.code);
    await within(reached, 2000, 'the call reaching its handler');
    // A's next frame never reaches B's listener: B's port emits messageerror instead, as Node's does for a frame it cannot rebuild.
    type Port = { postMessage: (v: unknown, transfer?: unknown) => void; emit: (event: string, e: Error) => boolean };
    const portA = (a.link(2) as unknown as { endpoint: Port }).endpoint;
    const portB = (b.link(1) as unknown as { endpoint: Port }).endpoint;
    const post = portA.postMessage;
    portA.postMessage = () => {
      portA.postMessage = post;
      setImmediate(() => portB.emit('messageerror', new Error('cannot rebuild an object')));
    };
    const code = (p: Promise<unknown>): Promise<string> => within(p.then(() => 'ok', (e: FosError) => e.code), 2000);
    assert.equal(await code(a.send(mb.ref, 'lost', { transport: 'kernel' })), 'ECONNRESET', 'the lost message');
    assert.equal(await within(held, 2000, 'the held call'), 'ECONNRESET');
    // From now on, both ways, by every transport.
    assert.equal(await code(a.send(mb.ref, 'after', { transport: 'kernel' })), 'ECONNRESET');
    assert.equal(await code(a.send(mb.ref, 'after', { transport: 'shm' })), 'ECONNRESET');
    assert.equal(await code(b.send(mbA.ref, 'after')), 'ECONNRESET');
    assert.equal(await code(b.call(ref, 'never', [], { timeout: 60_000 })), 'ECONNRESET');
    assert.throws(() => b.callSync(ref, 'never', [], { timeout: 60_000 }), (e: FosError) => e.code === 'ECONNRESET');
    assert.equal(await code(b.control.request(b.link(1)!, 'ping', null)), 'ECONNRESET');
    assert.deepStrictEqual([mb.tryReceive()?.data, mb.tryReceive()], ['before', undefined]);
    assert.equal(mbA.tryReceive(), undefined);
    assert.ok(warnings.some((w) => /could not be deserialized/.test(w)), 'and says so');
  });

  it('a call answered as it arrives carries its acknowledgement on the reply: one frame back, not two', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    const svc = serveOn(b, '/kl/echo', { echo: (x: unknown) => x });
    const ref = await svc.ready;
    await within(a.call(ref, 'echo', [0], { transport: 'kernel' }), 2000); // warm: the names and the link
    await new Promise((r) => setTimeout(r, 20));
    const port = (b.link(1) as unknown as { endpoint: { postMessage: (v: unknown) => void } }).endpoint;
    const post = port.postMessage.bind(port);
    let frames = 0;
    port.postMessage = (v: unknown) => {
      frames++;
      post(v);
    };
    assert.equal(await within(a.call(ref, 'echo', [1], { transport: 'kernel' }), 2000), 1);
    await new Promise((r) => setTimeout(r, 20)); // an ack frame of its own would come one setImmediate later
    assert.equal(frames, 1, 'the reply carried the acknowledgement');
    svc.close();
  });
});

/** Acknowledged ranges as a link gives them: [from0, to0, from1, to1, ...], one seq alone as [s, s]. */
const ackRanges = fc.oneof(
  fc.nat().map((s) => [s, s]),
  fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 4 }).map((pairs) => pairs.flat()),
);

describe('kernel link, flat frames', () => {
  const ref: Ref = { address: { node: 'n', isolate: 3, mailbox: 0 }, cap: 'AAAAAAAAAAAAAAAAAAAAAA' as Capability };
  const refusal: [number, WireError] = [7, { code: 'EAGAIN', message: 'full' }];
  const clone = <T>(v: T): T => structuredClone(v);

  it('message, reply and ack frames, with any optional fields, come out of a structured clone as they went in (property)', () => {
    fc.assert(
      fc.property(anyValue, fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), ackRanges, ackRanges, (d, withFrom, isCall, withAcks, forOtherNode, someAcks, moreAcks) => {
        const m: Frame = { t: 'm', s: 5, to: 2, cap: 'cap', w: 1, d };
        if (withFrom) m.f = ref;
        if (isCall) {
          m.c = 9;
          m.m = 'echo';
        }
        if (withAcks) {
          m.a = someAcks;
          m.n = [refusal];
        }
        if (forOtherNode) {
          m.nd = 'far';
          m.ni = 2;
          m.b = 1;
        }
        const reply: Frame = { t: 'y', cap: 'cap', c: 9, ok: true, d };
        if (forOtherNode) {
          reply.nd = 'far';
          reply.ni = 0;
        }
        if (withAcks) reply.a = moreAcks;
        const failed: Frame = { t: 'y', cap: 'cap', c: 9, ok: false, e: { code: 'EINVAL', message: 'x', remote: { name: 'TypeError', message: 'y', code: 'E_X' } } };
        const ack: Frame = withAcks ? { t: 'a', a: someAcks, n: [refusal] } : { t: 'a', a: moreAcks };
        for (const f of [m, reply, failed, ack]) {
          const flat = flattenFrame(f);
          assert.ok(flat !== undefined, `a '${f.t}' frame is always flat`);
          assert.deepStrictEqual(unflattenFrame(clone(flat)), clone(f));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('leaves off absent fields at the end: a call is 13 items and its reply 6; one acknowledged seq is a number, not a nested list', () => {
    const callFrame: Frame = { t: 'm', s: 1, to: 1, cap: 'c', w: 1, d: [1], f: ref, c: 1, m: 'echo', a: [1, 1] };
    assert.equal(flattenFrame(callFrame)?.length, 13);
    const reply = flattenFrame({ t: 'y', cap: 'c', c: 1, ok: true, d: 1, a: [7, 7] });
    assert.equal(reply?.length, 6);
    assert.equal(reply[5], 7, 'one seq acknowledged');
    assert.deepStrictEqual(flattenFrame({ t: 'y', cap: 'c', c: 1, ok: true, d: 1, a: [7, 9] })?.[5], [7, 9], 'a range stays a list');
    assert.equal(flattenFrame({ t: 'm', s: 1, to: 1, cap: 'c', w: 0, d: null })?.length, 6, 'a null payload stays in its place');
    assert.equal(flattenFrame({ t: 'x', s: 1 }), undefined, 'other frames go as objects');
  });

  it('a batch of byte arrays each owning its buffer goes packed, and comes out as byte arrays of their own (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 20 }), (items) => {
        const f: Frame = { t: 'm', s: 1, to: 1, cap: 'c', w: 1, d: items, b: 1 };
        const flat = flattenFrame(f)!;
        assert.ok(flat[5] instanceof Uint8Array && flat[13] === 2, 'packed');
        const out = unflattenFrame(clone(flat));
        assert.deepStrictEqual(out, f);
        for (const u of out.t === 'm' ? (out.d as Uint8Array[]) : []) assert.equal(u.buffer.byteLength, u.byteLength, 'each owns its buffer');
      }),
      { numRuns: 200 },
    );
  });

  it('a batch goes unpacked when a clone would carry an item differently, or with a transfer list', () => {
    const whole = new Uint8Array([1, 2]);
    const shared2 = new ArrayBuffer(2);
    const unpacked = [
      [whole, new Uint8Array(new ArrayBuffer(8), 2, 4)], // a view of part of a buffer
      [whole, new Uint8Array(new SharedArrayBuffer(4))], // shared memory stays shared
      [whole, new Uint8Array(0)],
      [whole, Buffer.from([1])], // a subclass, and a view of a pooled buffer
      [whole, 'text'],
      [whole, whole], // a clone keeps one item sent twice shared
      [new Uint8Array(shared2), new Uint8Array(shared2)], // and two views of one buffer
      [whole, new Uint8Array(new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(4, { maxByteLength: 16 }))], // resizable stays resizable
      [whole, Object.defineProperties(new Uint8Array(new ArrayBuffer(8), 2, 4), { byteOffset: { value: 0 }, buffer: { value: new ArrayBuffer(4) } })], // what a view says of itself is not read
      [whole, Object.create(Uint8Array.prototype) as Uint8Array], // nor is a prototype a brand
    ];
    for (const [i, d] of unpacked.entries()) assert.equal(flattenFrame({ t: 'm', s: 1, to: 1, cap: 'c', w: 1, d, b: 1 })![13], 1, `batch ${i} goes unpacked`);
    assert.equal(flattenFrame({ t: 'm', s: 1, to: 1, cap: 'c', w: 1, d: [whole], b: 1 }, true)![13], 1, 'not with a transfer list');
    assert.equal(flattenFrame({ t: 'm', s: 1, to: 1, cap: 'c', w: 1, d: [whole] })!.length, 6, 'a single message is never packed');
    for (const bad of [[1, 1, 1, 'c', 1, 'not bytes', null, null, null, null, null, null, null, 2], [1, 1, 1, 'c', 1, new Uint8Array([9]), null, null, null, null, null, null, null, 2], [1, 1, 1, 'c', 1, encodeSimple([1, 2])!.slice(), null, null, null, null, null, null, null, 2]]) {
      assert.throws(() => unflattenFrame(bad), isEinval);
    }
  });

  it('over a link, those values arrive exactly as sent', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    const mb = await b.createMailbox();
    const u = new Uint8Array([7]);
    const view = new Uint8Array(new ArrayBuffer(8), 2, 4);
    const values = [-0, [1, , 3], Object.assign([1, 2], { extra: true }), 'a\uD800b', '\uFEFFé', [1, 'é', new Uint8Array([1])], [u, u], view];
    for (const v of values) await within(a.send(mb.ref, v, { transport: 'kernel' }), 2000);
    const got = values.map(() => mb.tryReceive()?.data);
    values.forEach((v, i) => assert.deepStrictEqual(got[i], v));
    assert.ok(Object.is(got[0], -0), '-0 stays -0');
    const [twice, partOf] = [got[6], got[7]] as [Uint8Array[], Uint8Array];
    assert.equal(twice[0], twice[1], 'one byte array sent twice arrives as one, shared');
    assert.deepStrictEqual([partOf.byteOffset, partOf.buffer.byteLength], [2, 8], 'a view arrives as a view of its whole buffer, as a clone has it');
  });

  it('arrays that are not a flat frame fail with EINVAL, never anything else (fuzz)', () => {
    const field = fc.oneof(fc.constant(null), fc.integer({ min: -1, max: 4 }), fc.string({ maxLength: 3 }), fc.array(fc.integer(), { maxLength: 3 }), fc.constant(undefined));
    const frame = fc.tuple(fc.integer({ min: 0, max: 6 }), fc.array(field, { maxLength: 18 })).map(([kind, rest]) => [kind, ...rest]);
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 8 }), fc.boolean(), (frames, withTable) => {
        // With a table, a run of frames: definitions and references to them mixed with garbage.
        const metas: FrameMetasIn | undefined = withTable ? new MetaIn() : undefined;
        for (const v of frames) {
          try {
            const f = unflattenFrame(v, metas);
            assert.ok(f.t === 'm' || f.t === 'y' || f.t === 'a');
          } catch (e) {
            assert.ok(isEinval(e), String(e));
          }
        }
      }),
      { numRuns: 3000 },
    );
    for (const bad of [[], [9], [1, 's', 1, 'c', 1, null], [1, 1, 1, 'c', 2, null], [2, 'c', 1, 5, null], [3, ['x']], [3, null, [[1]]], new Array(20).fill(1)]) {
      assert.throws(() => unflattenFrame(bad), isEinval, JSON.stringify(bad));
    }
  });
});

describe('kernel link, meta entries: a repeated (cap, reply ref, method) goes as an index into a table both ends keep', () => {
  const clone = <T>(v: T): T => structuredClone(v);
  const refTo = (mailbox: number, cap = 'R'): Ref => ({ address: { node: 'n', isolate: 1, mailbox }, cap: cap as Capability });
  /** Both ends of one direction of a link: frames flattened and posted, then read in order. */
  function ends(): { post: (f: Frame) => unknown[]; read: (v: unknown[]) => Frame } {
    const out = new MetaOut();
    const inn: FrameMetasIn = new MetaIn();
    return {
      post: (f) => {
        const v = flattenFrame(f, false, out)!;
        posted(v, out);
        return clone(v);
      },
      read: (v) => unflattenFrame(v, inn),
    };
  }

  it('frames come out as they went in, through many more distinct tuples than the table holds, in any order (property)', () => {
    const frame = fc.record({
      reply: fc.boolean(),
      mailbox: fc.nat({ max: 3 * METAS }),
      from: fc.option(fc.nat({ max: 3 }), { nil: undefined }),
      method: fc.constantFrom('get', 'set', undefined),
    });
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 300 }), (list) => {
        const { post, read } = ends();
        let repeats = 0;
        for (const [i, { reply, mailbox, from, method }] of list.entries()) {
          const cap = `cap-${mailbox}`;
          const f: Frame = reply ? { t: 'y', cap, c: i, ok: true, d: i } : { t: 'm', s: i + 1, to: mailbox, cap, w: 0, d: i };
          if (f.t === 'm' && from !== undefined) f.f = refTo(from);
          if (f.t === 'm' && method !== undefined) {
            f.c = i;
            f.m = method;
          }
          const v = post(f);
          if (typeof v[f.t === 'm' ? 3 : 1] === 'number') repeats++;
          assert.deepStrictEqual(read(v), clone(f));
        }
        if (list.length > 1 && new Set(list.map((x) => JSON.stringify(x))).size === 1) assert.equal(repeats, list.length - 1, 'a tuple repeated goes as its index');
      }),
      { numRuns: 200 },
    );
  });

  it('a call repeating its tuple carries no string: its cap, reply ref and method come from the entry, the ref shared and frozen', () => {
    const { post, read } = ends();
    const call = (c: number): Frame => ({ t: 'm', s: c, to: 4, cap: 'CAP', w: 1, d: c, f: refTo(9), c, m: 'echo' });
    const first = post(call(1));
    const second = post(call(2));
    assert.equal(first[0], 4, 'the first defines its tuple');
    assert.deepStrictEqual([second[0], second[3]], [1, 0], 'the second names entry 0');
    assert.ok(!second.some((x) => typeof x === 'string'), `no strings in ${JSON.stringify(second)}`);
    const [a, b] = [read(first), read(second)];
    assert.deepStrictEqual(b, clone(call(2)));
    assert.ok(a.t === 'm' && b.t === 'm' && a.f === b.f && Object.isFrozen(b.f) && Object.isFrozen(b.f?.address), 'one frozen reply ref');
  });

  it('a tuple changed in place (a ref is plain data) is not taken for the entry it matched before', () => {
    const { post, read } = ends();
    const from = refTo(1);
    const f: Frame = { t: 'm', s: 1, to: 1, cap: 'c', w: 0, d: 1, f: from };
    read(post(f));
    (from.address as { mailbox: number }).mailbox = 2;
    const again = read(post({ ...f, s: 2 }));
    assert.equal(again.t === 'm' && again.f?.address.mailbox, 2);
  });

  it('an entry is the tuple posted: a getter of the data that changes the reply ref while the frame is cloned changes neither', () => {
    const out = new MetaOut();
    const inn: FrameMetasIn = new MetaIn();
    const from = refTo(1);
    const sneaky = {
      get x(): number {
        (from.address as { mailbox: number }).mailbox = 2;
        return 1;
      },
    };
    // As a link posts: flattened, cloned (the getter runs), then posted.
    const send = (f: Frame): unknown[] => {
      const v = flattenFrame(f, false, out)!;
      const wire = clone(v);
      posted(v, out);
      return wire;
    };
    const first = send({ t: 'm', s: 1, to: 1, cap: 'c', w: 0, d: sneaky, f: from });
    const second = send({ t: 'm', s: 2, to: 1, cap: 'c', w: 0, d: 2, f: from });
    const [a, b] = [unflattenFrame(first, inn), unflattenFrame(second, inn)];
    assert.equal(a.t === 'm' && a.f?.address.mailbox, 1, 'the first went with the ref as it was');
    assert.equal(b.t === 'm' && b.f?.address.mailbox, 2, 'the second, with the ref as it is now');
  });

  it('over a link, a send made by a getter of another send\'s data, while it is cloned, replaces no entry the other names', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    const boxes = await Promise.all(Array.from({ length: METAS + 1 }, () => b.createMailbox()));
    // One tuple per mailbox fills the table: the next definition replaces entry 0, the first mailbox's.
    for (let i = 0; i < METAS; i++) await within(a.send(boxes[i]!.ref, i, { transport: 'kernel' }), 2000);
    let inner: Promise<void> | undefined;
    const data = {
      get x(): number {
        inner ??= a.send(boxes[METAS]!.ref, 'inner', { transport: 'kernel' });
        return 1;
      },
    };
    await within(a.send(boxes[0]!.ref, data, { transport: 'kernel' }), 2000);
    assert.ok(inner !== undefined, 'the getter ran while the frame was cloned');
    await within(inner, 2000);
    assert.equal(boxes[0]!.tryReceive()?.data, 0);
    assert.deepStrictEqual(boxes[0]!.tryReceive()?.data, { x: 1 });
    assert.equal(boxes[METAS]!.tryReceive()?.data, 'inner');
    for (let i = 1; i < METAS; i++) assert.equal(boxes[i]!.tryReceive()?.data, i);
    // And the tables still agree.
    for (let i = 0; i <= METAS; i++) await within(a.send(boxes[i]!.ref, `again ${i}`, { transport: 'kernel' }), 2000);
    for (let i = 0; i < METAS; i++) assert.equal(boxes[i]!.tryReceive()?.data, `again ${i}`);
    assert.equal(boxes[METAS]!.tryReceive()?.data, `again ${METAS}`);
  });

  it('a frame that was not posted, or goes with a transfer list, defines nothing: the tables stay alike', () => {
    const out = new MetaOut();
    const inn: FrameMetasIn = new MetaIn();
    const f: Frame = { t: 'm', s: 1, to: 1, cap: 'c', w: 0, d: 1 };
    flattenFrame(f, false, out); // its postMessage threw: no posted()
    const moved = flattenFrame(f, true, out)!;
    assert.deepStrictEqual([moved[0], moved[3]], [1, 'c'], 'with a transfer list, the tuple goes in full and defines nothing');
    posted(moved, out);
    const next = flattenFrame(f, false, out)!;
    assert.equal(next[0], 4, 'so the next frame still defines it');
    posted(next, out);
    assert.deepStrictEqual(unflattenFrame(clone(moved), inn), f);
    assert.deepStrictEqual(unflattenFrame(clone(next), inn), f);
    const third = flattenFrame(f, false, out)!;
    assert.deepStrictEqual(unflattenFrame(clone(third), inn), f);
  });

  it('references to entries never defined, defined unreadable, of the wrong kind, or outside a link, are EINVAL', () => {
    const inn: FrameMetasIn = new MetaIn();
    const einval = (v: unknown[], why: RegExp, metas: FrameMetasIn | null = inn): void =>
      assert.throws(() => unflattenFrame(v, metas ?? undefined), (e: unknown) => isEinval(e) && why.test((e as Error).message), `${JSON.stringify(v)}: ${why}`);
    einval([1, 1, 1, 0, 0, null], /never defined/);
    einval([1, 1, 1, 0, 0, null], /outside a link/, null);
    einval([4, 1, 1, 'c', 0, null], /outside a link/, null);
    // Entry 0: a definition whose cap is unreadable, its frame refused; entry 1: a reply's.
    einval([4, 1, 1, 7, 0, null], /string field/);
    unflattenFrame([5, 'c', 1, 1, null], inn);
    einval([1, 2, 1, 0, 0, null], /defined unreadable/);
    einval([1, 3, 1, 1, 0, null], /not a message's/);
    einval([2, 0, 1, 1, null], /defined unreadable/);
    einval([1, 4, 1, 1, 0, null, 'n', 1, 1, 'R'], /meta fields too/);
    // A definition counts even when the rest of its frame is wrong: entry 2 is 'd'.
    einval([4, 5, 1, 'd', 9, null], /wait flag/);
    assert.equal((unflattenFrame([1, 6, 1, 2, 0, null], inn) as { cap: string }).cap, 'd');
    einval([2, 2, 1, 1, null], /not a reply's/);
  });

  it('over a link, a send that cannot be cloned leaves the tables alike: later sends reach the right mailboxes', async (t) => {
    const { a, b, close } = pair();
    t.after(close);
    const one = await b.createMailbox();
    const two = await b.createMailbox();
    await assert.rejects(a.send(two.ref, () => 1, { transport: 'kernel' }), (e: unknown) => e instanceof Error);
    for (let i = 0; i < 3 * METAS; i++) await within(a.send((i % 3 === 0 ? two : one).ref, i, { transport: 'kernel' }), 2000);
    const got = (mb: typeof one): unknown[] => [...Array(3 * METAS).keys()].map(() => mb.tryReceive()?.data).filter((x) => x !== undefined);
    assert.deepStrictEqual(got(two), [...Array(METAS).keys()].map((i) => 3 * i));
    assert.equal(got(one).length, 2 * METAS);
  });
});
