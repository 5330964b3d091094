/**
 * A kernel link: one isolate's conversation with one peer isolate over a
 * MessagePort (or the Worker / parentPort pair for the main thread).
 *
 * Sending: messages go through a Flow (per-mailbox windows, verdicts per
 * message); message, reply and ack frames go as flat arrays (flat.ts). Frames carry
 * a per-link seq; the receiver sends its verdicts back as acknowledged seq
 * ranges and refusals, piggybacked on whatever frame it sends next, or in
 * an ack frame of their own after the batch of incoming frames (one
 * `setImmediate` later; at once in a polling isolate, see pollSource).
 *
 * Invariants:
 * - seqs are assigned in posting order, 1, 2, 3, ...; MessagePort delivers in
 *   that order;
 * - verdicts not yet sent back wait in `verdicts`, and leave it only when
 *   the frame carrying them is actually posted (a frame that fails to
 *   clone leaves them there), so no verdict is ever lost;
 * - the meta entry a frame defines joins `metasOut` only once the frame is
 *   posted, as read from the posted frame itself; a frame posted during
 *   another's post touches no table; and every frame received goes through
 *   `unflattenFrame` with `metasIn` in arrival order, so both ends' tables
 *   agree (flat.ts).
 */
import { MessagePort, receiveMessageOnPort, type TransferListItem } from 'node:worker_threads';
import { FosError, type ErrorCode } from '../../errors.js';
import { Flow, type FlowSendOptions, type LaneKey } from '../flow.js';
import { applyVerdicts, PendingVerdicts } from '../verdicts.js';
import type { PumpSource } from '../shm/pump.js';
import { flattenFrame, posted, seqOfUnreadable, unflattenFrame, type FrameMetasIn } from './flat.js';
import { MetaIn, MetaOut } from '../../util/meta-table.js';
import { moveTransferred } from '../../util/transfer.js';
import type { Acks, Frame, MsgFrame } from './frames.js';

