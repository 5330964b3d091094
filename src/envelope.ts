/**
 * The envelope as bytes: how a message or a reply is written into an shm
 * ring (and, later, a TCP frame). Payloads are encoded with msgpackr; a raw
 * `Uint8Array` payload is copied as is, never re-encoded.
 *
 * Layout:
 *   u8  type     1 = message (data or call), 2 = reply
 *   u8  flags    WAIT | RAW | FROM | CALL | OK | SYNC
 *   u16 metaLen  bytes of the msgpack part
 *   u32 to       message: destination mailbox; reply: call id
 *   u32 callId   message with CALL: the call id
 *   msgpack      message: [cap, from|null, method|null, data?]; reply: [cap, data?]
 *   raw bytes    the payload, when RAW (data is then absent from the msgpack part)
 *
 * A reply that is not OK carries a WireError as its data.
 */
import { addExtension, Packr } from 'msgpackr';
import { FosError } from './errors.js';
import type { Ref } from './runtime/ref.js';

export const enum RecordType {
  Message = 1,
  Reply = 2,
}

const WAIT = 1;
const RAW = 2;
const FROM = 4;
const CALL = 8;
const OK = 16;
const SYNC = 32;
export const HEADER_BYTES = 12;

// msgpackr in structured-clone mode with records (plain objects as records
// whose structure each message carries, so a Map stays a Map) keeps Map,
// Set, Date, typed arrays, BigInt, undefined and cycles, as structured clone
// does. Two differences remain, documented: -0 arrives as 0 (msgpack
// integers have no sign of zero), and a function fails here as it does in
// postMessage, through this extension (msgpackr extensions are
// process-wide; the read side is never reached).
const FUNCTION_EXT = 0x46;
for (const Class of [Function, Object.getPrototypeOf(async () => {}).constructor as FunctionConstructor]) {
  addExtension({
    Class,
    type: FUNCTION_EXT,
    write: () => {
      throw new Error('a function cannot be sent');
    },
    read: () => undefined,
  });
}

const packr = new Packr({ structuredClone: true, moreTypes: true, useBigIntExtension: true, copyBuffers: true });

/** A call's id and method; `sync` when the caller blocks in callSync and waits in its sync slot. */
export interface CallInfo {
  readonly id: number;
  readonly method: string;
  readonly sync?: boolean;
}

export interface MessageEnvelope {
  readonly type: RecordType.Message;
  readonly to: number;
  readonly cap: string;
  readonly wait: boolean;
  readonly data: unknown;
  readonly from?: Ref | undefined;
  readonly call?: CallInfo | undefined;
}

export interface ReplyEnvelope {
  readonly type: RecordType.Reply;
  readonly callId: number;
  readonly cap: string;
  readonly ok: boolean;
  readonly data: unknown;
}

export type Envelope = MessageEnvelope | ReplyEnvelope;

/**
 * An encoded envelope, ready to be written into a ring. Its msgpack part is
 * msgpackr's own reused buffer, valid until the next encode: write it at
 * once with `writeTo`, or `keep()` it to hold it longer (a record waiting
 * for room in a full ring).
 */
export class Encoded {
  readonly length: number;

  constructor(
    private readonly type: number,
    private readonly flags: number,
    private readonly metaLen: number,
    private readonly w1: number,
    private readonly w2: number,
    private readonly packed: Uint8Array,
    private readonly raw: Uint8Array | undefined,
  ) {
    this.length = HEADER_BYTES + packed.length + (raw?.length ?? 0);
  }

  /** Writes the whole record (header, msgpack part, raw bytes) at `at`. */
  writeTo(into: Uint8Array, at: number): void {
    into[at] = this.type;
    into[at + 1] = this.flags;
    into[at + 2] = this.metaLen & 0xff;
    into[at + 3] = this.metaLen >>> 8;
    for (let i = 0; i < 4; i++) {
      into[at + 4 + i] = (this.w1 >>> (8 * i)) & 0xff;
      into[at + 8 + i] = (this.w2 >>> (8 * i)) & 0xff;
    }
    into.set(this.packed, at + HEADER_BYTES);
    if (this.raw !== undefined) into.set(this.raw, at + HEADER_BYTES + this.packed.length);
  }

