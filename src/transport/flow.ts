/**
 * Flow control for one transport to one peer isolate: the sending half that
 * the kernel link and the shm channel share.
 *
 * A sliding window of unacknowledged messages per destination mailbox (a
 * "lane"), as in TCP: a message is posted only while fewer than `window`
 * messages to the same mailbox are unacknowledged; the rest wait in that
 * lane's backlog, in send order. A frame that carries a batch of messages
 * (sendMany) weighs as many; one heavier than the window goes alone. The receiver gives a verdict per message
 * once it is in its mailbox (or refused), so a send's promise settles on the
 * receiver's verdict and a full mailbox pushes back on its own senders only:
 * a lane per mailbox keeps one full mailbox from blocking traffic to the
 * peer's other mailboxes.
 *
 * Invariants:
 * - `inflight` holds exactly the posted frames without a verdict, keyed by
 *   seq; `lane.inflight` sums the weights of those of one mailbox and never
 *   exceeds `window` unless a single frame does;
 * - a lane's backlog is non-empty only while the transport cannot post
 *   (`canPost()` false) or the lane's window is full, and it keeps send order:
 *   messages to one mailbox are posted in the order `send` was called, which
 *   with an in-order transport gives FIFO per (sender isolate, mailbox);
 * - a lane exists only while it has a message in flight or waiting;
 * - `held` seqs (shm: the receiver parked them in a full mailbox) are
 *   skipped by cumulative verdicts and settle only by their own verdict;
 * - after `fail()`, everything is empty and every later send fails at once.
 */
import type { TransferListItem } from 'node:worker_threads';
import { asFosError, canceled, FosError, toWire } from '../errors.js';
import { Deque } from '../util/deque.js';
import type { AbortLike } from '../util/withdrawal.js';
import { woke } from '../util/wakeups.js';

/** A lane's key: the destination mailbox number, or a string naming a mailbox beyond the peer (a forwarded message). */
export type LaneKey = number | string;

export interface FlowSendOptions {
  /** Wait for room (the default), or fail with EAGAIN when the window or the transport is full. */
  readonly wait?: boolean | undefined;
  readonly signal?: AbortLike | undefined;
  readonly transfer?: readonly TransferListItem[] | undefined;
}

/** What a transport does for the flow. */
export interface FlowTransport<F> {
  /** Whether `post` may be called now. */
  canPost(): boolean;
  /** Whether the transport itself is full, so a non-waiting send gets EAGAIN. */
  congested(): boolean;
  /** Sends `frame` and returns the seq the verdict will name; throws if it cannot be sent. */
  post(frame: F, to: LaneKey, transfer: readonly TransferListItem[] | undefined): number;
  /** Asks the receiver to withdraw message `seq` if it still waits for room. */
  withdraw(seq: number): void;
  /** Nothing to mailbox `to` is in flight or waiting any more. */
  idle?(to: LaneKey): void;
}

interface Lane {
  /** The weight posted and without a verdict. */
  inflight: number;
  /** The weight waiting in `backlog`. */
  queued: number;
  /** The seq of the last message posted to this mailbox. */
  lastSeq: number;
  readonly backlog: Deque<Pending>;
}

interface Pending {
  /** Until it is posted: then dropped, so that a message in flight keeps nothing of its own alive but this. */
  frame: unknown;
  readonly to: LaneKey;
  readonly lane: Lane;
  readonly transfer: readonly TransferListItem[] | undefined;
  /** Messages the frame carries. */
  readonly weight: number;
  readonly resolve: () => void;
  readonly reject: (e: FosError) => void;
  /** The send's signal and the listener this flow put on it, taken off when the send settles. */
  readonly signal: AbortLike | undefined;
  onAbort: (() => void) | undefined;
  /** Set once posted. */
  seq: number;
}

export const DEFAULT_WINDOW = 1024;

const ONCE = { once: true } as const;

/** Settles a send: its listener leaves its signal, its promise resolves, or rejects with `err`. */
function finish(p: Pending, err: FosError | undefined): void {
  if (p.onAbort !== undefined) {
    p.signal!.removeEventListener('abort', p.onAbort);
    p.onAbort = undefined;
  }
  if (err === undefined) p.resolve();
  else p.reject(err);
}

