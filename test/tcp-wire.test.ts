// The TCP proxy's wire: the frame decoder fuzzed on a time budget (frames
// split at random points decode as whole, random bytes decode or fail with
// EINVAL, an announced length is checked at the header before anything is
// allocated for it), and the handshake's helpers (proofs bound to role,
// nonces and names; hellos checked for version and shape).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ERROR_CODES, FosError } from '../src/errors.js';
import { packVerdicts, unpackVerdicts, type VerdictLists } from '../src/transport/verdicts.js';
import { fuzzDecoder } from './helpers/fuzz.js';
import { checkAuth, checkCount, checkHello, checkReady, MIN_MAX_FRAME, newIncarnation, newNonce, newSessionId, proof, proofMatches, PROTOCOL_VERSION, type Hello } from '../src/transport/tcp/handshake.js';
import { FrameDecoder, FrameKind, frameWithBody, HEADER_BYTES, MAX_SEQ, newFrame, stampAck } from '../src/transport/tcp/wire.js';

/** Milliseconds each fuzzed property runs for. */
const BUDGET_MS = 2500;

/** Runs `prop` until the time budget is spent; fails on a counterexample, or if fewer than `minRuns` runs fit. */
function fuzz<Ts>(prop: fc.IProperty<Ts>, minRuns: number, budgetMs = BUDGET_MS): number {
  const out = fc.check(prop, { numRuns: 10_000_000, plugins: [fc.interruptAfterTimeLimit(budgetMs)] });
  if (out.failed) throw new Error(fc.defaultReportMessage(out) ?? 'property failed');
  assert.ok(out.numRuns >= minRuns, `only ${out.numRuns} runs in ${budgetMs} ms: the fuzzing proved little`);
  return out.numRuns;
}

interface Spec {
  readonly kind: number;
  readonly seq: number;
  readonly ack: number;
  readonly body: Uint8Array;
}

/** What the decoder hands out, copied (a body is valid only until the next push). */
interface Decoded {
  readonly kind: number;
  readonly seq: number;
  readonly ack: number;
  readonly body: Buffer;
}

function encodeFrame(s: Spec): Buffer {
  const f = frameWithBody(s.kind as FrameKind, s.seq, s.body);
  stampAck(f, s.ack);
  return f;
}

const u48 = fc.oneof(fc.constantFrom(0, 1, MAX_SEQ - 1, MAX_SEQ, 2 ** 32 - 1, 2 ** 32), fc.integer({ min: 0, max: MAX_SEQ }));
const frameSpec: fc.Arbitrary<Spec> = fc.record({
  kind: fc.integer({ min: 0, max: 255 }),
  seq: u48,
  ack: u48,
  body: fc.oneof({ weight: 6, arbitrary: fc.uint8Array({ maxLength: 64 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 200, maxLength: 3000 }) }),
});