  /** A copy that owns its bytes: no later encode, nor the sender changing its payload, can alter it. */
  keep(): Encoded {
    return new Encoded(this.type, this.flags, this.metaLen, this.w1, this.w2, this.packed.slice(), this.raw?.slice());
  }
}

function isRaw(d: unknown): d is Uint8Array {
  return d instanceof Uint8Array && d.constructor === Uint8Array;
}

/** Encodes an envelope (see Encoded for how long the result is valid). Throws EINVAL for a value msgpack cannot carry. */
export function encode(e: Envelope): Encoded {
  const raw = isRaw(e.data) ? e.data : undefined;
  let packed: Uint8Array;
  let flags = raw !== undefined ? RAW : 0;
  let word1: number;
  let word2 = 0;
  try {
    if (e.type === RecordType.Message) {
      if (e.wait) flags |= WAIT;
      if (e.from !== undefined) flags |= FROM;
      if (e.call !== undefined) {
        flags |= CALL;
        if (e.call.sync === true) flags |= SYNC;
        word2 = e.call.id;
      }
      const meta: unknown[] = [e.cap, e.from ?? null, e.call?.method ?? null];
      if (raw === undefined) meta.push(e.data);
      packed = packr.pack(meta);
      word1 = e.to;
    } else {
      if (e.ok) flags |= OK;
      packed = packr.pack(raw === undefined ? [e.cap, e.data] : [e.cap]);
      word1 = e.callId;
    }
  } catch (err) {
    throw new FosError('EINVAL', `message cannot be encoded: ${(err as Error).message}`);
  }
  if (packed.length >= 0xffff) {
    // metaLen 0xffff: the msgpack part runs to the end of the record.
    if (raw !== undefined) throw new FosError('EMSGSIZE', 'the envelope of a raw payload exceeds 64 KiB');
    return new Encoded(e.type, flags, 0xffff, word1, word2, packed, undefined);
  }
  return new Encoded(e.type, flags, packed.length, word1, word2, packed, raw);
}

/** Decodes a record. `bytes` may be a view of the ring: nothing returned aliases it. */
export function decode(bytes: Uint8Array): Envelope {
  if (bytes.length < HEADER_BYTES) throw new FosError('EINVAL', `record of ${bytes.length} bytes is shorter than its header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const type = v.getUint8(0);
  const flags = v.getUint8(1);
  const metaLen = v.getUint16(2, true);
  const w1 = v.getUint32(4, true);
  const w2 = v.getUint32(8, true);
  const metaEnd = metaLen === 0xffff ? bytes.length : HEADER_BYTES + metaLen;
  if (metaEnd > bytes.length) throw new FosError('EINVAL', 'record shorter than its msgpack part');
  let meta: unknown;
  try {
    meta = packr.unpack(bytes.subarray(HEADER_BYTES, metaEnd));
  } catch (err) {
    throw new FosError('EINVAL', `malformed record: ${(err as Error).message}`);
  }
  if (!Array.isArray(meta)) throw new FosError('EINVAL', 'malformed record: no envelope');
  const raw = flags & RAW ? bytes.slice(metaEnd) : undefined;
  if (type === RecordType.Message) {
    const [cap, from, method, data] = meta as [string, Ref | null, string | null, unknown];
    return {
      type,
      to: w1,
      cap,
      wait: (flags & WAIT) !== 0,
      data: raw ?? data,
      from: flags & FROM ? (from ?? undefined) : undefined,
      call: flags & CALL ? (flags & SYNC ? { id: w2, method: method ?? '', sync: true } : { id: w2, method: method ?? '' }) : undefined,
    };
  }
  if (type === RecordType.Reply) {
    const [cap, data] = meta as [string, unknown];
    return { type, callId: w1, cap, ok: (flags & OK) !== 0, data: raw ?? data };
  }
  throw new FosError('EINVAL', `unknown record type ${type}`);
}

/** Encodes a bare value (a callSync answer); EINVAL if msgpack cannot carry it. */
export function packValue(v: unknown): Uint8Array {
  try {
    return packr.pack(v);
  } catch (err) {
    throw new FosError('EINVAL', `value cannot be encoded: ${(err as Error).message}`);
  }
}

export function unpackValue(b: Uint8Array): unknown {
  try {
    return packr.unpack(b);
  } catch (err) {
    throw new FosError('EINVAL', `malformed value: ${(err as Error).message}`);
  }
}
