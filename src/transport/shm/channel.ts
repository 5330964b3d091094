/**
 * A user-messaging channel: the ring one isolate (the sender, S) writes and
 * its peer (the receiver, R) drains, plus the verdicts R writes back, all in
 * one SharedArrayBuffer that S creates and offers to R over the kernel link.
 *
 * Layout: the ring (see ring.ts), then a verdict area, then a sync slot:
 *   V+0    done      messages R has handled (its seq of the last, mod 2^32), written by R
 *   V+128  exHead    exceptions S has read, written by S
 *   V+256  exTail    exceptions R has written, written by R
 *   V+384  entries   EXCEPTIONS x [seq mod 2^32, code | (seq / 2^32) << 8]: the
 *                    message's whole seq (below 2^53), and in the low byte its
 *                    code: 0xff = held (waits for room in its mailbox), 0 =
 *                    admitted after being held, k > 0 = refused with
 *                    ERROR_CODES[k - 1]. The whole seq, because a held
 *                    message's late verdict may come any number of records later
 *   then       the sync slot (sync-slot.ts): R writes the answers to S's
 *              callSyncs that came by this ring there, S's blocked thread
 *              reads them; R is its one writer, and it drops an answer to
 *              any callSync older than the last it drained (`latestSync`)
 *
 * Verdicts: message seqs are 1, 2, 3, ... in ring order (a fragmented
 * message, or a sendMany batch, counts once; so do replies and untracked
 * calls, which need no verdict: see ShmOut.sendCall). R handles a batch of
 * records, writes an exception for each message not simply admitted, then
 * publishes `done`:
 * after a drain that handled a message needing a verdict (or every 2^20
 * records), and at once after a sendMany batch, which frees much of a
 * window. S reads `done` first and the exceptions after, so every
 * exception for a seq <= done is visible to it: it holds or settles those,
 * then settles everything else up to `done` as admitted. A held message
 * settles by its later exception.
 *
 * Invariants:
 * - R handles a record only when the exception ring has room for its
 *   verdict, so a verdict is never dropped; verdicts that come later (held
 *   messages) wait in `late` while the ring is full, and R handles nothing
 *   new until they are out;
 * - every write R makes to the verdict area (done, exceptions, late ones
 *   included), and every drain that freed room in the ring, is followed by
 *   a ring of S's doorbell, so a parked S always wakes to read it or to
 *   write what waits in its outbox;
 * - S writes messages in seq order; one that does not fit waits in
 *   `outbox`, and so does everything after it, so ring order is seq order.
 */
import { decode, encode, RecordType, type RecordMetasIn, type RecordMetasOut, type CallInfo, type Encoded, type Envelope, type MessageEnvelope } from '../../envelope.js';
import { ERROR_CODES, FosError, type ErrorCode } from '../../errors.js';
import { Deque } from '../../util/deque.js';
import { Flow, type FlowSendOptions } from '../flow.js';
import { MetaIn, MetaOut } from '../../util/meta-table.js';
import { ring as ringBell } from './doorbell.js';
import { wrote } from '../../util/wakeups.js';
import { Frag, RingCorruption, RingReader, ringBytes, RingWriter } from './ring.js';
import { slotBytes, SyncSlot } from './sync-slot.js';

const EXCEPTIONS = 1024;
/** Withdrawals kept for records not drained yet: at most a window's worth matter. */
const MAX_EARLY_WITHDRAWALS = 4096;
const DONE = 0;
const EX_HEAD = 128 / 4;
const EX_TAIL = 256 / 4;
const EX_ENTRIES = 384 / 4;
const HELD = -1;
const ADMITTED = 0;

export const DEFAULT_RING_CAPACITY = 1 << 20;

const VERDICT_BYTES = 384 + EXCEPTIONS * 8;
/** A word nobody notifies: a thread that blocks while the receiver frees room sleeps on it for a set time. */
const NAP = new Int32Array(new SharedArrayBuffer(4));

export function channelBytes(capacity: number): number {
  return ringBytes(capacity) + VERDICT_BYTES + slotBytes();
}

function verdictView(sab: SharedArrayBuffer, capacity: number): Int32Array {
  return new Int32Array(sab, ringBytes(capacity), VERDICT_BYTES / 4);
}

