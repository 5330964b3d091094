// The kernel link between two runtimes, in one thread over a MessageChannel:
// verdicts reach the sender whatever frame carries them; frames of simple
// values go as bytes and arrive as a structured clone would have them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import fc from 'fast-check';
import type { Capability, Ref } from '../src/runtime/ref.js';
import { encodeSimple } from '../src/simple-values.js';
import { compactFrame, expandFrame } from '../src/transport/kernel/compact.js';
import type { Frame } from '../src/transport/kernel/frames.js';
import { fuzzDecoder, isEinval } from './helpers/fuzz.js';
import { simpleValue } from './helpers/values.js';
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

describe('kernel link, compact frames', () => {
  const ref: Ref = { address: { node: 'n', isolate: 3, mailbox: 0 }, cap: 'AAAAAAAAAAAAAAAAAAAAAA' as Capability };

  it('a frame of simple values goes as bytes and comes out the same (property)', () => {
    fc.assert(
      fc.property(simpleValue, fc.boolean(), fc.boolean(), (d, withFrom, isCall) => {
        const m: Frame = { t: 'm', s: 5, to: 2, cap: 'cap', w: 1, d, a: [1, 4] };
        if (withFrom) m.f = ref;
        if (isCall) {
          m.c = 9;
          m.m = 'echo';
        }
        const reply: Frame = { t: 'y', cap: 'cap', c: 9, ok: true, d, nd: 'far', ni: 2 };
        for (const f of [m, reply, { t: 'a', a: [1, 2] } as Frame]) {
          const bytes = compactFrame(f);
          // Exactly what a structured clone would give, or not compact at all.
          if (bytes !== undefined) assert.deepStrictEqual(expandFrame(bytes), f);
          else assert.ok(f.t !== 'a', 'an ack frame is always compact');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('what a structured clone carries differently goes as an object: -0, holes, array properties, lone surrogates, errors, refusals', () => {
    const holey = [1, , 3];
    const withProp = Object.assign([1, 2], { extra: true });
    const gapAndProp = Object.assign([1, , 3], { x: 1 });
    for (const d of [-0, [1, -0], holey, withProp, gapAndProp, 'a\uD800b', new Map(), { a: 1 }]) {
      assert.equal(compactFrame({ t: 'm', s: 1, to: 1, cap: 'c', w: 1, d }), undefined, `not compact: ${String(d)}`);
    }
    assert.equal(compactFrame({ t: 'y', cap: 'c', c: 1, ok: false, e: { code: 'EINVAL', message: 'x' } }), undefined);
    assert.equal(compactFrame({ t: 'a', n: [[1, { code: 'EAGAIN', message: 'full' }]] }), undefined);
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

  it('bytes that are not a compact frame fail with EINVAL (fuzz)', () => {
    fuzzDecoder(expandFrame, isEinval, 3000, 80);
    const notAFrame = encodeSimple([1, 's', 'to', 'cap', 1, null, null, null, null, null, null, null, null, null, null, null])!.slice();
    assert.throws(() => expandFrame(notAFrame), isEinval);
  });
});
