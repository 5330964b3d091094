// The kernel link between two runtimes, in one thread over a MessageChannel:
// verdicts reach the sender whatever frame carries them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { FosError } from '../src/errors.js';
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
    await assert.rejects(within(bad, 2000), (e: unknown) => e instanceof FosError && e.code === 'EINVAL');
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