/** The channel's sync slot: 128-aligned, since the ring and verdict areas are. */
function slotOf(sab: SharedArrayBuffer, capacity: number): SyncSlot {
  return new SyncSlot(sab, ringBytes(capacity) + VERDICT_BYTES);
}

const HELD_BYTE = 0xff;
const TWO_32 = 2 ** 32;

/** An exception entry at word `at`: the message's whole seq and its code (see the layout above). */
function writeEntry(v: Int32Array, at: number, seq: number, code: number): void {
  v[at] = seq; // mod 2^32
  v[at + 1] = (Math.floor(seq / TWO_32) << 8) | (code === HELD ? HELD_BYTE : code);
}

function readEntry(v: Int32Array, at: number): [seq: number, code: number] {
  const w = v[at + 1]!;
  const c = w & 0xff;
  return [(w >>> 8) * TWO_32 + (v[at]! >>> 0), c === HELD_BYTE ? HELD : c];
}

function codeOf(err: FosError): number {
  return ERROR_CODES.indexOf(err.code) + 1;
}

function errorOf(code: number): FosError {
  const name: ErrorCode = ERROR_CODES[code - 1] ?? 'EINVAL';
  return new FosError(name, REFUSALS[name] ?? 'refused by the receiving isolate');
}

/** The messages a receiver gives with each refusal, so that shm says what kernel says. */
const REFUSALS: Partial<Record<ErrorCode, string>> = {
  ENOENT: 'no such mailbox',
  EACCES: 'wrong capability for the mailbox',
  EAGAIN: 'mailbox is full',
  ECLOSED: 'mailbox is closed',
  ECANCELED: 'send aborted while waiting for room',
  ENOSYS: 'the mailbox serves no calls',
  EINVAL: 'the mailbox takes calls only: use call()',
};

/**
 * Open calls per destination mailbox. Most channels carry calls to one
 * mailbox: its count is kept in two fields, the others' in a Map (a set
 * and a delete per call cost about 100 ns). A mailbox's count may be split
 * between the two; `has` and the total stay exact.
 */
class OpenCalls {
  private soloTo = -1;
  private solo = 0;
  private readonly others = new Map<number, number>();

  add(to: number): void {
    if (this.solo === 0 || this.soloTo === to) {
      this.soloTo = to;
      this.solo++;
    } else this.others.set(to, (this.others.get(to) ?? 0) + 1);
  }

  remove(to: number): void {
    if (this.solo > 0 && this.soloTo === to) {
      this.solo--;
      return;
    }
    const n = (this.others.get(to) ?? 1) - 1;
    if (n > 0) this.others.set(to, n);
    else this.others.delete(to);
  }

  has(to: number): boolean {
    return (this.solo > 0 && this.soloTo === to) || this.others.has(to);
  }
}

interface Outgoing {
  /** Valid only during the write call unless kept (see Encoded). */
  readonly enc: Encoded;
  /** The encoded bytes in one piece, for a message carried in fragments. */
  whole?: Uint8Array;
  /** Bytes of `whole` already written. */
  offset: number;
}

/** The sending end: writes messages into the ring and reads their verdicts. */
export class ShmOut {
  readonly flow: Flow<MessageEnvelope>;
  /**
   * Calls sent untracked (sendCall) that have not ended: at most the flow's
   * window, so that they bound what the receiver may hold for this channel
   * as tracked messages do.
   */
  private openCalls = 0;
  /** The open untracked calls per destination mailbox. */
  private readonly callsTo = new OpenCalls();
  /**
   * Mailboxes an untracked call went to that ended without its answer and
   * whose withdrawal could not be sent (no kernel link): nothing tells this
   * side whether its message is still on its way, so a kernel send to such
   * a mailbox follows on shm for as long as this channel lives (see `busy`).
   * A withdrawal that was sent needs no such care: it goes ahead of any
   * later kernel send on the same in-order link, and the receiver then
   * refuses the record if it has not handled it yet.
   */
  private readonly unanswered = new Set<number>();
  /** Who waits for a mailbox to be idle (whenIdle), by mailbox. */
  private readonly idleWaiters = new Map<number, ((kept: boolean) => void)[]>();
  private readonly writer: RingWriter;
  private readonly verdicts: Int32Array;
  /** Where this isolate's thread, blocked in a callSync sent by this channel, finds the answer. */
  readonly syncSlot: SyncSlot;
  /** The meta parts this channel carried: a repeated one goes as its index. */
  private readonly metas: RecordMetasOut = new MetaOut();
  private readonly outbox = new Deque<Outgoing>();
  private written = 0;
  private exHead = 0;
  /** The `done` last applied. */
  private settledUpTo = 0;

