/**
 * A session: the conversation of this node with one peer node, which
 * outlives the TCP connections that carry it. A broken connection loses
 * nothing: every sequenced frame stays here until the peer acknowledges it,
 * and is sent again on the next connection; the peer drops what it already
 * had by seq (go-back-N with cumulative acknowledgement, as in TCP itself,
 * one level up).
 *
 * Sending: messages go through a Flow (per-mailbox windows, verdicts per
 * message, shared with the kernel and shm transports), so a send settles
 * when the peer's runtime has put the message in its mailbox or refused it.
 *
 * Invariants:
 * - sequenced frames are numbered 1, 2, 3, ... in the order they are
 *   queued; `unacked` holds, in seq order, exactly those the peer has not
 *   acknowledged, and `unackedBytes` is the sum of their lengths;
 * - frames go on the wire only in seq order, each connection starting from
 *   the first seq the peer did not have when it connected;
 * - `received` is the last seq processed; a frame is processed only when its
 *   seq is `received + 1` (a duplicate is dropped, a gap fails the
 *   connection, never the session);
 * - `received` only advances, and every frame sent carries it as its ack.
 */
import { FosError } from '../../errors.js';
import { decode, encode, packValue, RecordType, unpackValue, type Envelope, type MessageEnvelope, type ReplyEnvelope } from '../../envelope.js';
import { Deque } from '../../util/deque.js';
import { Flow, type FlowSendOptions } from '../flow.js';
import { applyVerdicts, packVerdicts, PendingVerdicts, unpackVerdicts, type VerdictLists } from '../verdicts.js';
import type { NamesUpdate } from '../../names/replicas.js';
import { MIN_MAX_FRAME } from './handshake.js';
import { FrameKind, HEADER_BYTES, newFrame, stampAck, frameWithBody, type RawFrame } from './wire.js';

/**
 * Verdicts per frame: a range is two numbers of at most 9 bytes each,
 * a refusal a seq and an error of a few hundred bytes at most, so a frame
 * of verdicts stays well under MIN_MAX_FRAME.
 */
const RANGES_PER_FRAME = 1024;
const REFUSALS_PER_FRAME = 64;

/** Where a session's frames go: a live, authenticated connection. */
export interface Wire {
  write(frame: Buffer): void;
  close(reason: string): void;
}

/** What the session hands up to the proxy. */
export interface SessionHost {
  /** A message for mailbox `env.to` of `isolate`: give the verdict with `session.verdict(seq, err)`. */
  message(session: Session, seq: number, isolate: number, env: MessageEnvelope): void;
  /** A reply for a call made by `isolate`. */
  reply(session: Session, isolate: number, env: ReplyEnvelope): void;
  /** The peer withdraws message `seq` if it still waits for room. */
  cancel(session: Session, seq: number): void;
  /** The peer's name bindings changed. */
  names(session: Session, update: unknown): void;
  /** The peer tells of nodes it knows and where they listen. */
  peers(session: Session, list: unknown): void;
  /** The bytes waiting for the peer's acknowledgement crossed the limit (true) or fell back under half of it (false). */
  slow(session: Session, slow: boolean): void;
}

export interface SessionLimits {
  /** Sends wait (or fail with EAGAIN) while this many bytes wait for the peer's acknowledgement. */
  readonly maxPendingBytes: number;
}

interface Unacked {
  readonly seq: number;
  readonly frame: Buffer;
}

/** A message as the flow carries it until it is posted: where it goes, and its envelope. */
interface Outgoing {
  readonly isolate: number;
  readonly env: MessageEnvelope;
}