/** What a link posts on: a MessagePort, a Worker, or a worker's parentPort. */
export interface Endpoint {
  postMessage(value: unknown, transfer?: readonly TransferListItem[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  on(event: 'messageerror', listener: (error: Error) => void): unknown;
  off(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'messageerror', listener: (error: Error) => void): unknown;
}

export class KernelLink {
  private endpoint: Endpoint | undefined;
  /** True when this link owns its port and closes it on failure. */
  private ownsEndpoint = false;
  private listener: ((v: unknown) => void) | undefined;
  private nextSeq = 1;
  readonly flow: Flow<MsgFrame>;
  /** Receiving half: verdicts not yet sent back. */
  private readonly verdicts = new PendingVerdicts();
  private flushScheduled = false;
  /**
   * True while a frame from the peer is handed on: verdicts given meanwhile
   * are scheduled for sending after it, only if no frame sent during it (a
   * served call's reply) carried them. A call answered at once then costs
   * no setImmediate.
   */
  private receiving = false;
  /** Receiving half: withdraws a message of the peer still waiting for room, by seq. */
  readonly waitingRoom = new Map<number, () => boolean>();
  /** The meta tuples of the frames this end posted, and of those it received (flat.ts): the peer keeps the twin of each. */
  private readonly metasOut = new MetaOut();
  private readonly metasIn: FrameMetasIn = new MetaIn();
  /** True while a frame is being posted (see postWithAcks). */
  private posting = false;

  constructor(
    readonly peer: number,
    private readonly onFrame: (link: KernelLink, frame: Frame) => void,
  ) {
    this.flow = new Flow<MsgFrame>({
      canPost: () => this.endpoint !== undefined,
      congested: () => false,
      post: (frame, _to, transfer) => this.postMsg(frame, transfer),
      withdraw: (seq) => this.postUnacked({ t: 'x', s: seq }),
    });
  }

  get attached(): boolean {
    return this.endpoint !== undefined;
  }

  /** The seq of the last message frame posted. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Starts using `endpoint`; messages sent before are posted now, in order. */
  attach(endpoint: Endpoint, owned: boolean): void {
    if (this.flow.failed !== undefined || this.endpoint !== undefined) return;
    this.endpoint = endpoint;
    this.ownsEndpoint = owned;
    this.listener = (v) => {
      let frame: Frame;
      try {
        frame = Array.isArray(v) ? unflattenFrame(v, this.metasIn) : (v as Frame);
      } catch (e) {
        // Only a bug of ours can make one: say so loudly, but keep the isolate (and everyone else's traffic) alive.
        const why = (e as Error).message;
        process.emitWarning(`fos: dropped a frame from isolate ${this.peer}: ${why}`);
        // A message frame whose seq can be read is refused, so that its sender's send settles.
        const seq = seqOfUnreadable(v);
        if (seq !== undefined) this.nack(seq, new FosError('EINVAL', `malformed frame: ${why}`));
        return;
      }
      this.receiving = true;
      try {
        this.onFrame(this, frame);
      } finally {
        this.receiving = false;
        if (!this.verdicts.empty) this.scheduleFlush();
      }
    };
    endpoint.on('message', this.listener);
    endpoint.on('messageerror', this.unreadable);
    this.flow.pump();
  }

  /**
   * Sends a message frame (its `s` is assigned when posted); settles on the
   * receiver's verdict. `lane` defaults to the destination mailbox; `weight`
   * is the number of messages the frame carries.
   */
  send(frame: MsgFrame, opts: FlowSendOptions, lane: LaneKey = frame.to, weight = 1): Promise<void> {
    if (opts.transfer !== undefined && !this.flow.postsNow(lane, weight) && opts.transfer.every((t) => t instanceof ArrayBuffer)) {
      // It waits to be posted: its buffers leave the sender now all the
      // same (as postMessage would take them), moved into a copy that waits
      // in their stead and is then posted as a plain clone. A buffer the
      // sender still held could be transferred elsewhere meanwhile, and
      // postMessage would then drop the frame without a word. (Other
      // transferables, a MessagePort, must be in the list when posted:
      // they wait with the frame, as the list gave them.)
      try {
        frame.d = moveTransferred(frame.d, opts.transfer);
      } catch (e) {
        return Promise.reject(e);
      }
      return this.flow.send(frame, lane, { wait: opts.wait, signal: opts.signal }, weight);
    }
    return this.flow.send(frame, lane, opts, weight);
  }

  /** Posts a frame that needs no verdict (a reply, a control frame). */
  postUnacked(frame: Frame, transfer?: readonly TransferListItem[]): void {
    const failure = this.flow.failed;
    if (failure !== undefined) throw failure;
    if (this.endpoint === undefined) throw new FosError('ECONNRESET', `no channel to isolate ${this.peer} yet`);
    this.postWithAcks(frame, transfer);
  }

  /**
   * Numbers and posts a message frame. The seq is taken before posting: a
   * getter of the data, run while the frame is cloned, may send on this
   * link, and its frame needs a seq of its own. A frame that fails gives
   * its seq back unless such a frame took the next one (a gap in seqs is
   * harmless: verdicts name seqs, not a count).
   */
  private postMsg(frame: MsgFrame, transfer: readonly TransferListItem[] | undefined): number {
    const s = this.nextSeq++;
    frame.s = s;
    try {
      this.postWithAcks(frame, transfer);
    } catch (e) {
      if (this.nextSeq === s + 1) this.nextSeq = s;
      throw e;
    }
    return s;
  }

  /**
   * Posts `frame` carrying the pending verdicts; they stay pending if it
   * cannot be posted. A frame posted while another is being posted (by a
   * getter of its data, during the clone) uses no meta table: it reaches
   * the peer first, and defining an entry would replace one the outer
   * frame may already name.
   */
  private postWithAcks(frame: Frame, transfer: readonly TransferListItem[] | undefined): void {
    const f = frame as Acks;
    this.verdicts.take(f);
    const outer = this.posting;
    const metas = outer ? undefined : this.metasOut;
    const flat = flattenFrame(frame, transfer !== undefined, metas);
    this.posting = true;
    try {
      this.endpoint!.postMessage(flat ?? frame, transfer);
    } finally {
      this.posting = outer;
    }
    // Only now: a frame that failed to clone defined nothing at the peer.
    if (flat !== undefined && metas !== undefined) posted(flat, metas);
    this.verdicts.clear(f);
  }

  /** Receiving half: message `seq` reached its mailbox. */
  ack(seq: number): void {
    this.verdicts.ack(seq);
    this.scheduleFlush();
  }

  /** Receiving half: message `seq` was refused. */
  nack(seq: number, err: FosError): void {
    this.verdicts.nack(seq, err);
    this.scheduleFlush();
  }

  /** Applies the verdicts a frame from the peer carries. */
  applyAcks(frame: Acks): void {
    applyVerdicts(this.flow, frame);
  }

  /**
   * The port could not rebuild a frame of the peer's ('messageerror': Node
   * emits it when an object of the frame cannot be made in this thread).
   * The frame is lost, and nothing says which it was: a message whose
   * sender waits for its verdict, a reply, or a meta definition that the
   * frames after it name, which would then be read with the entry it was
   * to replace (another capability, another reply ref). So the link is
   * given up on both ends: the peer hears it in a BrokenFrame, which
   * carries the verdicts on what did arrive, and this end takes the same
   * frame as if the peer had sent it, so that one piece of the runtime
   * handles both.
   */
  private readonly unreadable = (err: unknown): void => {
    if (this.flow.failed !== undefined) return;
    const why = `a kernel frame from isolate ${this.peer} could not be deserialized by its receiver (${err instanceof Error ? err.message : String(err)}); the link between the two is given up`;
    process.emitWarning(`fos: ${why}`);
    try {
      this.postUnacked({ t: 'e', why });
    } catch {
      // The peer is gone already: it needs no telling.
    }
    this.onFrame(this, { t: 'e', why });
  };

  /** The peer is gone: every unsettled send fails with `code`; later sends too. */
  fail(code: ErrorCode, why: string): void {
    if (this.flow.failed !== undefined) return;
    this.flow.fail(new FosError(code, why));
    if (this.endpoint !== undefined && this.listener !== undefined) {
      this.endpoint.off('message', this.listener);
      this.endpoint.off('messageerror', this.unreadable);
    }
    if (this.ownsEndpoint) (this.endpoint as { close?: () => void } | undefined)?.close?.();
    this.verdicts.reset();
    this.waitingRoom.clear();
  }

  /**
   * For an isolate that polls (a `poll: true` service): a pump source that
   * takes this link's frames off its port as the pump spins, rather than
   * when the event loop next turns (up to a poll slice later). Frames keep
   * their order: whichever takes the next one, the pump or the event loop,
   * hands it on before the other can take another. Undefined when the
   * endpoint is not a MessagePort (the main thread's Worker objects).
   */
  pollSource(): PumpSource | undefined {
    const port = this.endpoint;
    if (!(port instanceof MessagePort)) return undefined;
    let looks = 0;
    let next: { message: unknown } | undefined;
    const take = (): { message: unknown } | undefined => {
      if (this.flow.failed !== undefined) return undefined;
      try {
        return receiveMessageOnPort(port); // undefined when the peer closed the port: the link fails through its death
      } catch (e) {
        // A frame this thread cannot rebuild: taken off the port and lost, as a 'messageerror' reports it.
        this.unreadable(e);
        return undefined;
      }
    };
    return {
      pending: () => {
        if (next !== undefined) return true;
        // A look is a call into C++ and a lock: one spin in 32 looks.
        if ((++looks & 31) !== 0) return false;
        next = take();
        return next !== undefined;
      },
      poll: () => {
        let worked = false;
        for (let i = 0; i < 64; i++) {
          const m = next ?? take();
          next = undefined;
          if (m === undefined) break;
          this.listener?.(m.message);
          worked = true;
        }
        // The verdicts on this batch go now: the setImmediate that would
        // send them waits for the pump to yield, a poll slice away.
        if (worked) this.flush();
        return worked;
      },
    };
  }

  /** Sends the verdicts not yet sent, now (before the isolate exits). */
  flush(): void {
    if (this.flow.failed !== undefined || this.endpoint === undefined) return;
    if (this.verdicts.empty) return;
    try {
      this.postUnacked({ t: 'a' });
    } catch {
      // The peer is gone: nobody waits for these verdicts.
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.receiving) return;
    this.flushScheduled = true;
    // After the current batch of incoming frames: one ack frame covers them
    // all, unless an outgoing frame has carried the verdicts already.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }
}