  constructor(
    readonly peer: number,
    readonly sab: SharedArrayBuffer,
    readonly capacity: number,
    private readonly peerBell: Int32Array,
    /** Asks the receiver (over the kernel link) to withdraw message `seq` if it is not in its mailbox yet; false if that cannot be sent. */
    private readonly withdraw: (seq: number) => boolean,
    /** The kernel link's last seq when this channel was offered: kernel messages up to it are ordered before the ring. */
    readonly kernelSeqAtOffer: number,
  ) {
    this.writer = new RingWriter(sab, 0, capacity);
    this.verdicts = verdictView(sab, capacity);
    this.syncSlot = slotOf(sab, capacity);
    this.flow = new Flow<MessageEnvelope>({
      canPost: () => true,
      congested: () => this.outbox.size > 0,
      post: (env) => this.write(encode(env, this.metas)),
      withdraw,
      idle: () => this.wakeIdle(),
    });
  }

  static create(peer: number, peerBell: Int32Array, withdraw: (seq: number) => boolean, kernelSeqAtOffer: number, capacity = DEFAULT_RING_CAPACITY): ShmOut {
    return new ShmOut(peer, new SharedArrayBuffer(channelBytes(capacity)), capacity, peerBell, withdraw, kernelSeqAtOffer);
  }

  /** Sends a message, or a batch of `weight` messages; settles on the receiver's verdict. */
  send(env: MessageEnvelope, opts: FlowSendOptions, weight = 1): Promise<void> {
    return this.flow.send(env, env.to, opts, weight);
  }

  /**
   * Writes a record that needs no verdict: a reply, or a callSync call (its
   * caller hears of a refusal in its sync slot). Returns its seq; throws
   * EINVAL if it cannot be encoded.
   */
  sendUntracked(env: Envelope): number {
    return this.write(encode(env, this.metas));
  }

  /** True while records wait in the outbox for room in the ring. */
  get queued(): boolean {
    return this.outbox.size > 0;
  }

  /**
   * Writes what waits in the outbox while this thread blocks, so that its
   * event loop cannot (a callSync whose request is larger than the room
   * left in the ring): tries again as the receiver frees room, spinning for
   * `spinMicros`, then sleeping in slices of at most 1 ms (the receiver
   * rings only a parked doorbell, and this thread parks on none). Returns
   * the milliseconds left of `timeout`. Throws ETIMEDOUT when they run out,
   * ECLOSED once the receiver was stopped and ECONNRESET once it died or
   * gave the channel up (its sync slot closed); what is left then goes from the
   * event loop later, as an outbox does, and the late answer to it is
   * passed over (sync-slot.ts).
   */
  flushBlocking(timeout: number, spinMicros: number): number {
    const start = performance.now();
    const spinEnd = start + spinMicros / 1000;
    const deadline = start + timeout;
    while (this.outbox.size > 0) {
      if (this.flushOutbox()) continue;
      this.syncSlot.assertWriter(this.peerBell);
      const now = performance.now();
      if (now >= deadline) throw new FosError('ETIMEDOUT', 'the callSync request was not taken in time');
      if (now >= spinEnd) Atomics.wait(NAP, 0, 0, Math.min(1, deadline - now));
    }
    return deadline - performance.now();
  }