export class Session {
  readonly flow: Flow<Outgoing>;
  /** Receiving half: withdraws a message of the peer still waiting for room, by seq. */
  readonly waitingRoom = new Map<number, () => void>();
  private nextSeq = 1;
  private readonly unacked = new Deque<Unacked>();
  private unackedBytes = 0;
  private wire: Wire | undefined;
  /** The largest frame both sides take: the smaller of this node's limit and the one the peer gave in its hello. */
  private maxFrame = Infinity;
  private received = 0;
  /** The ack last sent: when it trails `received`, an ack frame is due. */
  private ackSent = 0;
  private ackScheduled = false;
  /** The seq of the last message frame received, so that verdict ranges can span the frames between. */
  private lastMessageSeq = 0;
  private readonly previousMessage = new Map<number, number>();
  private readonly verdicts = new PendingVerdicts();
  private verdictScheduled = false;
  private isSlow = false;
  /** When a frame last came in (ms, performance.now()), or the session started: past the down timeout, the peer is down. */
  lastHeard = performance.now();
  /** When the current connection was adopted: a connection is judged silent from then at the earliest. */
  attachedAt = performance.now();
  /** When a frame last went out. */
  lastSent = 0;

  constructor(
    readonly peer: string,
    readonly sid: string,
    /** The peer's incarnation: fixed for the session's life (a session id is derived from both nodes' incarnations). */
    readonly incarnation: string,
    private readonly host: SessionHost,
    private readonly limits: SessionLimits,
  ) {
    this.flow = new Flow<Outgoing>({
      canPost: () => this.unackedBytes < this.limits.maxPendingBytes,
      congested: () => this.unackedBytes >= this.limits.maxPendingBytes,
      post: (m) => this.postMessage(m),
      withdraw: (seq) => this.queue(FrameKind.Cancel, packValue(seq)),
    });
  }

  get connected(): boolean {
    return this.wire !== undefined;
  }

  get pendingBytes(): number {
    return this.unackedBytes;
  }

  /** The seq of the last sequenced frame queued: the most the peer can acknowledge. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** The last seq processed: the peer resends from the one after. */
  get lastReceived(): number {
    return this.received;
  }

  /** Sends a message to mailbox `env.to` of the peer's `isolate`; settles on the peer's verdict. */
  send(isolate: number, env: MessageEnvelope, opts: FlowSendOptions, weight = 1): Promise<void> {
    return this.flow.send({ isolate, env }, `${isolate}/${env.to}`, opts, weight);
  }

  /** Sends a reply to a call `isolate` of the peer made; throws EINVAL (or EMSGSIZE) if it cannot be carried. */
  sendReply(isolate: number, env: ReplyEnvelope): void {
    this.queue(FrameKind.Msg, undefined, isolate, env);
  }

  /**
   * Sends a name update, cut into frames that fit the link: the first part
   * carries `full`, the rest add to it (a peer applies them in order); every
   * part but the last says `more`, so the peer knows when it has the whole.
   */
  sendNames(update: NamesUpdate): void {
    const budget = this.frameBudget();
    const parts: unknown[][] = [[]];
    let bytes = 0;
    for (const entry of update.entries) {
      const size = packValue(entry).length;
      if (parts[parts.length - 1]!.length > 0 && bytes + size > budget) {
        parts.push([]);
        bytes = 0;
      }
      parts[parts.length - 1]!.push(entry);
      bytes += size;
    }
    if (!update.full && parts[0]!.length === 0) return;
    parts.forEach((entries, i) => {
      const part = i < parts.length - 1 ? { full: update.full && i === 0, entries, more: true } : { full: update.full && i === 0, entries };
      this.queue(FrameKind.Names, packValue(part));
    });
  }

  sendPeers(list: [string, string][]): void {
    this.queue(FrameKind.Peers, packValue(list));
  }

  /** The receiving half's verdict on message `seq`. */
  verdict(seq: number, err: FosError | undefined): void {
    this.waitingRoom.delete(seq);
    const previous = this.previousMessage.get(seq) ?? seq - 1;
    this.previousMessage.delete(seq);
    if (err === undefined) this.verdicts.ack(seq, previous);
    else this.verdicts.nack(seq, err);
    if (this.verdictScheduled) return;
    this.verdictScheduled = true;
    // One verdict frame per batch: the messages of one chunk of the stream
    // are admitted before any microtask runs. Flushed as a microtask, it
    // leaves in the same write as a reply the handler makes in this turn.
    queueMicrotask(() => {
      try {
        this.flushVerdicts();
      } catch (e) {
        // Not reachable by the sizes above; were it, the connection goes, never the node.
        this.wire?.close(`verdicts could not be sent: ${(e as Error).message}`);
      }
    });
  }

