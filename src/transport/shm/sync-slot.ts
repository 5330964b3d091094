/**
 * A sync slot: where the answer to a thread's blocking request (a
 * callSync, a lookup made inside one) is written while that thread waits
 * without its event loop. One thread, the owner, waits in it; one thread,
 * the writer, writes answers into it: a slot has a single writer (an shm
 * channel's receiver for the calls that came by that channel, the main
 * thread for a worker's lookups), so nothing is claimed or locked.
 *
 * Layout (bytes from the slot's offset):
 *   [0, 128)    written by the writer only, DONE last:
 *                 DONE   the ticket of the last answer written
 *                 LEN    bytes of the answer
 *                 FLAGS  OK (a value, not a WireError), SIMPLE (simple-values
 *                        encoding, else msgpack)
 *                 [12, 128) the answer's bytes when they fit (most answers):
 *                        the owner, spinning on DONE, then finds all of it
 *                        on the one cache line that came over
 *   [128, 256)  ASLEEP   1 while the owner sleeps in Atomics.wait; written by the owner
 *               CLOSED   (at 132) 1 once the writer gave the slot up (its runtime cut the
 *                        owner's isolate off, or closed): written once, by the writer; the
 *                        owner reads it once every SPINS_PER_LOOK spins and between its sleeps,
 *                        so it costs the fast path next to nothing
 *   [256, ...)  the answer's bytes when they do not fit in the first line
 *
 * Protocol: the owner takes a fresh ticket, sends its request carrying it,
 * then waits for DONE to become that ticket and reads LEN, FLAGS and the
 * bytes. The owner writes nothing in the slot but ASLEEP: an earlier
 * protocol, in which it announced the ticket it waited for and the writer
 * claimed the slot by compare-exchange, moved two cache lines to the other
 * core and back per call and cost 2.0-2.3 µs a round trip against 0.6 µs
 * without (measured here with raw SharedArrayBuffers).
 *
 * Why that is safe: the writer writes LEN, FLAGS and the bytes before it
 * publishes DONE (sequentially consistent atomics: an owner that loads the
 * ticket from DONE sees them), and writes answers one at a time in the
 * order of the requests, dropping an answer to any request older than the
 * last it received (the writer's `latest` ticket, kept by whoever writes).
 * A blocking owner has one live request, its latest: an older one ended
 * (timed out) before the latest was sent. So once DONE holds the owner's
 * ticket, the writer has nothing more to write until the owner's next
 * request, and the bytes stay as they are while the owner reads them. A
 * late answer to a request the owner gave up on is written and published
 * with its own ticket, which the owner, waiting for another, passes over.
 *
 * Waking: the owner stores ASLEEP before it reads DONE one last time and
 * sleeps; the writer loads ASLEEP after it stores DONE, and only then makes
 * the notify system call. Either the owner sees DONE or the writer sees
 * ASLEEP (sequentially consistent atomics): no answer is slept through.
 */
import { packValue, unpackValue } from '../../envelope.js';
import { decodeSimple, encodeSimple } from '../../simple-values.js';
import { asFosError, FosError, fromWire, toWire } from '../../errors.js';
import { isDead, wasStopped } from './doorbell.js';

/** The largest answer a slot carries. */
export const SLOT_BYTES = 1 << 20;
const HEADER = 256;
const DONE = 0;
const LEN = 1;
const FLAGS = 2;
/** Where an answer's bytes go on DONE's line, and how many fit there. */
const INLINE_AT = 12;
const INLINE_BYTES = 128 - INLINE_AT;
const ASLEEP = 128 / 4;
const CLOSED = ASLEEP + 1;
const OK = 1;
const SIMPLE = 2;
/** Spins between two looks at the clock (a power of two): 10-20 ns each here. */
const SPINS_PER_LOOK = 256;

/** Bytes a slot for answers of up to `capacity` bytes takes. */
export function slotBytes(capacity = SLOT_BYTES): number {
  return HEADER + capacity;
}

export class SyncSlot {
  private readonly words: Int32Array;
  /** The first line, whose bytes from INLINE_AT hold a small answer. */
  private readonly line: Uint8Array;
  private readonly data: Uint8Array;

  /** The slot at `byteOffset` of `sab`, taking the rest of it (at least its header). */
  constructor(sab: SharedArrayBuffer, byteOffset: number) {
    if (sab.byteLength - byteOffset < HEADER) throw new RangeError(`a sync slot needs ${HEADER} bytes, ${sab.byteLength - byteOffset} are left`);
    this.words = new Int32Array(sab, byteOffset, HEADER / 4);
    this.line = new Uint8Array(sab, byteOffset, 128);
    this.data = new Uint8Array(sab, byteOffset + HEADER);
  }

  /** The largest answer this slot carries. */
  get capacity(): number {
    return this.data.length;
  }