  /**
   * Sends an async call untracked, when that keeps every guarantee a
   * tracked send gives, and returns its seq; else undefined (send it
   * tracked, through the flow). Its answer settles it, a refusal comes as
   * its error answer, and `callEnded` must be called once when it ends.
   * That saves a verdict per call: the receiver's store of `done` (and the
   * transfer of its cache line to this core) and, here, a promise and the
   * flow's bookkeeping.
   *
   * Order: it goes only when no tracked message to the same mailbox is in
   * flight or waiting in the flow (then it would overtake those waiting);
   * once written, ring order is seq order for everything after it. A send
   * by kernel to the same mailbox follows on shm while such a call is open
   * (see `busy`). Bound: at most the flow's window of them are open.
   */
  sendCall(env: MessageEnvelope & { readonly call: CallInfo & { readonly untracked: true } }): number | undefined {
    if (this.openCalls >= this.flow.window || this.flow.busy(env.to) || this.flow.failed !== undefined) return undefined;
    const seq = this.sendUntracked(env);
    this.openCalls++;
    this.callsTo.add(env.to);
    return seq;
  }

  /** The call to mailbox `to` sent as record `seq` ended: by its answer, or without one (its message is then withdrawn). */
  callEnded(seq: number, to: number, answered: boolean): void {
    this.openCalls--;
    this.callsTo.remove(to);
    // A failed channel's receiver has dropped the ring: what it had not
    // handled never arrives, and a withdrawal would name a seq of the next
    // channel to the peer.
    if (!answered && this.flow.failed === undefined && !this.withdraw(seq)) this.unanswered.add(to);
    this.wakeIdle();
  }

  /** Calls sent by sendCall that have not ended. */
  get untrackedCalls(): number {
    return this.openCalls;
  }

  /**
   * True while a message to mailbox `to` by this channel may still overtake
   * a later one sent by kernel: a tracked one without its verdict, an open
   * untracked call, or one that ended unanswered and could not be withdrawn.
   */
  busy(to: number | string): boolean {
    return this.flow.busy(to) || (typeof to === 'number' && (this.callsTo.has(to) || this.unanswered.has(to)));
  }

  /**
   * Resolves once no message to mailbox `to` by this channel may overtake
   * a later one sent by kernel (see `busy`), or the channel failed: true
   * then; false if one may, for as long as the channel lives (`unanswered`).
   */
  whenIdle(to: number): Promise<boolean> {
    if (this.flow.failed !== undefined || !this.busy(to)) return Promise.resolve(true);
    if (this.unanswered.has(to)) return Promise.resolve(false);
    return new Promise((resolve) => {
      let waiting = this.idleWaiters.get(to);
      if (waiting === undefined) this.idleWaiters.set(to, (waiting = []));
      waiting.push(resolve);
    });
  }

  /** Resolves the whenIdle waiters whose mailbox is idle now (after verdicts, an ended call, a failure). */
  private wakeIdle(): void {
    if (this.idleWaiters.size === 0) return;
    for (const [to, waiting] of this.idleWaiters) {
      const kept = !this.unanswered.has(to);
      if (this.flow.failed === undefined && kept && this.busy(to)) continue;
      this.idleWaiters.delete(to);
      for (const resolve of waiting) resolve(this.flow.failed !== undefined || kept);
    }
  }

  /** True when a verdict or room for the outbox may be waiting. */
  pending(): boolean {
    return (
      Atomics.load(this.verdicts, EX_TAIL) !== this.exHead ||
      Atomics.load(this.verdicts, DONE) !== (this.settledUpTo | 0) ||
      (this.outbox.size > 0 && this.writer.fits(Math.min(this.outbox.peek()!.enc.length, this.writer.maxRecord)))
    );
  }

  /** Applies the receiver's verdicts and writes what the outbox holds; true if anything happened. */
  poll(): boolean {
    let worked = false;
    // Seqs are counted without bound here and kept mod 2^32 in shared memory:
    // the full values are rebuilt by their distance (< 2^31) from ours.
    const done = this.settledUpTo + ((Atomics.load(this.verdicts, DONE) - (this.settledUpTo | 0)) | 0);
    const tail = Atomics.load(this.verdicts, EX_TAIL);
    while (this.exHead !== tail) {
      const at = EX_ENTRIES + (this.exHead & (EXCEPTIONS - 1)) * 2;
      const [seq, code] = readEntry(this.verdicts, at);
      this.exHead = (this.exHead + 1) | 0;
      if (code === HELD) this.flow.hold(seq);
      else this.flow.settle(seq, code === ADMITTED ? undefined : errorOf(code));
      worked = true;
    }
    // Stored only when it moved: a store takes the line from the receiver, which reads it every drain.
    if (worked) Atomics.store(this.verdicts, EX_HEAD, this.exHead);
    if (done !== this.settledUpTo) {
      this.flow.settleUpTo(done);
      this.settledUpTo = done;
      worked = true;
    }
    if (this.outbox.size > 0 && this.flushOutbox()) worked = true;
    return worked;
  }