/** Cut points in [0, length], as chunk lengths that sum to `length` (empty chunks included). */
function cut(bytes: Buffer, points: readonly number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of at) {
    chunks.push(bytes.subarray(from, p)); // may be empty
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** Pushes the chunks one by one; collects copies of the frames; records the error if one is thrown (and stops there). */
function feed(decoder: FrameDecoder, chunks: readonly Buffer[]): { frames: Decoded[]; error: unknown; pushes: number } {
  const frames: Decoded[] = [];
  let pushes = 0;
  for (const c of chunks) {
    pushes++;
    try {
      for (const f of decoder.push(c)) frames.push({ kind: f.kind, seq: f.seq, ack: f.ack, body: Buffer.from(f.body) });
    } catch (e) {
      return { frames, error: e, pushes };
    }
  }
  return { frames, error: undefined, pushes };
}

/** A reference cut of a whole stream into frames, written from the layout alone. */
function reference(bytes: Buffer, maxFrame: number): { frames: Decoded[]; bad: boolean; rest: number } {
  const frames: Decoded[] = [];
  let p = 0;
  for (;;) {
    if (bytes.length - p < 4) return { frames, bad: false, rest: bytes.length - p };
    const length = bytes.readUInt32LE(p);
    if (length < HEADER_BYTES - 4 || length > maxFrame) return { frames, bad: true, rest: bytes.length - p };
    if (bytes.length - p - 4 < length) return { frames, bad: false, rest: bytes.length - p };
    frames.push({
      kind: bytes[p + 4]!,
      seq: bytes.readUIntLE(p + 5, 6),
      ack: bytes.readUIntLE(p + 11, 6),
      body: Buffer.from(bytes.subarray(p + HEADER_BYTES, p + 4 + length)),
    });
    p += 4 + length;
  }
}

function asDecoded(s: Spec): Decoded {
  return { kind: s.kind, seq: s.seq, ack: s.ack, body: Buffer.from(s.body) };
}

function isEinval(e: unknown): boolean {
  return e instanceof FosError && e.code === 'EINVAL';
}

/**
 * Runs `f` with Buffer.alloc and Buffer.allocUnsafe watched; returns the
 * largest size asked for (the decoder's only ways to allocate).
 */
function largestAllocation(f: () => void): number {
  const alloc = Buffer.alloc;
  const allocUnsafe = Buffer.allocUnsafe;
  let largest = 0;
  Buffer.alloc = ((size: number, ...rest: unknown[]) => {
    largest = Math.max(largest, size);
    return (alloc as (...a: unknown[]) => Buffer)(size, ...rest);
  }) as typeof Buffer.alloc;
  Buffer.allocUnsafe = ((size: number) => {
    largest = Math.max(largest, size);
    return allocUnsafe(size);
  }) as typeof Buffer.allocUnsafe;
  try {
    f();
  } finally {
    Buffer.alloc = alloc;
    Buffer.allocUnsafe = allocUnsafe;
  }
  return largest;
}

describe('tcp wire: the frame decoder', () => {
  it('encodes the documented layout', () => {
    const f = encodeFrame({ kind: FrameKind.Msg, seq: MAX_SEQ, ack: 0x0102030405, body: Uint8Array.of(9, 8, 7) });
    assert.equal(HEADER_BYTES, 17);
    assert.equal(f.length, HEADER_BYTES + 3);
    assert.equal(f.readUInt32LE(0), 13 + 3, 'the length counts kind, seq, ack and body');
    assert.equal(f[4], FrameKind.Msg);
    assert.deepStrictEqual([...f.subarray(5, 11)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 'seq: u48 little-endian');
    assert.deepStrictEqual([...f.subarray(11, 17)], [0x05, 0x04, 0x03, 0x02, 0x01, 0x00], 'ack: u48 little-endian');
    assert.deepStrictEqual([...f.subarray(17)], [9, 8, 7]);
    const empty = newFrame(FrameKind.Ack, 0, 0);
    assert.equal(empty.readUInt32LE(0), 13);
    assert.equal(empty.readUIntLE(11, 6), 0, 'a new frame carries ack 0 until stamped');
  });

  it('frames split at random points decode to the same frames as whole (fuzzed on a time budget)', () => {
    const runs = fuzz(
      fc.property(fc.array(frameSpec, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 40 }), (specs, points) => {
        const whole = Buffer.concat(specs.map(encodeFrame));
        const maxFrame = 4096;
        const expected = specs.map(asDecoded);
        const one = feed(new FrameDecoder(maxFrame), [whole]);
        assert.equal(one.error, undefined);
        assert.deepStrictEqual(one.frames, expected, 'whole');
        const decoder = new FrameDecoder(maxFrame);
        const split = feed(decoder, cut(whole, points));
        assert.equal(split.error, undefined);
        assert.deepStrictEqual(split.frames, expected, 'split');
        assert.equal(decoder.pending, 0);
      }),
      200,
    );
    assert.ok(runs > 0);
  });

  it('a stream cut short holds back its last frame, and counts its bytes as pending', () => {
    fuzz(
      fc.property(fc.array(frameSpec, { minLength: 1, maxLength: 6 }), fc.nat(), fc.array(fc.nat(), { maxLength: 10 }), (specs, missing, points) => {
        const frames = specs.map(encodeFrame);
        const last = frames[frames.length - 1]!;
        const drop = 1 + (missing % last.length); // at least one byte of the last frame is missing
        const whole = Buffer.concat(frames).subarray(0, frames.reduce((n, f) => n + f.length, 0) - drop);
        const decoder = new FrameDecoder(4096);
        const got = feed(decoder, cut(whole, points));
        assert.equal(got.error, undefined);
        assert.deepStrictEqual(got.frames, specs.slice(0, -1).map(asDecoded));
        assert.equal(decoder.pending, last.length - drop);
        // The missing bytes complete it.
        const rest = feed(decoder, [Buffer.concat(frames).subarray(whole.length)]);
        assert.deepStrictEqual(rest.frames, [asDecoded(specs[specs.length - 1]!)]);
        assert.equal(decoder.pending, 0);
      }),
      100,
      1500,
    );
  });

  it('random bytes, split at random points, decode as the layout says or fail with EINVAL, nothing else (fuzzed)', () => {
    let refused = 0;
    let decodedSome = 0;
    // Bytes with a plausible length now and then, so that frames complete as well as fail.
    const chunkOfStream = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.tuple(fc.integer({ min: 0, max: 80 }), fc.uint8Array({ maxLength: 90 })).map(([len, rest]) => {
        const b = Buffer.alloc(4 + rest.length);
        b.writeUInt32LE(len, 0);
        b.set(rest, 4);
        return new Uint8Array(b);
      }),
    );
    fuzz(
      fc.property(fc.array(chunkOfStream, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 30 }), fc.integer({ min: 13, max: 100 }), (parts, points, maxFrame) => {
        const bytes = Buffer.concat(parts);
        const ref = reference(bytes, maxFrame);
        const decoder = new FrameDecoder(maxFrame);
        const got = feed(decoder, cut(bytes, points));
        if (got.error !== undefined) {
          assert.ok(isEinval(got.error), `threw something other than a FosError EINVAL: ${String(got.error)}`);
          assert.ok(ref.bad, 'threw on a stream the layout accepts');
          // Frames decoded before the throw are the stream's first frames.
          assert.deepStrictEqual(got.frames, ref.frames.slice(0, got.frames.length));
          refused++;
        } else {
          assert.ok(!ref.bad || bytes.length === 0, 'a bad length went unnoticed');
          assert.deepStrictEqual(got.frames, ref.frames);
          assert.equal(decoder.pending, ref.rest);
          if (got.frames.length > 0) decodedSome++;
        }
      }),
      300,
    );
    assert.ok(refused > 0 && decodedSome > 0, `the fuzzing reached both outcomes (refused ${refused}, decoded ${decodedSome})`);
  });

  it('never allocates more than the bytes it was handed, whatever length a header announces (fuzzed)', () => {
    fuzz(
      fc.property(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(Uint8Array.of(0xff, 0xff, 0xff, 0xff), Uint8Array.of(0x00, 0x10, 0x00, 0x00))), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.constantFrom(4096, 64 * 1024 * 1024, 2 ** 32 - 1),
        (parts, points, maxFrame) => {
          const bytes = Buffer.concat(parts);
          const chunks = cut(bytes, points).map((c) => Buffer.from(c)); // allocated before watching
          const decoder = new FrameDecoder(maxFrame);
          let error: unknown;
          const largest = largestAllocation(() => {
            error = feed(decoder, chunks).error;
          });
          assert.ok(error === undefined || isEinval(error), String(error));
          assert.ok(largest <= Math.max(4, bytes.length), `allocated ${largest} bytes having been handed ${bytes.length}`);
        },
      ),
      200,
      1500,
    );
  });

  it('refuses a header announcing 2^32-1 bytes at once, from its 4 length bytes alone', () => {
    for (const maxFrame of [4096, 64 * 1024 * 1024]) {
      const decoder = new FrameDecoder(maxFrame);
      let error: unknown;
      const largest = largestAllocation(() => {
        try {
          decoder.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
        } catch (e) {
          error = e;
        }
      });
      assert.ok(isEinval(error), `got ${String(error)}`);
      assert.match((error as Error).message, /frame of 4294967295 bytes exceeds the limit of \d+/);
      assert.ok(largest <= 4, `allocated ${largest} bytes`);
    }
    // The same, its length bytes coming one at a time.
    const decoder = new FrameDecoder(4096);
    assert.deepStrictEqual(decoder.push(Buffer.from([0xff])), []);
    assert.deepStrictEqual(decoder.push(Buffer.from([0xff, 0xff])), []);
    assert.throws(() => decoder.push(Buffer.from([0xff])), (e: unknown) => isEinval(e) && /exceeds the limit/.test((e as Error).message));
  });

  it('checks the limit at the header: maxFrame passes, maxFrame + 1 is refused before its body comes', () => {
    const maxFrame = 4096;
    const at = Buffer.alloc(4);
    at.writeUInt32LE(maxFrame, 0);
    const ok = new FrameDecoder(maxFrame);
    assert.deepStrictEqual(ok.push(at), [], 'a frame of exactly the limit waits for its body');
    const body = Buffer.alloc(maxFrame - 13, 7);
    const head = Buffer.alloc(13);
    head[0] = FrameKind.Msg;
    const [f] = ok.push(Buffer.concat([head, body]));
    assert.equal(f?.body.length, maxFrame - 13);
    const over = Buffer.alloc(4);
    over.writeUInt32LE(maxFrame + 1, 0);
    assert.throws(() => new FrameDecoder(maxFrame).push(over), (e: unknown) => isEinval(e) && /4097 bytes exceeds the limit of 4096/.test((e as Error).message));
  });

  it('raises its limit with setLimit (after authentication)', () => {
    const spec: Spec = { kind: FrameKind.Msg, seq: 1, ack: 0, body: new Uint8Array(5000) };
    assert.throws(() => new FrameDecoder(4096).push(encodeFrame(spec)), isEinval);
    const d = new FrameDecoder(4096);
    d.setLimit(64 * 1024);
    assert.deepStrictEqual(feed(d, [encodeFrame(spec)]).frames, [asDecoded(spec)]);
  });

  it('cuts one frame at a time with next(): a limit raised after one frame holds for the next frame of the same chunk', () => {
    // The handshake's last frame and the session's first (a name table of more than 4 KiB) in one chunk, as the dialer reads them.
    const ready: Spec = { kind: FrameKind.Ready, seq: 0, ack: 0, body: new Uint8Array(40) };
    const names: Spec = { kind: FrameKind.Names, seq: 1, ack: 0, body: new Uint8Array(5000).fill(3) };
    const chunk = Buffer.concat([encodeFrame(ready), encodeFrame(names)]);
    assert.throws(() => new FrameDecoder(4096).push(chunk), isEinval, 'with no raise between them, the second frame is over the limit');
    const d = new FrameDecoder(4096);
    d.append(chunk);
    const first = d.next();
    assert.deepStrictEqual(first && { kind: first.kind, seq: first.seq, ack: first.ack, body: Buffer.from(first.body) }, asDecoded(ready));
    d.setLimit(64 * 1024);
    const second = d.next();
    assert.deepStrictEqual(second && { kind: second.kind, seq: second.seq, ack: second.ack, body: Buffer.from(second.body) }, asDecoded(names));
    assert.equal(d.next(), undefined);
    assert.equal(d.pending, 0);
  });

  it('refuses a length shorter than a header (0 to 12), takes 13 (an empty body)', () => {
    for (let length = 0; length < 13; length++) {
      const b = Buffer.alloc(4 + 13);
      b.writeUInt32LE(length, 0);
      assert.throws(
        () => new FrameDecoder(4096).push(b),
        (e: unknown) => isEinval(e) && new RegExp(`frame length ${length} is shorter than a header`).test((e as Error).message),
        `length ${length}`,
      );
      // Even with only the length field given.
      assert.throws(() => new FrameDecoder(4096).push(b.subarray(0, 4)), isEinval);
    }
    const empty = Buffer.alloc(17);
    empty.writeUInt32LE(13, 0);
    empty[4] = FrameKind.Ack;
    const frames = new FrameDecoder(4096).push(empty);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.body.length, 0);
  });

  it('carries seq and ack up to 2^48-1 exactly', () => {
    for (const v of [0, 1, 2 ** 31, 2 ** 32, 2 ** 47, MAX_SEQ]) {
      const [f] = new FrameDecoder(4096).push(encodeFrame({ kind: FrameKind.Ack, seq: v, ack: MAX_SEQ - v, body: new Uint8Array(0) }));
      assert.equal(f?.seq, v);
      assert.equal(f?.ack, MAX_SEQ - v);
    }
  });
});