/** A frame's weight: the number of messages of a batch (sendMany), else 1. */
export function weightOf(data: unknown, batch: boolean | undefined): number {
  return batch === true && Array.isArray(data) ? Math.max(1, data.length) : 1;
}

export class Flow<F> {
  private readonly inflight = new Map<number, Pending>();
  private readonly lanes = new Map<LaneKey, Lane>();
  private readonly held = new Set<number>();
  /** Every seq up to this one has had its cumulative verdict. */
  private cumulative = 0;
  private failure: FosError | undefined;

  constructor(
    private readonly transport: FlowTransport<F>,
    /** Most messages to one mailbox without a verdict. */
    readonly window = DEFAULT_WINDOW,
  ) {}

  get failed(): FosError | undefined {
    return this.failure;
  }

  /** True when the transport itself is full (a non-waiting send would get EAGAIN). */
  congested(): boolean {
    return this.transport.congested();
  }

  /** True while some message to mailbox `to` waits for its verdict or to be posted. */
  busy(to: LaneKey): boolean {
    return this.lanes.has(to);
  }

  /** True while a message to mailbox `to` posted after `seq`, or not posted yet, waits for its verdict. */
  busySince(to: LaneKey, seq: number): boolean {
    const lane = this.lanes.get(to);
    return lane !== undefined && (lane.backlog.size > 0 || lane.lastSeq > seq);
  }

  /** True while a message to mailbox `to` waits in its backlog, not posted yet (what is posted is ahead of anything posted later). */
  backloggedTo(to: LaneKey): boolean {
    const lane = this.lanes.get(to);
    return lane !== undefined && lane.backlog.size > 0;
  }

  /** True when a frame of `weight` messages sent to `to` now would be posted at once, not wait in a backlog. */
  postsNow(to: LaneKey, weight = 1): boolean {
    if (this.failure !== undefined || !this.transport.canPost()) return false;
    const lane = this.lanes.get(to);
    return lane === undefined || (lane.backlog.size === 0 && this.fits(lane, weight));
  }

  /** Messages accepted by `send` and not yet posted. */
  get backlogged(): number {
    let n = 0;
    for (const lane of this.lanes.values()) n += lane.backlog.size;
    return n;
  }