  fail(err: FosError): void {
    this.flow.fail(err);
    this.outbox.drain();
    this.wakeIdle();
  }

  /** Writes one encoded message, or queues a copy of it when the ring is full; returns its seq. */
  private write(enc: Encoded): number {
    const seq = ++this.written;
    // The common case, a record that fits now, allocates nothing here.
    if (this.outbox.size > 0 || enc.length > this.writer.maxRecord || !this.writeRecord(enc)) {
      const item: Outgoing = { enc, offset: 0 };
      if (this.outbox.size > 0 || !this.writeItem(item)) {
        // `enc` lives in msgpackr's reused buffer: a waiting record keeps a copy.
        this.outbox.push(item.whole !== undefined ? item : { enc: enc.keep(), offset: 0 });
      }
    }
    ringBell(this.peerBell);
    wrote();
    return seq;
  }

  /** Writes a record of at most maxRecord bytes if it fits now. */
  private writeRecord(enc: Encoded): boolean {
    const w = this.writer;
    const at = w.reserve(enc.length);
    if (at < 0) return false;
    enc.writeTo(w.bytes, at); // straight from msgpackr's buffer into the ring: one copy
    w.commit();
    return true;
  }

  private flushOutbox(): boolean {
    let wrote = false;
    for (let item = this.outbox.peek(); item !== undefined; item = this.outbox.peek()) {
      const before = item.offset;
      const complete = this.writeItem(item);
      if (item.offset !== before || complete) wrote = true;
      if (!complete) break;
      this.outbox.shift();
    }
    if (wrote) ringBell(this.peerBell);
    return wrote;
  }

  /** Writes as much of `item` as fits; true once all of it is in the ring. */
  private writeItem(item: Outgoing): boolean {
    const { enc } = item;
    const w = this.writer;
    if (enc.length <= w.maxRecord) return this.writeRecord(enc);
    if (item.whole === undefined) {
      item.whole = new Uint8Array(enc.length);
      enc.writeTo(item.whole, 0);
    }
    const whole = item.whole;
    while (item.offset < whole.length) {
      const len = Math.min(w.maxRecord, whole.length - item.offset);
      const frag = item.offset === 0 ? Frag.First : item.offset + len === whole.length ? Frag.Last : Frag.Middle;
      const at = w.reserve(len, frag);
      if (at < 0) return false;
      w.bytes.set(whole.subarray(item.offset, item.offset + len), at);
      w.commit();
      item.offset += len;
    }
    return true;
  }
}

/** What the receiving runtime decides for one message. */
export type ShmVerdict = 'admitted' | 'held' | 'untracked' | FosError;

export class ChannelFailure extends Error {
  override readonly name = 'ChannelFailure';
}

/** The receiving end: drains the ring and writes verdicts. */
export class ShmIn {
  private readonly reader: RingReader;
  private readonly verdicts: Int32Array;
  private readonly syncSlot: SyncSlot;
  /** The ticket of the last callSync drained, until it is answered (then 0): the one its blocked caller waits for (see the slot's protocol). */
  private latestSync = 0;
  /** Set by endSync: what every callSync drained from then on is answered. */
  private syncRefusal: FosError | undefined;
  /** The meta parts the ring carried, as the sender's table has them. */
  private readonly metas: RecordMetasIn = new MetaIn();
  private handled = 0;
  /** The `handled` last published as `done`. */
  private published = 0;
  /** Records of the current drain that wait for a verdict (not replies, not callSync calls). */
  private tracked = 0;
  private exTail = 0;
  private readonly late: [number, number][] = [];
  /**
   * True during a drain: its room for exceptions was counted at its start,
   * and a handler run inside it (serve takes calls as they come) may free a
   * held message of this channel, whose late verdict must then wait in
   * `late` rather than take that room.
   */
  private draining = false;
  private fragments: Uint8Array[] | undefined;
  /** Withdraws a held message by seq (a cancelled send, a failed channel); false if it is no longer held. */
  readonly waitingRoom = new Map<number, (why: FosError) => boolean>();
  /** Seqs withdrawn before their record was drained: refused on arrival. */
  private readonly withdrawn = new Set<number>();

