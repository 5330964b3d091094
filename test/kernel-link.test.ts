// The kernel link between two runtimes, in one thread over a MessageChannel:
// verdicts reach the sender whatever frame carries them; message, reply and
// ack frames go as flat arrays and arrive as a structured clone would have them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import fc from 'fast-check';
import type { Capability, Ref } from '../src/runtime/ref.js';
import { flattenFrame, unflattenFrame } from '../src/transport/kernel/flat.js';
import type { Frame } from '../src/transport/kernel/frames.js';
import { encodeSimple } from '../src/simple-values.js';
import { isEinval } from './helpers/fuzz.js';
import { value as anyValue } from './helpers/values.js';
import type { WireError } from '../src/errors.js';
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
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    t.after(() => process.off('warning', onWarning));
    const link = a.link(2)!;
    const bad = link.send({ t: 'm', s: 0, to: mb.ref.address.mailbox, cap: 42 as unknown as string, w: 1, d: 'x' }, { wait: true });
    await assert.rejects(within(bad, 2000), isEinval);
    await within(a.send(mb.ref, 'after', { transport: 'kernel' }), 2000);
    assert.deepStrictEqual([mb.tryReceive()?.data, mb.tryReceive()], ['after', undefined]);
    await new Promise((r) => setImmediate(r));
    assert.ok(warnings.some((w) => /dropped a frame/.test(w)), 'and says so');
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
    const frame = fc.tuple(fc.integer({ min: 0, max: 4 }), fc.array(field, { maxLength: 18 })).map(([kind, rest]) => [kind, ...rest]);
    fc.assert(
      fc.property(frame, (v) => {
        try {
          const f = unflattenFrame(v);
          assert.ok(f.t === 'm' || f.t === 'y' || f.t === 'a');
        } catch (e) {
          assert.ok(isEinval(e), String(e));
        }
      }),
      { numRuns: 5000 },
    );
    for (const bad of [[], [9], [1, 's', 1, 'c', 1, null], [1, 1, 1, 'c', 2, null], [2, 'c', 1, 5, null], [3, ['x']], [3, null, [[1]]], new Array(20).fill(1)]) {
      assert.throws(() => unflattenFrame(bad), isEinval, JSON.stringify(bad));
    }
  });
});