  /** Sends `frame` (carrying `weight` messages) to mailbox `to`; settles on the receiver's verdict. */
  send(frame: F, to: LaneKey, opts: FlowSendOptions, weight = 1): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(canceled('send aborted', signal));
    let lane = this.lanes.get(to);
    if (lane === undefined) this.lanes.set(to, (lane = { inflight: 0, queued: 0, lastSeq: 0, backlog: new Deque() }));
    if (opts.wait === false) {
      const ahead = lane.inflight + lane.queued;
      if (ahead > 0 && ahead + weight > this.window) {
        this.dropIfIdle(to, lane);
        return Promise.reject(new FosError('EAGAIN', `${this.window} messages to the mailbox are unacknowledged`));
      }
      if (this.transport.congested()) {
        this.dropIfIdle(to, lane);
        return Promise.reject(new FosError('EAGAIN', 'the channel to the isolate is full'));
      }
    }
    return new Promise<void>((resolve, reject) => {
      const p: Pending = { frame, to, lane, transfer: opts.transfer, weight, resolve, reject, signal, onAbort: undefined, seq: 0 };
      if (signal !== undefined) {
        // One closure per send with a signal (every call has one): settling goes through finish().
        p.onAbort = () => this.abort(p);
        signal.addEventListener('abort', p.onAbort, ONCE);
      }
      if (lane.backlog.size === 0 && this.fits(lane, weight) && this.transport.canPost()) this.post(p);
      else {
        lane.backlog.push(p);
        lane.queued += weight;
      }
    });
  }

  /** Posts what waits in the backlogs, as far as windows and the transport allow. */
  pump(): void {
    for (const [to, lane] of this.lanes) this.pumpLane(to, lane);
  }

  /** The verdict on message `seq`: undefined when it reached its mailbox. */
  settle(seq: number, err: FosError | undefined): void {
    const p = this.inflight.get(seq);
    if (p === undefined) return;
    this.inflight.delete(seq);
    this.held.delete(seq);
    p.lane.inflight -= p.weight;
    woke();
    // Withdrawn at its signal's word: the receiver's ECANCELED knows nothing
    // of the signal, the sender's error carries its reason (as `cause`).
    if (err?.code === 'ECANCELED' && p.signal?.aborted === true) err = canceled(toWire(err).message, p.signal);
    finish(p, err);
    this.pumpLane(p.to, p.lane);
  }

  /**
   * Every message from `from` to `to` reached its mailbox. A range wider
   * than what is in flight is walked over the messages in flight, so that
   * its cost never exceeds theirs (a peer's range may be anything).
   */
  settleRange(from: number, to: number): void {
    if (to - from < this.inflight.size) {
      for (let s = from; s <= to; s++) this.settle(s, undefined);
      return;
    }
    for (const s of [...this.inflight.keys()]) if (s >= from && s <= to) this.settle(s, undefined);
  }

  /** Every message up to `seq` reached its mailbox, except those held. */
  settleUpTo(seq: number): void {
    // Seqs of records that needed no verdict (replies, callSync calls) may
    // stretch far: walk what is in flight instead when that is shorter.
    if (seq - this.cumulative <= this.inflight.size) {
      for (let s = this.cumulative + 1; s <= seq; s++) if (!this.held.has(s)) this.settle(s, undefined);
    } else {
      for (const s of [...this.inflight.keys()]) if (s <= seq && !this.held.has(s)) this.settle(s, undefined);
    }
    if (seq > this.cumulative) this.cumulative = seq;
  }

  /** Message `seq` waits for room in its mailbox: its verdict will come on its own. */
  hold(seq: number): void {
    if (this.inflight.has(seq)) this.held.add(seq);
  }

  /** The peer is gone: every unsettled send fails with `err`; later sends too. */
  fail(err: FosError): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    woke();
    for (const p of this.inflight.values()) finish(p, err);
    this.inflight.clear();
    this.held.clear();
    for (const lane of this.lanes.values()) for (const p of lane.backlog.drain()) finish(p, err);
    this.lanes.clear();
  }

  private abort(p: Pending): void {
    if (p.lane.backlog.remove(p)) {
      p.lane.queued -= p.weight;
      this.dropIfIdle(p.to, p.lane);
      finish(p, canceled('send aborted before it left', p.signal));
    } else if (this.inflight.get(p.seq) === p) {
      // Posted: only the receiver knows whether it is queued yet. It is asked
      // to withdraw the message if it still waits for room; its verdict (ok
      // or ECANCELED) settles the send.
      this.transport.withdraw(p.seq);
    }
  }

  private pumpLane(to: LaneKey, lane: Lane): void {
    for (let p = lane.backlog.peek(); p !== undefined && this.fits(lane, p.weight) && this.transport.canPost(); p = lane.backlog.peek()) {
      lane.queued -= p.weight;
      this.post(lane.backlog.shift()!);
    }
    this.dropIfIdle(to, lane);
  }

  /** Whether a frame of `weight` may be posted to `lane` now: it fits the window, or goes alone. */
  private fits(lane: Lane, weight: number): boolean {
    return lane.inflight === 0 || lane.inflight + weight <= this.window;
  }

  private dropIfIdle(to: LaneKey, lane: Lane): void {
    if (lane.inflight === 0 && lane.backlog.size === 0 && this.lanes.get(to) === lane) {
      this.lanes.delete(to);
      this.transport.idle?.(to);
    }
  }

  private post(p: Pending): void {
    let seq: number;
    try {
      seq = this.transport.post(p.frame as F, p.to, p.transfer);
    } catch (e) {
      finish(p, asFosError(e, 'message cannot be sent'));
      this.dropIfIdle(p.to, p.lane);
      return;
    }
    p.seq = seq;
    p.frame = undefined;
    p.lane.inflight += p.weight;
    p.lane.lastSeq = seq;
    this.inflight.set(seq, p);
  }
}