  constructor(
    readonly peer: number,
    readonly sab: SharedArrayBuffer,
    readonly capacity: number,
    private readonly peerBell: Int32Array,
  ) {
    this.reader = new RingReader(sab, 0, capacity);
    this.verdicts = verdictView(sab, capacity);
    this.syncSlot = slotOf(sab, capacity);
  }

  /**
   * Answers the callSync `ticket` that came by this channel, into its
   * caller's sync slot: a value when `ok`, else the error `value`. False
   * when its caller no longer waits for it (it sent a later one since).
   */
  answerSync(ticket: number, ok: boolean, value: unknown): boolean {
    if (ticket === 0 || ticket !== this.latestSync) return false;
    this.syncSlot.write(ticket, ok, value);
    this.latestSync = 0; // answered: endSync has nothing to end, a second answer is dropped
    return true;
  }

  awaits(ticket: number): boolean {
    return ticket !== 0 && ticket === this.latestSync;
  }

  /**
   * From now on, callSyncs that come by this channel are answered `err` as
   * they are drained, never delivered; the last one drained is answered
   * `err` now unless it has had its answer (its handler, queued or
   * running, then drops it: see `awaits`). For a node that shuts down: a
   * worker blocked in a callSync on this isolate could not hear its stop.
   */
  endSync(err: FosError): void {
    this.syncRefusal = err;
    if (this.latestSync !== 0) this.answerSync(this.latestSync, false, err);
  }

  /** This channel is given up: a callSync blocked on its answer fails with ECONNRESET at once. */
  close(): void {
    this.syncSlot.close();
  }

  ready(): boolean {
    return this.reader.ready() || this.late.length > 0;
  }

  /** The seq of the last record handled: delivered, held or refused. */
  get handledUpTo(): number {
    return this.handled;
  }

  /**
   * Handles every ready message (as room for verdicts allows) with
   * `onMessage`; true if anything happened. Throws ChannelFailure on a
   * corrupt ring or an undecodable record.
   */
  drain(onMessage: (env: Envelope, seq: number) => ShmVerdict): boolean {
    let worked = this.flushLate();
    if (this.late.length > 0) return worked;
    const room = EXCEPTIONS - ((this.exTail - Atomics.load(this.verdicts, EX_HEAD)) | 0);
    if (room <= 0) return worked;
    let n: number;
    this.draining = true;
    try {
      n = this.reader.drain((data, start, end, frag) => this.onRecord(data, start, end, frag, onMessage), room);
    } catch (e) {
      this.draining = false;
      if (e instanceof RingCorruption || e instanceof FosError) {
        // What was handled before the bad record reached its mailbox: say so.
        this.flushLate();
        this.publish();
        throw new ChannelFailure(`shm channel from isolate ${this.peer} failed: ${e.message}`);
      }
      // A bug of ours: what was handled still gets its verdicts, and the sender its ring.
      this.publish();
      throw e;
    }
    this.draining = false;
    if (n > 0) {
      worked = true;
      // Only a verdict someone waits for is published (a store here and the
      // sender's next read of it each move a cache line between the cores,
      // which a callSync would pay for nothing); and at least every 2^20
      // records, so that the sender's rebuilding of seqs from 32 bits holds.
      if (this.tracked > 0 || this.handled - this.published >= 1 << 20) this.publish();
      // The records it took freed room in the ring: a sender waiting for it (its outbox) must hear so.
      else ringBell(this.peerBell);
    }
    if (this.flushLate()) worked = true;
    return worked;
  }

