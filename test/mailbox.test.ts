// A mailbox on its own: receive, tryReceive, async iteration, close, abort.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { boot, createMailbox, send, type FosError } from '../src/index.js';
import { codeOf } from './helpers/places.js';

const node = await boot();
after(() => node.shutdown());

describe('mailbox', () => {
  it('hands a message to a receiver that was already waiting', async () => {
    const mb = await createMailbox<string>();
    const r = mb.receive();
    await send(mb.ref, 'x');
    assert.equal((await r).data, 'x');
    mb.close();
  });

  it('serves concurrent receivers in the order they waited', async () => {
    const mb = await createMailbox<number>();
    const rs = [mb.receive(), mb.receive(), mb.receive()];
    for (let i = 0; i < 3; i++) await send(mb.ref, i);
    assert.deepStrictEqual((await Promise.all(rs)).map((m) => m.data), [0, 1, 2]);
    mb.close();
  });

  it('tryReceive returns undefined when empty', async () => {
    const mb = await createMailbox();
    assert.equal(mb.tryReceive(), undefined);
    await send(mb.ref, 1);
    assert.equal(mb.tryReceive()?.data, 1);
    assert.equal(mb.tryReceive(), undefined);
    mb.close();
  });

  it('gives msg.from when the sender names a reply ref', async () => {
    const a = await createMailbox();
    const b = await createMailbox();
    await send(a.ref, 'ping', { replyTo: b.ref });
    const m = await a.receive();
    assert.deepStrictEqual(m.from, b.ref);
    await send(m.from!, 'pong');
    assert.equal((await b.receive()).data, 'pong');
    a.close();
    b.close();
  });

  it('iterates until closed', async () => {
    const mb = await createMailbox<number>();
    for (let i = 0; i < 5; i++) await send(mb.ref, i);
    const seen: number[] = [];
    for await (const m of mb) {
      seen.push(m.data);
      if (seen.length === 5) setImmediate(() => mb.close());
    }
    assert.deepStrictEqual(seen, [0, 1, 2, 3, 4]);
  });

  it('fails waiting receivers with ECLOSED, and later receives and sends too', async () => {
    const mb = await createMailbox();
    const r = mb.receive();
    mb.close();
    assert.equal(await codeOf(r), 'ECLOSED');
    assert.equal(await codeOf(mb.receive()), 'ECLOSED');
    assert.equal(await codeOf(send(mb.ref, 1)), 'ECLOSED');
    assert.equal(mb.closed, true);
  });

  it('withdraws a receive when its signal fires, without losing the next message', async () => {
    const mb = await createMailbox();
    const ac = new AbortController();
    const r = mb.receive({ signal: ac.signal });
    const why = new Error('enough waiting');
    ac.abort(why);
    const e = await r.then(() => assert.fail('received'), (err: unknown) => err as FosError);
    assert.deepStrictEqual([e.code, e.cause], ['ECANCELED', why], 'the abort reason is the cause');
    await send(mb.ref, 'kept');
    assert.equal(mb.tryReceive()?.data, 'kept');
    const early = await mb.receive({ signal: AbortSignal.abort('gone') }).then(() => assert.fail('received'), (err: unknown) => err as FosError);
    assert.deepStrictEqual([early.code, early.cause], ['ECANCELED', 'gone']);
    mb.close();
  });

  it('rejects a bad capacity with EINVAL', async () => {
    for (const capacity of [0, -1, 1.5, NaN]) assert.equal(await codeOf(createMailbox({ capacity })), 'EINVAL');
  });

  it('rejects a target that is neither a name nor a ref with EINVAL', async () => {
    for (const target of [{}, { address: 1, cap: 'x' }, null, 42]) {
      assert.equal(await codeOf(send(target as never, 1)), 'EINVAL');
    }
  });
});