const name = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);
const nonce = fc.uint8Array({ minLength: 32, maxLength: 32 });
const inc = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const hello: fc.Arbitrary<Hello> = fc.record({
  v: fc.constant(PROTOCOL_VERSION),
  node: name,
  inc,
  nonce,
  maxFrame: fc.integer({ min: MIN_MAX_FRAME, max: 2 ** 32 }),
});
const secret = fc.string({ minLength: 16, maxLength: 40 });

function validHello(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { v: PROTOCOL_VERSION, node: 'n1', inc: newIncarnation(), nonce: newNonce(), maxFrame: MIN_MAX_FRAME, ...over };
}

function refused(v: unknown, expectProof: boolean, reason: RegExp): void {
  assert.throws(
    () => checkHello(v, expectProof),
    (e: unknown) => isEinval(e) && reason.test((e as Error).message),
    `${JSON.stringify(v, (_, x: unknown) => (x instanceof Uint8Array ? `<${x.length} bytes>` : x))} should be refused with ${reason}`,
  );
}

describe('tcp handshake helpers', () => {
  it('a proof differs by role, and proves nothing for another nonce pair, names or secret (property)', () => {
    fc.assert(
      fc.property(secret, hello, hello, nonce, fc.constantFrom<'dialer' | 'acceptor'>('dialer', 'acceptor'), (s, d, a, other, role) => {
        fc.pre(d.node !== a.node && !Buffer.from(other).equals(Buffer.from(d.nonce)) && !Buffer.from(other).equals(Buffer.from(a.nonce)));
        const p = proof(s, role, d, a);
        assert.equal(p.length, 32, 'HMAC-SHA256');
        assert.ok(proofMatches(proof(s, role, d, a), p), 'the same inputs prove the same');
        const otherRole = role === 'dialer' ? 'acceptor' : 'dialer';
        assert.ok(!proofMatches(proof(s, otherRole, d, a), p), "one side's proof is not the other's");
        assert.ok(!proofMatches(proof(s, role, { ...d, nonce: other }, a), p), 'another dialer nonce');
        assert.ok(!proofMatches(proof(s, role, d, { ...a, nonce: other }), p), 'another acceptor nonce');
        assert.ok(!proofMatches(proof(s, role, a, d), p), 'the nonce pair and names swapped');
        assert.ok(!proofMatches(proof(s, role, { ...d, node: d.node === 'zz' ? 'zy' : 'zz' }, a), p), 'another dialer name');
        assert.ok(!proofMatches(proof(s, role, d, { ...a, node: a.node === 'zz' ? 'zy' : 'zz' }), p), 'another acceptor name');
        assert.ok(!proofMatches(proof(`${s}!`, role, d, a), p), 'another secret');
        assert.ok(!proofMatches(proof(s, role, { ...d, inc: `${d.inc}x` }, a), p), 'another dialer incarnation');
        assert.ok(!proofMatches(proof(s, role, d, { ...a, inc: `${a.inc}x` }), p), 'another acceptor incarnation');
        // maxFrame is not covered; nothing else is.
        assert.ok(proofMatches(proof(s, role, { ...d, maxFrame: 99999 }, a), p));
      }),
      { numRuns: 300 },
    );
  });

  it('proofMatches refuses what is not a proof, without throwing', () => {
    const p = proof('0123456789abcdef', 'dialer', validHello() as unknown as Hello, validHello({ node: 'n2' }) as unknown as Hello);
    for (const given of [undefined, null, 0, 'x', [...p], Buffer.from(p).toString('hex'), p.subarray(1), new Uint8Array(33), new Uint8Array(0), { length: 32 }]) {
      assert.equal(proofMatches(p, given), false, String(given));
    }
    assert.equal(proofMatches(p, new Uint8Array(p)), true);
    assert.equal(proofMatches(p, Buffer.from(p)), true, 'a Buffer of the same bytes');
  });

  it('both sides derive the same id for a new session, and another once either node restarted or declared the other down (property)', () => {
    const side = fc.record({ node: name, inc, epoch: fc.nat() });
    fc.assert(
      fc.property(side, side, (x, y) => {
        fc.pre(x.node !== y.node);
        const sid = newSessionId(x, y);
        assert.match(sid, /^[A-Za-z0-9_-]{22}$/);
        assert.equal(newSessionId(y, x), sid, 'whichever side computes it');
        assert.notEqual(newSessionId({ ...x, inc: `${x.inc}x` }, y), sid, 'a restart (a new incarnation) changes it');
        assert.notEqual(newSessionId(x, { ...y, epoch: y.epoch + 1 }), sid, 'a down (another epoch) changes it');
        if (x.epoch !== y.epoch) assert.notEqual(newSessionId({ ...x, epoch: y.epoch }, { ...y, epoch: x.epoch }), sid, 'each epoch counts for its own node');
      }),
    );
    assert.notDeepStrictEqual(newNonce(), newNonce());
    assert.equal(newNonce().length, 32);
    assert.notEqual(newIncarnation(), newIncarnation());
  });

  it('checkHello takes a well-formed hello of this version', () => {
    fc.assert(
      fc.property(hello, (h) => {
        assert.deepStrictEqual(checkHello(h, false), h);
        refused(h, true, /malformed hello: no proof/);
        const withProof = { ...h, proof: new Uint8Array(32) };
        assert.deepStrictEqual(checkHello(withProof, true), withProof);
      }),
    );
  });

  it('checkHello refuses another protocol version, with the version in its reason', () => {
    for (const v of [0, PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1, -1, 1.5, String(PROTOCOL_VERSION), null, undefined, true, 2 ** 53]) {
      // A string version is quoted, so that "1" and 1 read differently.
      const shown = typeof v === 'string' ? JSON.stringify(v) : String(v);
      refused(validHello({ v }), false, new RegExp(`protocol version ${shown.replace(/[.[\]]/g, '\\$&')} is not ${PROTOCOL_VERSION}`));
    }
    const { v: _, ...noVersion } = validHello();
    refused(noVersion, false, new RegExp(`protocol version undefined is not ${PROTOCOL_VERSION}`));
  });

  it('checkHello refuses a version that String() cannot print with EINVAL too (what msgpack can carry: { toString: "" })', () => {
    // A peer's msgpack map decodes to a plain object with an own `toString`
    // that is not a function; String() of it throws a TypeError.
    for (const v of [{ toString: '' }, [{ toString: [] }], Object.create(null) as object, [1], { v: 1 }]) {
      refused(validHello({ v }), false, /protocol version|malformed hello/);
    }
  });

  it('checkHello refuses malformed hellos, each with its reason', () => {
    for (const v of [null, undefined, 0, 1, 'hello', true, new Uint8Array(10)]) refused(v, false, /malformed hello|protocol version/);
    for (const node of ['', 'x'.repeat(65), 'a/b', 'a b', 'ü', 42, null, undefined]) refused(validHello({ node }), false, /malformed hello: bad node name/);
    for (const nonce of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0), [...newNonce()], 'x'.repeat(32), undefined, null]) {
      refused(validHello({ nonce }), false, /malformed hello: bad nonce/);
    }
    for (const maxFrame of [undefined, null, 0, 1023, MIN_MAX_FRAME - 1, -1, 1500.5, '65536', Infinity, NaN]) refused(validHello({ maxFrame }), false, /malformed hello: bad frame limit/);
    for (const inc of ['', 'x'.repeat(65), 'a b', 'a/b', 7, null, undefined]) refused(validHello({ inc }), false, /malformed hello: bad incarnation/);
    for (const p of [undefined, null, 'proof', [1, 2, 3]]) refused(validHello({ proof: p }), true, /malformed hello: no proof/);
  });

  it('checkAuth and checkReady refuse malformed fields, each with its reason', () => {
    const auth = { proof: new Uint8Array(32), sid: '', received: 0, epoch: 0, sole: false, listen: '' };
    assert.deepStrictEqual(checkAuth(auth), auth);
    for (const sid of [undefined, null, 5, 'x'.repeat(65), ['a']]) assert.throws(() => checkAuth({ ...auth, sid } as never), /malformed auth: bad session id/);
    for (const received of [undefined, -1, 1.5, '3']) assert.throws(() => checkAuth({ ...auth, received } as never), /malformed auth/);
    for (const epoch of [undefined, -1, 1.5, '3', null]) assert.throws(() => checkAuth({ ...auth, epoch } as never), /malformed auth/);
    for (const sole of [undefined, 0, 'yes', null]) assert.throws(() => checkAuth({ ...auth, sole } as never), /malformed auth: sole or not/);
    for (const listen of [undefined, null, 7000, ['127.0.0.1:7000'], 'x'.repeat(301)]) assert.throws(() => checkAuth({ ...auth, listen } as never), /malformed auth: bad listen address/);
    const ready = { resumed: false, sid: 'abc', received: 0, listen: '127.0.0.1:7000' };
    assert.deepStrictEqual(checkReady(ready), ready);
    for (const bad of [null, 'ready', { ...ready, resumed: 1 }, { ...ready, received: -1 }, { ...ready, listen: 5 }, { ...ready, sid: '' }, { ...ready, sid: 5 }, { ...ready, sid: 'x'.repeat(65) }]) {
      assert.throws(() => checkReady(bad), (e: unknown) => isEinval(e));
    }
  });

  it('checkHello, on anything at all, returns a hello or throws EINVAL (fuzzed)', () => {
    const anyHello = fc.record(
      {
        v: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.anything()),
        node: fc.oneof(name, fc.anything()),
        inc: fc.oneof(inc, fc.anything()),
        nonce: fc.oneof(nonce, fc.anything({ withTypedArray: true })),
        sid: fc.oneof(fc.string(), fc.anything()),
        maxFrame: fc.oneof(fc.integer(), fc.double(), fc.anything()),
        listen: fc.oneof(fc.string(), fc.anything()),
        proof: fc.oneof(fc.uint8Array(), fc.anything()),
      },
      { requiredKeys: [] },
    );
    fuzz(
      fc.property(fc.oneof(anyHello, fc.anything({ withTypedArray: true, withMap: true, withSet: true })), fc.boolean(), (v, expectProof) => {
        try {
          const h = checkHello(v, expectProof);
          assert.equal(h.v, PROTOCOL_VERSION);
        } catch (e) {
          assert.ok(isEinval(e), `threw ${String(e)}`);
        }
      }),
      200,
      1500,
    );
  });

  it('checkCount takes a count and refuses anything else', () => {
    for (const v of [0, 1, 2 ** 48 - 1]) assert.equal(checkCount(v, 'auth'), v);
    for (const v of [-1, 1.5, '1', null, undefined, NaN, Infinity, {}]) assert.throws(() => checkCount(v, 'auth'), (e: unknown) => isEinval(e) && /malformed auth/.test((e as Error).message));
  });
});