  /**
   * Writes the answer to `ticket` (the writer's side): a value when `ok`,
   * else the error `value`. An answer that cannot be carried (too large,
   * not encodable) becomes the error saying why.
   */
  write(ticket: number, ok: boolean, value: unknown): void {
    let bytes: Uint8Array;
    let flags = 0;
    try {
      const s = ok ? encodeSimple(value) : undefined;
      bytes = s ?? packValue(ok ? value : toWire(asFosError(value)));
      if (bytes.length > this.data.length) throw new FosError('EMSGSIZE', `a callSync answer is at most ${this.data.length} bytes, this one is ${bytes.length}: use call()`);
      flags = (ok ? OK : 0) | (s !== undefined ? SIMPLE : 0);
    } catch (e) {
      bytes = packValue(toWire(asFosError(e))); // plain strings: cannot fail
      flags = 0;
    }
    const w = this.words;
    if (bytes.length <= INLINE_BYTES) this.line.set(bytes, INLINE_AT);
    else this.data.set(bytes);
    w[LEN] = bytes.length;
    w[FLAGS] = flags;
    Atomics.store(w, DONE, ticket);
    if (Atomics.load(w, ASLEEP) !== 0) Atomics.notify(w, DONE);
  }

  /**
   * The writer gives the slot up (the writer's side): it will write no more
   * answers, and an owner waiting in it fails with ECONNRESET rather than
   * wait out its timeout.
   */
  close(): void {
    const w = this.words;
    Atomics.store(w, CLOSED, 1);
    Atomics.notify(w, DONE);
  }

  /**
   * Throws when no answer will come: ECLOSED if the writer's isolate was
   * stopped, ECONNRESET if it died (its doorbell `writerBell` says which)
   * or gave the slot up (close).
   */
  assertWriter(writerBell: Int32Array | undefined): void {
    const gone = this.writerGone(writerBell);
    if (gone !== undefined) throw gone;
  }

  private writerGone(writerBell: Int32Array | undefined): FosError | undefined {
    if (writerBell !== undefined && isDead(writerBell)) {
      if (wasStopped(writerBell)) return new FosError('ECLOSED', 'the serving isolate was stopped (before or during this callSync)');
      return new FosError('ECONNRESET', 'the serving isolate has died (before or during this callSync)');
    }
    if (Atomics.load(this.words, CLOSED) !== 0) return new FosError('ECONNRESET', 'the serving isolate gave the channel up during callSync');
    return undefined;
  }

  /**
   * Blocks this thread (the owner) until the answer to `ticket` is in the
   * slot, and returns it or throws the error it carries: spins for a short
   * budget, then sleeps in `Atomics.wait` slices. The writer's dead flag,
   * the slot's closed flag and the deadline are looked at while it spins
   * too, so that no spin budget outlasts a timeout or a dead server.
   */
  await(ticket: number, opts: WaitOptions): unknown {
    const w = this.words;
    // The clock is read once every SPINS_PER_LOOK spins, the first time
    // only after that many: a read costs 40-70 ns here, against a few µs
    // for the whole call. The deadline then counts from a moment later than
    // the request, by those first spins (a few µs).
    let spinEnd = 0;
    let deadline = 0;
    for (let i = 0; Atomics.load(w, DONE) !== ticket; i++) {
      if ((i & (SPINS_PER_LOOK - 1)) !== SPINS_PER_LOOK - 1) continue;
      const now = performance.now();
      if (i === SPINS_PER_LOOK - 1) {
        spinEnd = now + opts.spinMicros / 1000;
        deadline = now + opts.timeout;
      }
      const gone = this.writerGone(opts.writerBell);
      if (gone !== undefined || now >= deadline) {
        // A writer may answer and then end (or the deadline pass) just after
        // the loop's look: an answer in the slot is taken, never failed.
        if (Atomics.load(w, DONE) === ticket) break;
        throw gone ?? new FosError('ETIMEDOUT', 'no answer to callSync in time');
      }
      if (now < spinEnd) continue;
      this.sleep(ticket, Math.min(5, deadline - now));
    }
    const len = w[LEN]!;
    const flags = w[FLAGS]!;
    let v: unknown;
    try {
      const inline = len <= INLINE_BYTES;
      const src = inline ? this.line : this.data;
      const at = inline ? INLINE_AT : 0;
      v = flags & SIMPLE ? decodeSimple(src, at, at + len) : unpackValue(src.slice(at, at + len));
    } catch (e) {
      throw e instanceof FosError ? e : new FosError('EINVAL', `malformed callSync answer: ${(e as Error).message}`);
    }
    if ((flags & OK) === 0) throw fromWire(v);
    return v;
  }

  /**
   * Sleeps until DONE changes or `ms` pass. ASLEEP is stored before DONE is
   * read again (the writer stores DONE before it reads ASLEEP): with
   * sequentially consistent atomics either this read sees the answer, and
   * it does not sleep, or the writer sees ASLEEP and notifies. Waiting on
   * the value read, not on the ticket, wakes at any change.
   */
  private sleep(ticket: number, ms: number): void {
    const w = this.words;
    Atomics.store(w, ASLEEP, 1);
    const seen = Atomics.load(w, DONE);
    if (seen !== ticket) Atomics.wait(w, DONE, seen, ms);
    Atomics.store(w, ASLEEP, 0);
  }
}

export interface WaitOptions {
  /** Milliseconds after which the wait fails with ETIMEDOUT. */
  readonly timeout: number;
  /** The doorbell of the isolate that writes the answer: ended means ECLOSED if it was stopped, ECONNRESET if it died. */
  readonly writerBell: Int32Array | undefined;
  readonly spinMicros: number;
}

let lastTicket = 0;

/** A fresh ticket for this isolate's next blocking request (unique among its last 2^31 - 1). */
export function nextTicket(): number {
  lastTicket = (lastTicket % 0x7fff_ffff) + 1;
  return lastTicket;
}
