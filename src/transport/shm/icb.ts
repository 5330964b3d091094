/**
 * The isolate control block: one SharedArrayBuffer per isolate, made by the
 * main thread when it starts the isolate and handed to every peer with the
 * kernel channel, so that any peer can wake it and answer its synchronous
 * calls without the isolate's event loop running.
 *
 * Layout (bytes):
 *   [0, 128)     doorbell (doorbell.ts): state, dead flag
 *   [128, 256)   sync slot header, Int32 words:
 *                  EXPECT  the ticket the owner waits for; 0 none; -1 a writer holds it
 *                  LEN     bytes of the answer
 *                  OK      1 for a value, 0 for a WireError
 *                  ASLEEP  1 while the owner sleeps in Atomics.wait: only then
 *                          does a writer make the notify call
 *                  SIMPLE  1 when the answer is in the simple-values encoding
 *   [256, 384)   DONE    the ticket of the last answer written, alone on its
 *                        cache line: the owner spins reading it, and every
 *                        write of the writer's to a line the owner keeps
 *                        reading would cost a transfer between cores
 *   [384, ...)   the answer: msgpack, or simple values (see simple-values.ts)
 *
 * The slot protocol (one blocked waiter at a time: the isolate's own
 * thread, in `callSync`): the owner stores a fresh ticket in EXPECT, sends
 * its request, then waits for DONE to become that ticket. A writer claims
 * the slot by compare-exchange EXPECT: ticket -> -1, so a late answer to a
 * request the owner gave up on (timeout) finds another ticket and is
 * dropped; it writes LEN, OK and the bytes, then publishes DONE and
 * notifies. The owner gives up by compare-exchange EXPECT: ticket -> 0; if
 * that fails a writer is mid-way and the owner waits for it to finish.
 */
import { packValue, unpackValue } from '../../envelope.js';
import { decodeSimple, encodeSimple } from '../../simple-values.js';
import { asFosError, FosError, fromWire, toWire } from '../../errors.js';
import { isDead } from './doorbell.js';

export const SLOT_BYTES = 1 << 20;
const HEADER = 384;
const EXPECT = 32;
const LEN = 33;
const OK = 34;
const ASLEEP = 35;
const SIMPLE = 36;
const DONE = 64;
const LOCKED = -1;

export interface Icb {
  readonly sab: SharedArrayBuffer;
  /** The doorbell words. */
  readonly bell: Int32Array;
  readonly words: Int32Array;
  readonly data: Uint8Array;
}

export function newIcb(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER + SLOT_BYTES);
}

export function icbView(sab: SharedArrayBuffer): Icb {
  return { sab, bell: new Int32Array(sab, 0, 32), words: new Int32Array(sab, 0, HEADER / 4), data: new Uint8Array(sab, HEADER) };
}

/** Writes the answer to `ticket` into `icb`'s slot; false if its owner no longer waits for it. */
export function answer(icb: Icb, ticket: number, ok: boolean, value: unknown): boolean {
  // Encoded before the slot is claimed: encoding runs the value's getters,
  // and nothing may throw while the slot is held (its owner would wait for
  // it forever). An answer that cannot be carried becomes the error saying why.
  let bytes: Uint8Array;
  let isOk = ok;
  let simple = false;
  try {
    const s = ok ? encodeSimple(value) : undefined;
    simple = s !== undefined;
    bytes = s ?? packValue(ok ? value : toWire(asFosError(value)));
    if (bytes.length > icb.data.length) throw new FosError('EMSGSIZE', `a callSync answer is at most ${icb.data.length} bytes, this one is ${bytes.length}: use call()`);
  } catch (e) {
    bytes = packValue(toWire(asFosError(e))); // plain strings: cannot fail
    isOk = false;
    simple = false;
  }
  if (Atomics.compareExchange(icb.words, EXPECT, ticket, LOCKED) !== ticket) return false;
  icb.data.set(bytes);
  icb.words[LEN] = bytes.length;
  icb.words[OK] = isOk ? 1 : 0;
  icb.words[SIMPLE] = simple ? 1 : 0;
  Atomics.store(icb.words, DONE, ticket);
  // The owner stores ASLEEP before it reads DONE and sleeps: either it sees
  // DONE, or this load sees ASLEEP (sequentially consistent atomics).
  if (Atomics.load(icb.words, ASLEEP) !== 0) Atomics.notify(icb.words, DONE);
  return true;
}


let lastTicket = 0;

/** Claims the slot for a new request; returns its ticket. */
export function expect(icb: Icb): number {
  lastTicket = (lastTicket % 0x7fff_ffff) + 1;
  Atomics.store(icb.words, DONE, 0);
  Atomics.store(icb.words, EXPECT, lastTicket);
  return lastTicket;
}

function sleep(w: Int32Array, ms: number): void {
  Atomics.store(w, ASLEEP, 1);
  Atomics.wait(w, DONE, Atomics.load(w, DONE), ms);
  Atomics.store(w, ASLEEP, 0);
}

export interface WaitOptions {
  /** performance.now() after which the wait fails with ETIMEDOUT. */
  readonly deadline: number;
  /** The doorbell of the isolate that will answer: dead means ECONNRESET. */
  readonly peerBell: Int32Array | undefined;
  readonly spinMicros: number;
}

/**
 * Blocks this thread until the answer to `ticket` is in the slot: spins for
 * a short budget, then sleeps in `Atomics.wait` slices, checking the
 * answerer's dead flag and the deadline between slices.
 */
export function await_(icb: Icb, ticket: number, opts: WaitOptions): unknown {
  const w = icb.words;
  const spinEnd = performance.now() + opts.spinMicros / 1000;
  for (let i = 0; Atomics.load(w, DONE) !== ticket; i++) {
    if ((i & 63) !== 63) continue;
    const now = performance.now();
    if (now < spinEnd) continue;
    const dead = opts.peerBell !== undefined && isDead(opts.peerBell);
    if (dead || now >= opts.deadline) {
      if (Atomics.compareExchange(w, EXPECT, ticket, 0) === ticket) {
        throw dead ? new FosError('ECONNRESET', 'the serving isolate died during callSync') : new FosError('ETIMEDOUT', 'no answer to callSync in time');
      }
      // A writer holds the slot: its answer is moments away.
      sleep(w, 1000);
      continue;
    }
    sleep(w, Math.min(5, opts.deadline - now));
  }
  const ok = w[OK] === 1;
  let v: unknown;
  try {
    // Read before the slot is released (EXPECT 0): no writer touches it until then.
    v = w[SIMPLE] === 1 ? decodeSimple(icb.data, 0, w[LEN]) : unpackValue(icb.data.slice(0, w[LEN]));
  } catch (e) {
    throw e instanceof FosError ? e : new FosError('EINVAL', `malformed callSync answer: ${(e as Error).message}`);
  } finally {
    Atomics.store(w, EXPECT, 0);
  }
  if (!ok) throw fromWire(v);
  return v;
}