  /** Publishes `done` up to `upTo` (every record up to it has its verdict written), and rings the sender. */
  private publish(upTo = this.handled): void {
    this.tracked = 0;
    this.published = upTo;
    Atomics.store(this.verdicts, DONE, upTo);
    ringBell(this.peerBell);
  }

  /**
   * The sender withdraws message `seq` (its send was aborted, its call timed
   * out). If it waits for room it is taken out; if it is still in the ring
   * (the withdrawal came by the kernel link, ahead of the record), it is
   * refused when it comes. Otherwise it is in its mailbox already.
   */
  withdraw(seq: number, err: FosError): void {
    const waiting = this.waitingRoom.get(seq);
    if (waiting !== undefined) {
      if (waiting(err)) this.verdict(seq, err);
      return;
    }
    if (seq > this.handled && this.withdrawn.size < MAX_EARLY_WITHDRAWALS) this.withdrawn.add(seq);
  }

  /** The later verdict on a held message: admitted (no error) or refused. */
  verdict(seq: number, err: FosError | undefined): void {
    this.waitingRoom.delete(seq);
    this.late.push([seq, err === undefined ? ADMITTED : codeOf(err)]);
    if (!this.draining) this.flushLate();
  }

  private onRecord(data: Uint8Array, start: number, end: number, frag: Frag, onMessage: (env: Envelope, seq: number) => ShmVerdict): void {
    let env: Envelope;
    if (frag === Frag.Whole) {
      if (this.fragments !== undefined) throw new RingCorruption('a whole record inside a fragmented one');
      env = decode(data, start, end, this.metas);
    } else if (frag === Frag.First) {
      if (this.fragments !== undefined) throw new RingCorruption('a first fragment inside a fragmented record');
      this.fragments = [data.slice(start, end)];
      return;
    } else {
      if (this.fragments === undefined) throw new RingCorruption('a fragment with no first');
      this.fragments.push(data.slice(start, end));
      if (frag === Frag.Middle) return;
      const whole = concat(this.fragments);
      this.fragments = undefined;
      env = decode(whole, 0, whole.length, this.metas);
    }
    const seq = ++this.handled;
    if (env.type === RecordType.Message && env.call?.sync === true) {
      this.latestSync = env.call.id;
      // An untracked record needs no verdict: its answer is all its caller waits for.
      if (this.syncRefusal !== undefined) {
        this.answerSync(env.call.id, false, this.syncRefusal);
        return;
      }
    }
    if (this.withdrawn.delete(seq)) {
      this.tracked++; // its sender waits for this refusal: the drain ends with a ring
      this.except(seq, codeOf(new FosError('ECANCELED', 'withdrawn')));
      return;
    }
    // A call's handler runs inside this drain and may take long (or block
    // in a callSync of its own): the verdicts of the records before it go
    // out first rather than wait for it.
    if (this.tracked > 0 && env.type === RecordType.Message && env.call !== undefined) this.publish(seq - 1);
    const v = onMessage(env, seq);
    if (v === 'untracked') return;
    this.tracked++;
    if (v !== 'admitted') this.except(seq, v === 'held' ? HELD : codeOf(v));
    // A batch fills much of its sender's window: free it now, not after the
    // rest of the drain, so the sender writes on while this side works.
    if (env.type === RecordType.Message && env.batch === true) this.publish();
  }

  private except(seq: number, code: number): void {
    writeEntry(this.verdicts, EX_ENTRIES + (this.exTail & (EXCEPTIONS - 1)) * 2, seq, code);
    this.exTail = (this.exTail + 1) | 0;
    Atomics.store(this.verdicts, EX_TAIL, this.exTail);
  }

  /** Writes the late verdicts there is room for, and wakes the sender if it wrote any. */
  private flushLate(): boolean {
    if (this.late.length === 0) return false;
    let room = EXCEPTIONS - ((this.exTail - Atomics.load(this.verdicts, EX_HEAD)) | 0);
    let k = 0;
    while (k < this.late.length && room > 0) {
      const [seq, code] = this.late[k++]!;
      this.except(seq, code);
      room--;
    }
    this.late.splice(0, k);
    // Every write of a verdict is followed by a ring: a sender that parked
    // after reading the exceptions so far must hear of these.
    if (k > 0) ringBell(this.peerBell);
    return k > 0;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
