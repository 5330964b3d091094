// The kernel link between two runtimes, in one thread over a MessageChannel:
// verdicts reach the sender whatever frame carries them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
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
