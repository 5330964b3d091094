// The envelope codec: what is encoded decodes equal, also from a view of
// shared memory; malformed bytes fail with EINVAL, never crash.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decode, encode, HEADER_BYTES, RecordType, type Envelope, type RecordMetasIn, type RecordMetasOut } from '../src/envelope.js';
import { METAS, MetaIn, MetaOut } from '../src/util/meta-table.js';
import type { Capability, Ref } from '../src/runtime/ref.js';
import { fuzzDecoder, isEinval } from './helpers/fuzz.js';
import { value, withoutNegativeZero } from './helpers/values.js';

const cap = 'AAAAAAAAAAAAAAAAAAAAAA' as Capability;
const from: Ref = { address: { node: 'n1', isolate: 3, mailbox: 0 }, cap };

/**
 * Encodes into a SharedArrayBuffer, as the ring holds it, and decodes from
 * there: from a view of exactly the record, and as the ring hands it out (a
 * range of its whole data area, with other bytes around it). Both must agree.
 */
function viaShared(e: Envelope): Envelope {
  const enc = encode(e);
  const sab = new SharedArrayBuffer(enc.length + 16);
  const all = new Uint8Array(sab);
  all.fill(0x5a);
  const view = new Uint8Array(sab, 4, enc.length);
  enc.writeTo(view, 0);
  const out = decode(view);
  assert.deepStrictEqual(decode(all, 4, 4 + enc.length), out, 'a range decodes as a view of it does');
  all.fill(0xee); // the ring's bytes are reused: nothing decoded may alias them
  return out;
}

/** A plain call, an untracked one, a callSync's (always untracked). */
const callInfo = fc.oneof(
  fc.record({ id: fc.nat(), method: fc.string() }, { noNullPrototype: true }),
  fc.record({ id: fc.nat(), method: fc.string(), untracked: fc.constant(true) }, { noNullPrototype: true }),
  fc.record({ id: fc.nat(), method: fc.string(), sync: fc.constant(true), untracked: fc.constant(true) }, { noNullPrototype: true }),
);