  /**
   * Starts using `wire`, the peer having processed every seq up to
   * `peerReceived`: what it lacks is sent again, in order.
   */
  attach(wire: Wire, peerReceived: number, maxFrame: number): void {
    this.wire = wire;
    this.maxFrame = maxFrame;
    // Not `lastHeard`: a peer that shakes hands and then says nothing is still silent.
    this.attachedAt = performance.now();
    this.acknowledged(peerReceived);
    for (const u of this.unacked) this.write(u.frame);
    this.flow.pump();
  }

  /** The connection `wire` ended; frames wait for the next. */
  detach(wire: Wire): void {
    if (this.wire === wire) this.wire = undefined;
  }

  /** A frame from the peer on the attached connection. Throws EINVAL to fail the connection (a gap, a bad ack). */
  receive(f: RawFrame): void {
    this.lastHeard = performance.now();
    if (f.ack > this.nextSeq - 1) throw new FosError('EINVAL', `ack ${f.ack} of a frame never sent`);
    this.acknowledged(f.ack);
    if (f.seq === 0) return; // unsequenced: an ack, a heartbeat
    if (f.seq <= this.received) return; // a duplicate after a reconnect
    if (f.seq !== this.received + 1) throw new FosError('EINVAL', `frame ${f.seq} after ${this.received}: a gap`);
    this.received = f.seq;
    this.scheduleAck();
    this.process(f);
  }

  /** Sends a heartbeat (an ack frame) if nothing went out for `idleMs`. */
  heartbeat(now: number, idleMs: number): void {
    if (this.wire !== undefined && now - this.lastSent >= idleMs) this.sendAck();
  }

  /** The session ends (the peer is down, or this node shuts down): every pending send fails with `err`. */
  fail(err: FosError): void {
    this.flow.fail(err);
    this.unacked.drain();
    this.unackedBytes = 0;
    for (const withdraw of this.waitingRoom.values()) withdraw();
    this.waitingRoom.clear();
    this.previousMessage.clear();
    this.verdicts.reset();
    const wire = this.wire;
    this.wire = undefined;
    wire?.close(err.message);
  }

  private process(f: RawFrame): void {
    switch (f.kind) {
      case FrameKind.Msg: {
        if (f.body.length < 4) throw new FosError('EINVAL', 'message frame without a destination');
        const isolate = f.body.readUInt32LE(0);
        let env: Envelope;
        try {
          env = decode(f.body.subarray(4));
        } catch (e) {
          // A bad record loses only itself: its sender hears why.
          this.refuseMalformed(f.seq, e);
          return;
        }
        if (env.type === RecordType.Reply) {
          this.host.reply(this, isolate, env as ReplyEnvelope);
          return;
        }
        this.previousMessage.set(f.seq, this.lastMessageSeq);
        this.lastMessageSeq = f.seq;
        this.host.message(this, f.seq, isolate, env as MessageEnvelope);
        return;
      }
      case FrameKind.Verdict:
        applyVerdicts(this.flow, checkVerdicts(unpackVerdicts(f.body), this.nextSeq - 1));
        return;
      case FrameKind.Cancel: {
        const seq = unpackValue(f.body);
        if (typeof seq === 'number') this.host.cancel(this, seq);
        return;
      }
      case FrameKind.Names:
        this.host.names(this, unpackValue(f.body));
        return;
      case FrameKind.Peers:
        this.host.peers(this, unpackValue(f.body));
        return;
      default:
        return; // a kind a newer peer may send: skipped, in order
    }
  }

  private refuseMalformed(seq: number, e: unknown): void {
    this.previousMessage.set(seq, this.lastMessageSeq);
    this.lastMessageSeq = seq;
    this.verdict(seq, new FosError('EINVAL', `malformed message: ${(e as Error).message}`));
  }

  private postMessage(m: Outgoing): number {
    return this.queue(FrameKind.Msg, undefined, m.isolate, m.env);
  }