describe('verdict frames', () => {
  const wireError = fc.record(
    {
      code: fc.constantFrom(...ERROR_CODES),
      message: fc.string(),
      remote: fc.record({ name: fc.string(), message: fc.string(), code: fc.string(), stack: fc.string() }, { requiredKeys: ['name', 'message'], noNullPrototype: true }),
    },
    { requiredKeys: ['code', 'message'], noNullPrototype: true },
  );
  it('packVerdicts / unpackVerdicts: what goes in comes out, however many refusals (property)', () => {
    fc.assert(
      fc.property(fc.option(fc.array(fc.nat(), { maxLength: 40 }), { nil: undefined }), fc.option(fc.array(fc.tuple(fc.nat(), wireError), { maxLength: 100 }), { nil: undefined }), (a, n) => {
        const v: VerdictLists = {};
        if (a !== undefined) v.a = a;
        if (n !== undefined) v.n = n as NonNullable<VerdictLists['n']>;
        assert.deepStrictEqual(unpackVerdicts(packVerdicts(v)), v);
      }),
    );
    // A batch refused item by item: an array per refusal, more than a simple value may hold of its own.
    const many: VerdictLists = { a: [1, 2], n: Array.from({ length: 300 }, (_, i) => [i + 3, { code: 'EAGAIN', message: 'full' }] as [number, { code: 'EAGAIN'; message: string }]) };
    assert.deepStrictEqual(unpackVerdicts(packVerdicts(many)), many);
  });

  it('unpackVerdicts fails on malformed bytes with EINVAL and nothing else (fuzz)', () => {
    fuzzDecoder(unpackVerdicts);
  });
});
