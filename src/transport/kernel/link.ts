/**
 * A kernel link: the sending and acknowledging half of one isolate's
 * conversation with one peer isolate over a MessagePort (or the Worker /
 * parentPort pair for the main thread).
 *
 * Flow control is a sliding window of unacknowledged messages per
 * destination mailbox (a "lane"), as in TCP: a message is posted only while
 * fewer than `window` messages to the same mailbox are unacknowledged; the
 * rest wait in that lane's backlog, in send order. The receiver acknowledges
 * a message once it is in its mailbox (or refuses it), so a send's promise
 * settles on the receiver's verdict and a full mailbox pushes back on its
 * senders — on its own senders only: a lane per mailbox keeps one full
 * mailbox from blocking traffic to the peer's other mailboxes.
 *
 * Invariants:
 * - `inflight` holds exactly the posted, unacknowledged messages, keyed by
 *   seq; `lane.inflight` counts those of one mailbox, and never exceeds
 *   `window`;
 * - a lane's backlog is non-empty only while the port is not attached yet or
 *   the lane's window is full, and its order is the send order: messages to
 *   one mailbox are posted in the order `send` was called, which with
 *   MessagePort's FIFO delivery gives FIFO per (sender isolate, mailbox);
 * - a lane exists only while it has a message in flight or waiting, so the
 *   map stays as small as the traffic;
 * - after `fail()`, everything is empty and every later send fails at once.
 */
import type { TransferListItem } from 'node:worker_threads';
import { FosError, fromWire, toWire, type ErrorCode } from '../../errors.js';
import { Deque } from '../../util/deque.js';
import type { Acks, Frame, MsgFrame } from './frames.js';

/** What a link posts on: a MessagePort, a Worker, or a worker's parentPort. */
export interface Endpoint {
  postMessage(value: unknown, transfer?: readonly TransferListItem[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'message', listener: (value: unknown) => void): unknown;
}

export interface SendOptions {
  readonly wait: boolean;
  readonly signal?: AbortSignal | undefined;
  readonly transfer?: readonly TransferListItem[] | undefined;
}

interface Lane {
  inflight: number;
  readonly backlog: Deque<Pending>;
}

interface Pending {
  readonly frame: MsgFrame;
  readonly lane: Lane;
  readonly transfer: readonly TransferListItem[] | undefined;
  resolve: () => void;
  reject: (e: FosError) => void;
  /** Set once posted: the seq the receiver will acknowledge. */
  seq: number;
}

export const DEFAULT_WINDOW = 1024;

export class KernelLink {
  private endpoint: Endpoint | undefined;
  /** True when this link owns its port and closes it on failure. */
  private ownsEndpoint = false;
  private listener: ((v: unknown) => void) | undefined;
  private nextSeq = 1;
  private readonly inflight = new Map<number, Pending>();
  private readonly lanes = new Map<number, Lane>();
  private failure: FosError | undefined;
  // Receiving half: verdicts not yet sent back.
  private ackRanges: number[] = [];
  private nacks: [number, ReturnType<typeof toWire>][] = [];
  private flushScheduled = false;
  /** Receiving half: withdraws a message of the peer still waiting for room, by seq. */
  readonly waitingRoom = new Map<number, () => boolean>();

  constructor(
    readonly peer: number,
    private readonly onFrame: (link: KernelLink, frame: Frame) => void,
    private readonly window = DEFAULT_WINDOW,
  ) {}

  get attached(): boolean {
    return this.endpoint !== undefined;
  }


  /** Starts using `endpoint`; messages sent before are posted now, in order. */
  attach(endpoint: Endpoint, owned: boolean): void {
    if (this.failure !== undefined || this.endpoint !== undefined) return;
    this.endpoint = endpoint;
    this.ownsEndpoint = owned;
    this.listener = (v) => this.onFrame(this, v as Frame);
    endpoint.on('message', this.listener);
    this.pump();
  }

  /** Sends a message frame (its `s` is assigned here); settles on the receiver's verdict. */
  send(frame: MsgFrame, opts: SendOptions): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(new FosError('ECANCELED', 'send aborted'));
    let lane = this.lanes.get(frame.to);
    if (lane === undefined) this.lanes.set(frame.to, (lane = { inflight: 0, backlog: new Deque() }));
    if (!opts.wait && lane.inflight + lane.backlog.size >= this.window) {
      return Promise.reject(new FosError('EAGAIN', `${this.window} messages to the mailbox are unacknowledged`));
    }
    return new Promise<void>((resolve, reject) => {
      const p: Pending = { frame, lane, transfer: opts.transfer, resolve, reject, seq: 0 };
      if (signal !== undefined) {
        const onAbort = (): void => this.abort(p);
        signal.addEventListener('abort', onAbort, { once: true });
        p.resolve = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        p.reject = (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        };
      }
      if (this.endpoint !== undefined && lane.backlog.size === 0 && lane.inflight < this.window) this.post(p);
      else lane.backlog.push(p);
    });
  }