  /** Numbers a frame, keeps it until acknowledged, and writes it if connected; returns its seq. */
  private queue(kind: FrameKind, body: Uint8Array | undefined, isolate = 0, env?: Envelope): number {
    const seq = this.nextSeq;
    let frame: Buffer;
    if (env !== undefined) {
      const enc = encode(env);
      frame = newFrame(kind, seq, 4 + enc.length);
      frame.writeUInt32LE(isolate, HEADER_BYTES);
      enc.writeTo(frame, HEADER_BYTES + 4);
    } else frame = frameWithBody(kind, seq, body!);
    if (frame.length - 4 > this.maxFrame) {
      throw new FosError('EMSGSIZE', `a frame of ${frame.length - 4} bytes exceeds the limit of ${this.maxFrame} between this node and ${this.peer}`);
    }
    this.nextSeq++;
    this.unacked.push({ seq, frame });
    this.unackedBytes += frame.length;
    if (!this.isSlow && this.unackedBytes >= this.limits.maxPendingBytes) {
      this.isSlow = true;
      this.host.slow(this, true);
    }
    if (this.wire !== undefined) this.write(frame);
    return seq;
  }

  private write(frame: Buffer): void {
    stampAck(frame, this.received);
    this.ackSent = this.received;
    this.lastSent = performance.now();
    this.wire!.write(frame);
  }

  /** The peer has every seq up to `ack`: those frames are done with. */
  private acknowledged(ack: number): void {
    let freed = false;
    while (this.unacked.size > 0 && this.unacked.peek()!.seq <= ack) {
      this.unackedBytes -= this.unacked.shift()!.frame.length;
      freed = true;
    }
    if (!freed) return;
    if (this.isSlow && this.unackedBytes < this.limits.maxPendingBytes / 2) {
      this.isSlow = false;
      this.host.slow(this, false);
    }
    this.flow.pump();
  }

  private scheduleAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    // After this batch of incoming frames, unless a frame going out carried it.
    setImmediate(() => {
      this.ackScheduled = false;
      if (this.ackSent < this.received) this.sendAck();
    });
  }

  private sendAck(): void {
    if (this.wire === undefined) return;
    this.write(newFrame(FrameKind.Ack, 0, 0));
  }

  private flushVerdicts(): void {
    this.verdictScheduled = false;
    if (this.verdicts.empty || this.flow.failed !== undefined) return;
    const lists: VerdictLists = {};
    this.verdicts.take(lists);
    // Cut so that each frame fits the link however many messages a read chunk held.
    const a = lists.a ?? [];
    const n = lists.n ?? [];
    const bodies: Uint8Array[] = [];
    for (let i = 0, j = 0; i < a.length || j < n.length; i += RANGES_PER_FRAME * 2, j += REFUSALS_PER_FRAME) {
      const part: VerdictLists = {};
      if (i < a.length) part.a = a.slice(i, i + RANGES_PER_FRAME * 2);
      if (j < n.length) part.n = n.slice(j, j + REFUSALS_PER_FRAME);
      bodies.push(packVerdicts(part));
    }
    // Forgotten only once all of them are encoded: a failure leaves them to go later.
    this.verdicts.clear(lists);
    for (const body of bodies) this.queue(FrameKind.Verdict, body);
  }

  /** Bytes of payload a frame may carry on this link, with room for the frame's own overhead. */
  private frameBudget(): number {
    return Math.min(this.maxFrame, MIN_MAX_FRAME) - 1024;
  }
}

/** The verdicts of a frame, as far as they name seqs this side sent (at most `lastSeq`). */
function checkVerdicts(v: unknown, lastSeq: number): VerdictLists {
  if (typeof v !== 'object' || v === null) throw new FosError('EINVAL', 'malformed verdict frame');
  const { a, n } = v as VerdictLists;
  const out: VerdictLists = {};
  if (Array.isArray(a) && a.every((x) => Number.isInteger(x))) {
    // Only ranges of seqs really sent, so that a bad range costs nothing.
    out.a = [];
    for (let i = 0; i + 1 < a.length; i += 2) {
      const from = a[i]!;
      const to = Math.min(a[i + 1]!, lastSeq);
      if (from >= 1 && from <= to) out.a.push(from, to);
    }
  }
  if (Array.isArray(n)) out.n = n.filter((x): x is [number, never] => Array.isArray(x) && Number.isInteger(x[0]) && typeof x[1] === 'object' && x[1] !== null);
  return out;
}
