/**
 * Frames on a TCP connection between two nodes, and the decoder that cuts
 * a byte stream into them.
 *
 * Layout (little-endian):
 *   u32 length   bytes after this field: HEADER_REST + body
 *   u8  kind     see FrameKind
 *   u48 seq      the frame's number in its session (1, 2, 3, ...), 0 when
 *                the frame is not sequenced (handshake, ack/heartbeat, close)
 *   u48 ack      every seq up to this one was received (cumulative)
 *   body         per kind
 *
 * The length is checked against the limit before any byte of the body is
 * buffered beyond what the socket already handed us, so a header announcing
 * 2^53 bytes costs nothing but the connection.
 */
import { FosError } from '../../errors.js';

export const enum FrameKind {
  /** Handshake: msgpack Hello. */
  Hello = 1,
  /** Handshake: the dialer's proof, msgpack Auth. */
  Auth = 2,
  /** Handshake: the acceptor's last word, msgpack Ready. */
  Ready = 3,
  /** A message or a reply: u32 destination isolate, then an envelope record (envelope.ts). Sequenced. */
  Msg = 10,
  /** Verdicts on messages received: msgpack VerdictLists. Sequenced. */
  Verdict = 11,
  /** Withdraw a message still waiting for room: msgpack seq. Sequenced. */
  Cancel = 12,
  /** Name bindings of the sender's node: msgpack NamesUpdate. Sequenced. */
  Names = 13,
  /** Nodes the sender knows and where they listen: msgpack [node, address][]. Sequenced. */
  Peers = 14,
  /** Nothing but the ack field: an acknowledgement, and the heartbeat. */
  Ack = 20,
  /** The sender closes the connection: msgpack reason string. */
  Close = 21,
}

/** The length field, the kind, seq and ack. */
export const HEADER_BYTES = 17;
/** The part of the header the length field counts. */
const HEADER_REST = HEADER_BYTES - 4;
export const MAX_SEQ = 2 ** 48 - 1;

export interface RawFrame {
  readonly kind: number;
  readonly seq: number;
  readonly ack: number;
  /** A view of the received bytes: valid until the next push. */
  readonly body: Buffer;
}

/** Builds a frame with room for `bodyLength` bytes of body at HEADER_BYTES; ack is stamped when sent. */
export function newFrame(kind: FrameKind, seq: number, bodyLength: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES + bodyLength);
  b.writeUInt32LE(HEADER_REST + bodyLength, 0);
  b[4] = kind;
  b.writeUIntLE(seq, 5, 6);
  b.writeUIntLE(0, 11, 6);
  return b;
}

export function frameWithBody(kind: FrameKind, seq: number, body: Uint8Array): Buffer {
  const b = newFrame(kind, seq, body.length);
  b.set(body, HEADER_BYTES);
  return b;
}

/** Writes the cumulative ack into a frame about to be sent. */
export function stampAck(frame: Buffer, ack: number): void {
  frame.writeUIntLE(ack, 11, 6);
}

/**
 * Cuts a byte stream into frames. Chunks are kept as they came; a frame's
 * bytes are joined only once all of them are here, and one that sits in a
 * single chunk is a view of it, not a copy.
 *
 * Invariants: `buffered` is the sum of the lengths of `chunks`, of which
 * the first `offset` bytes of the first chunk are consumed.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private offset = 0;
  private buffered = 0;

  constructor(private maxFrame: number) {}

  /** Changes the size limit (raised once the peer is authenticated). */
  setLimit(maxFrame: number): void {
    this.maxFrame = maxFrame;
  }

  /** Takes the next chunk of the stream; returns the frames it completes. Throws EINVAL on a broken stream: the connection must close. */
  push(chunk: Buffer): RawFrame[] {
    this.append(chunk);
    const frames: RawFrame[] = [];
    for (let f = this.next(); f !== undefined; f = this.next()) frames.push(f);
    return frames;
  }

  /** Takes the next chunk of the stream, for `next` to cut. */
  append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next whole frame, or undefined until more bytes come. Throws EINVAL
   * on a broken stream: the connection must close. Each frame is checked
   * against the limit as it is cut, so that a limit raised after one frame
   * (the handshake's last) holds for those after it in the same chunk.
   */
  next(): RawFrame | undefined {
    if (this.buffered - this.offset < 4) return undefined;
    const length = this.peekLength();
    if (length < HEADER_REST) throw new FosError('EINVAL', `frame length ${length} is shorter than a header`);
    if (length > this.maxFrame) throw new FosError('EINVAL', `frame of ${length} bytes exceeds the limit of ${this.maxFrame}`);
    if (this.buffered - this.offset < 4 + length) return undefined;
    const bytes = this.take(4 + length);
    return { kind: bytes[4]!, seq: bytes.readUIntLE(5, 6), ack: bytes.readUIntLE(11, 6), body: bytes.subarray(HEADER_BYTES) };
  }

  /** Bytes held that do not yet make a frame. */
  get pending(): number {
    return this.buffered - this.offset;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length - this.offset >= 4) return first.readUInt32LE(this.offset);
    const b = Buffer.alloc(4);
    let got = 0;
    let at = this.offset;
    for (const c of this.chunks) {
      const n = Math.min(4 - got, c.length - at);
      c.copy(b, got, at, at + n);
      got += n;
      at = 0;
      if (got === 4) break;
    }
    return b.readUInt32LE(0);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length - this.offset >= n) {
      const view = first.subarray(this.offset, this.offset + n);
      this.consume(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const c = this.chunks[0]!;
      const k = Math.min(n - got, c.length - this.offset);
      c.copy(out, got, this.offset, this.offset + k);
      got += k;
      this.consume(k);
    }
    return out;
  }

  private consume(n: number): void {
    this.offset += n;
    while (this.chunks.length > 0 && this.offset >= this.chunks[0]!.length) {
      this.offset -= this.chunks[0]!.length;
      this.buffered -= this.chunks[0]!.length;
      this.chunks.shift();
    }
  }
}