  /** Posts a frame that needs no acknowledgement (a reply, a control frame). */
  postUnacked(frame: Frame, transfer?: readonly TransferListItem[]): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.endpoint === undefined) throw new FosError('ECONNRESET', `no channel to isolate ${this.peer} yet`);
    this.withAcks(frame as Acks);
    this.endpoint.postMessage(frame, transfer);
  }

  /** Receiving half: message `seq` reached its mailbox. */
  ack(seq: number): void {
    const r = this.ackRanges;
    if (r.length > 0 && r[r.length - 1] === seq - 1) r[r.length - 1] = seq;
    else r.push(seq, seq);
    this.scheduleFlush();
  }

  /** Receiving half: message `seq` was refused. */
  nack(seq: number, err: FosError): void {
    this.nacks.push([seq, toWire(err)]);
    this.scheduleFlush();
  }

  /** Applies the verdicts a frame from the peer carries. */
  applyAcks(frame: Acks): void {
    const a = frame.a;
    if (a !== undefined) {
      for (let i = 0; i + 1 < a.length; i += 2) {
        for (let s = a[i]!; s <= a[i + 1]!; s++) this.settle(s, undefined);
      }
    }
    if (frame.n !== undefined) for (const [s, e] of frame.n) this.settle(s, fromWire(e));
  }

  /** The peer is gone: every unacknowledged send fails with `code`; later sends too. */
  fail(code: ErrorCode, why: string): void {
    if (this.failure !== undefined) return;
    this.failure = new FosError(code, why);
    if (this.endpoint !== undefined && this.listener !== undefined) this.endpoint.off('message', this.listener);
    if (this.ownsEndpoint) (this.endpoint as { close?: () => void } | undefined)?.close?.();
    for (const p of this.inflight.values()) p.reject(this.failure);
    this.inflight.clear();
    for (const lane of this.lanes.values()) for (const p of lane.backlog.drain()) p.reject(this.failure);
    this.lanes.clear();
    this.ackRanges = [];
    this.nacks = [];
  }

  private abort(p: Pending): void {
    if (p.lane.backlog.remove(p)) {
      this.dropIfIdle(p.frame.to, p.lane);
      p.reject(new FosError('ECANCELED', 'send aborted before it left'));
    } else if (this.inflight.has(p.seq) && this.endpoint !== undefined) {
      // Posted: only the receiver knows whether it is queued yet. Ask it to
      // withdraw the message if it is still waiting for room; the verdict
      // (ack or ECANCELED) settles the send.
      this.postUnacked({ t: 'x', s: p.seq });
    }
  }

  private pump(): void {
    for (const [to, lane] of this.lanes) this.pumpLane(to, lane);
  }

  private pumpLane(to: number, lane: Lane): void {
    while (this.endpoint !== undefined && lane.inflight < this.window) {
      const p = lane.backlog.shift();
      if (p === undefined) break;
      this.post(p);
    }
    this.dropIfIdle(to, lane);
  }

  private dropIfIdle(to: number, lane: Lane): void {
    if (lane.inflight === 0 && lane.backlog.size === 0 && this.lanes.get(to) === lane) this.lanes.delete(to);
  }

  private post(p: Pending): void {
    const frame = p.frame;
    frame.s = this.nextSeq;
    this.withAcks(frame);
    try {
      this.endpoint!.postMessage(frame, p.transfer);
    } catch (e) {
      p.reject(new FosError('EINVAL', `message cannot be sent: ${(e as Error).message}`));
      this.dropIfIdle(frame.to, p.lane);
      return;
    }
    this.nextSeq++;
    p.seq = frame.s;
    p.lane.inflight++;
    this.inflight.set(frame.s, p);
  }

  private settle(seq: number, err: FosError | undefined): void {
    const p = this.inflight.get(seq);
    if (p === undefined) return;
    this.inflight.delete(seq);
    p.lane.inflight--;
    if (err === undefined) p.resolve();
    else p.reject(err);
    this.pumpLane(p.frame.to, p.lane);
  }

  /** Moves pending verdicts onto an outgoing frame (piggybacking). */
  private withAcks(frame: Acks): void {
    if (this.ackRanges.length > 0) {
      frame.a = this.ackRanges;
      this.ackRanges = [];
    }
    if (this.nacks.length > 0) {
      frame.n = this.nacks;
      this.nacks = [];
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current batch of incoming frames: one ack frame covers them
    // all, unless an outgoing frame has carried the verdicts already.
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.failure !== undefined || this.endpoint === undefined) return;
      if (this.ackRanges.length === 0 && this.nacks.length === 0) return;
      this.postUnacked({ t: 'a' });
    });
  }
}