describe('envelope', () => {
  it('a message decodes equal (property)', () => {
    fc.assert(
      fc.property(value, fc.boolean(), fc.option(callInfo, { nil: undefined }), fc.boolean(), (data, wait, call, withFrom) => {
        const e: Envelope = { type: RecordType.Message, to: 7, cap, wait, data, from: withFrom ? from : undefined, call };
        // msgpack has no negative zero (documented): -0 arrives as 0.
        assert.deepStrictEqual(viaShared(e), { ...e, data: withoutNegativeZero(data) });
      }),
      { numRuns: 300 },
    );
  });

  it('a reply decodes equal (property)', () => {
    fc.assert(
      fc.property(value, fc.boolean(), (data, ok) => {
        const e: Envelope = { type: RecordType.Reply, callId: 99, cap, ok, data };
        assert.deepStrictEqual(viaShared(e), { ...e, data: withoutNegativeZero(data) });
      }),
    );
  });

  it('carries a Uint8Array payload as raw bytes, copied once', () => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    const enc = encode({ type: RecordType.Message, to: 1, cap, wait: true, data });
    assert.ok(enc.length < data.length + 64, 'the payload itself plus a small envelope, not an encoding of it');
    assert.deepStrictEqual(viaShared({ type: RecordType.Message, to: 1, cap, wait: true, data }).data, data);
  });

  it('carries an envelope over 64 KiB', () => {
    const data = { big: 'x'.repeat(100_000), list: Array.from({ length: 1000 }, (_, i) => i) };
    const e: Envelope = { type: RecordType.Message, to: 1, cap, wait: true, data, from: undefined, call: undefined };
    assert.ok(encode(e).length > 0xffff);
    assert.deepStrictEqual(viaShared(e), e);
  });

  it('keep() survives later encodes and changes to the payload', () => {
    const data = new Uint8Array([1, 2, 3]);
    const e: Envelope = { type: RecordType.Message, to: 1, cap, wait: true, data: { n: 1, b: data }, from: undefined, call: undefined };
    const kept = encode(e).keep();
    encode({ type: RecordType.Message, to: 2, cap, wait: false, data: 'something else entirely', from: undefined, call: undefined });
    data[0] = 99;
    const view = new Uint8Array(kept.length);
    kept.writeTo(view, 0);
    assert.deepStrictEqual(decode(view), { ...e, data: { n: 1, b: new Uint8Array([1, 2, 3]) } });
  });

  it('keep() survives later encodes of simple values too (their scratch buffer is reused)', () => {
    const data = [1, new Uint8Array([1, 2, 3]), 'a'];
    const e: Envelope = { type: RecordType.Message, to: 1, cap, wait: true, data, from: undefined, call: undefined };
    const kept = encode(e).keep();
    encode({ type: RecordType.Message, to: 2, cap, wait: false, data: [2, 'something else entirely'], from: undefined, call: undefined });
    const view = new Uint8Array(kept.length);
    kept.writeTo(view, 0);
    assert.deepStrictEqual(decode(view), e);
  });

  it('a batch decodes as its array, marked as a batch; one that is not an array of data messages is EINVAL', () => {
    const batch: Envelope = { type: RecordType.Message, to: 1, cap, wait: true, data: [1, 'b', { c: 3 }], from, call: undefined, batch: true };
    assert.deepStrictEqual(viaShared(batch), batch);
    assert.throws(() => viaShared({ ...batch, data: 'not an array' }), isEinval);
    assert.throws(() => viaShared({ ...batch, call: { id: 1, method: 'm' } }), isEinval);
  });

  it('refuses what msgpack cannot carry with EINVAL', () => {
    assert.throws(() => encode({ type: RecordType.Message, to: 1, cap, wait: true, data: { f: () => 1 } }), isEinval);
  });

  it('fails on malformed bytes with EINVAL and nothing else (fuzz)', () => {
    fuzzDecoder(decode, isEinval, 2000);
    assert.throws(() => decode(new Uint8Array(HEADER_BYTES - 1)), { code: 'EINVAL' });
  });

  it('refuses a range outside its bytes, or one that cuts the record short, with EINVAL', () => {
    const enc = encode({ type: RecordType.Message, to: 1, cap, wait: true, data: [1, 'two'] });
    const bytes = new Uint8Array(enc.length + 8);
    enc.writeTo(bytes, 4);
    assert.deepStrictEqual(decode(bytes, 4, 4 + enc.length), { type: RecordType.Message, to: 1, cap, wait: true, data: [1, 'two'], from: undefined, call: undefined });
    for (const [from, to] of [[-1, 10], [4, bytes.length + 1], [10, 4], [4, 4 + HEADER_BYTES - 1], [4, 4 + enc.length - 1]] as const) {
      assert.throws(() => decode(bytes, from, to), isEinval, `range ${from}..${to}`);
    }
  });

  describe("in an shm channel, a meta part the channel carried before goes as its entry's index", () => {
    const bytesOf = (e: Envelope, table: RecordMetasOut): Uint8Array => {
      const enc = encode(e, table);
      const b = new Uint8Array(enc.length);
      enc.writeTo(b, 0);
      return b;
    };

    it('a repeated meta part is left out, and the records decode as without tables', () => {
      const out: RecordMetasOut = new MetaOut();
      const inn: RecordMetasIn = new MetaIn();
      const e: Envelope = { type: RecordType.Message, to: 7, cap, wait: true, data: [1], from, call: { id: 5, method: 'get' } };
      const first = bytesOf(e, out);
      const second = bytesOf({ ...e, data: [2], call: { id: 6, method: 'get' } }, out);
      assert.equal(first.length, encode(e).length, 'the first carries its meta part');
      assert.ok(second.length < first.length - 20, `the second refers to it (${second.length} bytes against ${first.length})`);
      assert.deepStrictEqual(decode(first, 0, first.length, inn), e);
      assert.deepStrictEqual(decode(second, 0, second.length, inn), { ...e, data: [2], call: { id: 6, method: 'get' } });
    });

    it('both tables stay alike through many more distinct meta parts than they hold, in any order (property)', () => {
      const envelope = fc.record({
        mailbox: fc.nat({ max: 3 * METAS }),
        method: fc.constantFrom('get', 'set', undefined),
        reply: fc.boolean(),
        data: fc.oneof(fc.integer(), fc.string()),
      });
      fc.assert(
        fc.property(fc.array(envelope, { minLength: 1, maxLength: 400 }), (list) => {
          const out: RecordMetasOut = new MetaOut();
          const inn: RecordMetasIn = new MetaIn();
          for (const { mailbox, method, reply, data } of list) {
            const c = `cap-${mailbox}`;
            const e: Envelope = reply
              ? { type: RecordType.Reply, callId: mailbox, cap: c, ok: true, data }
              : { type: RecordType.Message, to: mailbox, cap: c, wait: false, data, from, call: method === undefined ? undefined : { id: 1, method } };
            const b = bytesOf(e, out);
            assert.deepStrictEqual(decode(b, 0, b.length, inn), e);
          }
        }),
        { numRuns: 200 },
      );
    });

    it('a reply ref changed in place after a record is not taken for the one it was (with a table, and in the encoder\'s cache)', () => {
      const mine = { address: { node: 'n', isolate: 1, mailbox: 1 }, cap: 'R' as Ref['cap'] };
      const e: Envelope = { type: RecordType.Message, to: 1, cap, wait: false, data: 1, from: mine, call: undefined };
      for (const table of [true, false]) {
        const out: RecordMetasOut = new MetaOut();
        const inn: RecordMetasIn = new MetaIn();
        const roundTrip = (): Envelope => {
          const b = table ? bytesOf(e, out) : bytesOf(e, new MetaOut()).subarray(0); // a fresh table each time: only the cache is shared
          return decode(b, 0, b.length, table ? inn : new MetaIn());
        };
        mine.address.mailbox = table ? 10 : 20;
        assert.deepStrictEqual(roundTrip(), e);
        mine.address.mailbox++;
        const got = roundTrip();
        assert.equal(got.type === RecordType.Message && got.from?.address.mailbox, mine.address.mailbox, table ? 'with a table' : 'by the cache');
      }
    });

    it('a getter of the data that changes the reply ref, or encodes a record of its own on the channel, leaves the tables alike', () => {
      let out: RecordMetasOut = new MetaOut();
      let inn: RecordMetasIn = new MetaIn();
      const read = (b: Uint8Array): Envelope => decode(b, 0, b.length, inn);
      // The data is encoded first, the meta after: the record goes with the ref as the getter left it.
      const mine = { address: { node: 'n', isolate: 1, mailbox: 1 }, cap: 'R' as Ref['cap'] };
      const moving = { get x(): number { mine.address.mailbox = 2; return 1; } };
      const first = read(bytesOf({ type: RecordType.Message, to: 1, cap, wait: false, data: moving, from: mine, call: undefined }, out));
      const second = read(bytesOf({ type: RecordType.Message, to: 1, cap, wait: false, data: 2, from: mine, call: undefined }, out));
      assert.deepStrictEqual([first.type === RecordType.Message && first.from?.address.mailbox, second.type === RecordType.Message && second.from?.address.mailbox], [2, 2]);
      // A channel's table filled: the next definition replaces entry 0, cap-0's, which the outer record repeats.
      out = new MetaOut();
      inn = new MetaIn();
      const e = (c: string, data: unknown): Envelope => ({ type: RecordType.Message, to: 1, cap: c, wait: false, data, from: undefined, call: undefined });
      for (let i = 0; i < METAS; i++) read(bytesOf(e(`cap-${i}`, i), out));
      const ring: Uint8Array[] = [];
      const sending = { get x(): number { ring.push(bytesOf(e('cap-new', 'inner'), out)); return 1; } };
      const outer = bytesOf(e('cap-0', sending), out);
      ring.push(outer); // the getter's record went into the ring first
      assert.deepStrictEqual(ring.map(read), [e('cap-new', 'inner'), e('cap-0', { x: 1 })]);
      assert.deepStrictEqual(read(bytesOf(e('cap-0', 3), out)), e('cap-0', 3));
    });

    it('a record that fails to encode defines nothing: the next one still agrees with the receiver', () => {
      const out: RecordMetasOut = new MetaOut();
      const inn: RecordMetasIn = new MetaIn();
      const bad: Envelope = { type: RecordType.Message, to: 1, cap: 'fresh cap', wait: true, data: { f: () => 1 } };
      assert.throws(() => encode(bad, out), isEinval);
      const good: Envelope = { ...bad, data: 'fine', from: undefined, call: undefined };
      const b = bytesOf(good, out);
      assert.deepStrictEqual(decode(b, 0, b.length, inn), good);
    });

    it('a reference outside a channel, to an entry never defined, or with a definition at once, is EINVAL', () => {
      const out: RecordMetasOut = new MetaOut();
      const e: Envelope = { type: RecordType.Message, to: 1, cap, wait: true, data: 1 };
      bytesOf(e, out);
      const ref = bytesOf(e, out);
      assert.throws(() => decode(ref), (err: unknown) => isEinval(err) && /outside a channel/.test((err as Error).message));
      assert.throws(() => decode(ref, 0, ref.length, new MetaIn()), (err: unknown) => isEinval(err) && /never defined/.test((err as Error).message));
      const both = Uint8Array.from(ref);
      both[0] = both[0]! | 0x40;
      assert.throws(() => decode(both, 0, both.length, new MetaIn()), (err: unknown) => isEinval(err) && /both defined and referred to/.test((err as Error).message));
    });
  });
});
