// The shm ring against a model: random record sizes, wrap-around, fragments'
// kinds kept, corruption detected.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Frag, RingCorruption, RingReader, RingWriter, ringBytes, TAIL } from '../src/transport/shm/ring.js';

function ring(capacity: number): { w: RingWriter; r: RingReader; sab: SharedArrayBuffer } {
  const sab = new SharedArrayBuffer(ringBytes(capacity));
  return { w: new RingWriter(sab), r: new RingReader(sab), sab };
}

const bytes = (len: number, seed: number): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (seed * 131 + i * 7) & 0xff);

describe('ring', () => {
  it('delivers what was written, in order, across wrap-around (model-based)', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('write' as const), len: fc.integer({ min: 0, max: 60 }) }),
      fc.record({ k: fc.constant('read' as const), max: fc.integer({ min: 1, max: 5 }) }),
    );
    fc.assert(
      fc.property(fc.constantFrom(64, 128, 256), fc.array(op, { maxLength: 400 }), (capacity, ops) => {
        const { w, r } = ring(capacity);
        const model: Uint8Array[] = [];
        let seed = 0;
        for (const o of ops) {
          if (o.k === 'write') {
            const len = Math.min(o.len, w.maxRecord);
            const rec = bytes(len, seed++);
            if (w.tryWrite(rec)) model.push(rec);
            else assert.ok(model.length > 0, 'a record that fits an empty ring is never refused');
          } else {
            const got: Uint8Array[] = [];
            const ready = model.length;
            assert.equal(r.drain((d, from, to) => got.push(d.slice(from, to)), o.max), got.length);
            assert.equal(got.length, Math.min(o.max, ready), 'every ready record up to max is handed out');
            assert.deepStrictEqual(got, model.splice(0, got.length));
          }
        }
        const rest: Uint8Array[] = [];
        r.drain((d, from, to) => rest.push(d.slice(from, to)));
        assert.deepStrictEqual(rest, model);
        assert.equal(w.used, 0);
      }),
      { numRuns: 300 },
    );
  });

  it('never lets the producer overwrite what the consumer holds', () => {
    const { w, r } = ring(64);
    let written = 0;
    while (w.tryWrite(bytes(8, written))) written++;
    assert.ok(written >= 4 && written <= 5, `wrote ${written} 12-byte records into 64 bytes`);
    assert.ok(w.used <= 64);
    let read = 0;
    r.drain((d, from, to) => assert.deepStrictEqual(d.slice(from, to), bytes(8, read++)));
    assert.equal(read, written);
  });

  it('keeps fragment kinds', () => {
    const { w, r } = ring(256);
    const kinds = [Frag.First, Frag.Middle, Frag.Middle, Frag.Last, Frag.Whole];
    for (const k of kinds) assert.ok(w.tryWrite(bytes(10, k), k));
    const seen: Frag[] = [];
    r.drain((_d, _from, _to, f) => seen.push(f));
    assert.deepStrictEqual(seen, kinds);
  });

  it('refuses a record larger than maxRecord', () => {
    const { w } = ring(64);
    assert.throws(() => w.tryWrite(new Uint8Array(w.maxRecord + 1)), RangeError);
  });

  it('detects a corrupt length instead of reading garbage', () => {
    const { w, r, sab } = ring(128);
    assert.ok(w.tryWrite(bytes(8, 1)));
    new Int32Array(sab, 256, 1)[0] = 1000; // the header claims 1000 bytes
    assert.throws(() => r.drain(() => assert.fail('no record may be handed out')), RingCorruption);
  });

  it('detects a header with the sign bit set, and a malformed pad', () => {
    for (const bad of [-5, (1 << 30) | 3]) {
      const { w, r, sab } = ring(128);
      assert.ok(w.tryWrite(bytes(8, 1)));
      new Int32Array(sab, 256, 1)[0] = bad;
      assert.throws(() => r.drain(() => {}), RingCorruption);
    }
  });

  it('detects a tail that runs ahead of the data', () => {
    const { r, sab } = ring(128);
    const ctl = new Int32Array(sab, 0, 64);
    new Int32Array(sab, 256, 1)[0] = 100; // a record of 100 bytes ...
    Atomics.store(ctl, TAIL, 8); // ... but only 8 bytes published
    assert.throws(() => r.drain(() => {}), RingCorruption);
  });
});
