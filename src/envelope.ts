/**
 * The envelope as bytes: how a message or a reply is written into an shm
 * ring (and, later, a TCP frame). Payloads are encoded with msgpackr; a raw
 * `Uint8Array` payload is copied as is, never re-encoded.
 *
 * Layout:
 *   u8  type     1 = message (data or call), 2 = reply; in an shm channel's
 *                records, also META_DEF or META_REF (see RecordMetasOut)
 *   u8  flags    WAIT | RAW | FROM | CALL | OK (reply) or NO_VERDICT (message) | SYNC | SIMPLE | BATCH
 *   u16 metaLen  bytes of the meta part; with META_REF, the index of the
 *                channel's entry it repeats (and no meta part follows)
 *   u32 to       message: destination mailbox; reply: call id
 *   u32 callId   message with CALL: the call id
 *   meta         msgpack: message [cap, fromNode, fromIsolate, fromMailbox,
 *                fromCap, method] (from fields null without FROM); reply [cap]
 *   data         to the end of the record: the payload's msgpack, its raw
 *                bytes when RAW, or its simple-values encoding when SIMPLE
 *                (numbers, strings, byte arrays, and arrays and plain
 *                objects of these: see simple-values.ts; msgpackr costs
 *                far more on such values)
 *
 * A reply that is not OK carries a WireError as its data. A BATCH message
 * (sendMany) carries an array whose items are delivered as messages of
 * their own.
 *
 * The meta part repeats from message to message (the same capability,
 * reply ref and method): the sender encodes it once per distinct tuple and
 * the receiver decodes it once per distinct bytes (small caches), so a
 * message costs one msgpack encode and decode of its payload only. Within
 * an shm channel a repeated meta part is not even carried: both ends keep
 * the same table of the ones it carried, and a record names its entry.
 */
import { addExtension, Packr } from 'msgpackr';
import { FosError } from './errors.js';
import { decodeSimple, encodeSimple } from './simple-values.js';
import type { Ref } from './runtime/ref.js';
import { holds, keptRef, type MetaIn, type MetaKey, type MetaOut } from './util/meta-table.js';

export const enum RecordType {
  Message = 1,
  Reply = 2,
}

const WAIT = 1;
const RAW = 2;
const FROM = 4;
const CALL = 8;
/** A reply's flag: the call succeeded. */
const OK = 16;
/** A message's flag (the same bit as OK, which only replies use): a call whose caller awaits no verdict, see CallInfo. */
const NO_VERDICT = 16;
const SYNC = 32;
const SIMPLE = 64;
const BATCH = 128;
export const HEADER_BYTES = 12;
/** The type byte's low bits; the two above say how the meta part comes (channel records only). */
const TYPE_MASK = 0x3f;
/** The meta part is in the record, and becomes the channel's next table entry. */
const META_DEF = 0x40;
/** No meta part: the metaLen field is the index of the channel's table entry it repeats. */
const META_REF = 0x80;

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

// copyBuffers: a decoded typed array owns its buffer, as after a structured clone.
const packr = new Packr({ structuredClone: true, moreTypes: true, useBigIntExtension: true, copyBuffers: true });

/** A call's id and method, and how its caller waits for the answer. */
export interface CallInfo {
  readonly id: number;
  readonly method: string;
  /** The caller blocks in callSync and waits in its sync slot (a sync call is always `untracked` too). */
  readonly sync?: boolean;
  /**
   * The caller awaits no verdict on the call's message, only its answer:
   * the receiver gives no verdict, and a refusal comes back as the call's
   * error answer. (shm only: a verdict costs the receiver a store the
   * caller's core must then fetch, and the caller a promise.)
   */
  readonly untracked?: boolean;
}

export interface MessageEnvelope {
  readonly type: RecordType.Message;
  readonly to: number;
  readonly cap: string;
  readonly wait: boolean;
  readonly data: unknown;
  readonly from?: Ref | undefined;
  readonly call?: CallInfo | undefined;
  /** `data` is an array of messages (sendMany), delivered one by one. */
  readonly batch?: boolean | undefined;
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
 * An encoded envelope, ready to be written into a ring. Its data part is
 * msgpackr's own reused buffer, valid until the next encode: write it at
 * once with `writeTo`, or `keep()` it to hold it longer (a record waiting
 * for room in a full ring).
 */
export class Encoded {
  readonly length: number;

  constructor(
    /** The type, and META_DEF or META_REF in a channel record. */
    private readonly head: number,
    private readonly flags: number,
    private readonly w1: number,
    private readonly w2: number,
    private readonly meta: Uint8Array,
    private readonly data: Uint8Array,
    /** The metaLen field: the meta part's length, or with META_REF the entry's index. */
    private readonly metaField = meta.length,
  ) {
    this.length = HEADER_BYTES + meta.length + data.length;
  }

  /** Writes the whole record (header, meta, data) at `at`. */
  writeTo(into: Uint8Array, at: number): void {
    const m = this.metaField;
    into[at] = this.head;
    into[at + 1] = this.flags;
    into[at + 2] = m & 0xff;
    into[at + 3] = m >>> 8;
    for (let i = 0; i < 4; i++) {
      into[at + 4 + i] = (this.w1 >>> (8 * i)) & 0xff;
      into[at + 8 + i] = (this.w2 >>> (8 * i)) & 0xff;
    }
    if (this.meta.length > 0) into.set(this.meta, at + HEADER_BYTES);
    into.set(this.data, at + HEADER_BYTES + this.meta.length);
  }

  /** A copy that owns its bytes: no later encode, nor the sender changing its payload, can alter it. */
  keep(): Encoded {
    return new Encoded(this.head, this.flags, this.w1, this.w2, this.meta, this.data.slice(), this.metaField);
  }
}

function isRaw(d: unknown): d is Uint8Array {
  return d instanceof Uint8Array && d.constructor === Uint8Array;
}

/** An encoded meta part and the tuple it encodes. */
interface EncodedMeta extends MetaKey {
  readonly bytes: Uint8Array;
}

const META_CACHE = 32;
/**
 * The meta parts encoded last, replaced round robin. Looked up by comparing
 * fields: hashing a key string built per message cost more than all the
 * rest of an encode.
 */
const metaOut: EncodedMeta[] = [];
let metaNext = 0;

/**
 * The meta part's own packer: the data's bytes, when msgpackr made them,
 * are a view of `packr`'s buffer, which packing the meta after them would
 * overwrite. Plain msgpack (an array of strings, numbers and nulls), which
 * `packr` reads.
 */
const metaPackr = new Packr({ useRecords: false });

/**
 * The encoded meta part of this tuple, from the cache or made now from one
 * kept copy of `from` (keptRef), which its bytes and its `from` both come
 * from. Immutable: a channel's table keeps the same object as its entry.
 */
function encodedMeta(cap: string, from: Ref | undefined, method: string | null | undefined): EncodedMeta {
  for (let i = 0; i < metaOut.length; i++) {
    const m = metaOut[i]!;
    if (holds(m, cap, from, method)) return m;
  }
  const kept = keptRef(from);
  const fields =
    method === undefined ? [cap] : kept === undefined ? [cap, null, null, null, null, method] : [cap, kept.address.node, kept.address.isolate, kept.address.mailbox, kept.cap, method];
  const bytes = metaPackr.pack(fields).slice();
  if (bytes.length > 0xffff) throw new FosError('EINVAL', 'the envelope (capability, reply ref, method) exceeds 64 KiB');
  const m: EncodedMeta = { cap, from: kept, method, bytes };
  metaOut[metaNext] = m;
  metaNext = (metaNext + 1) % META_CACHE;
  return m;
}

/**
 * The sending end's table of the meta parts an shm channel carried (see
 * util/meta-table.ts). The receiving end builds the same table from the
 * same records, in ring order, which is the order they were encoded in: a
 * record encoded with a table must be written, in order (ShmOut writes
 * every record it encodes, at once or from its outbox).
 */
export type RecordMetasOut = MetaOut<EncodedMeta>;
/** The receiving end's table of an shm channel. */
export type RecordMetasIn = MetaIn<DecodedMeta>;

/**
 * Encodes an envelope (see Encoded for how long the result is valid).
 * Throws EINVAL for a value msgpack cannot carry. With `table` (an shm
 * channel's), a meta part the channel carried before goes as its index.
 */
export function encode(e: Envelope, table?: RecordMetasOut): Encoded {
  const raw = isRaw(e.data) ? e.data : undefined;
  let flags = raw !== undefined ? RAW : 0;
  let data: Uint8Array;
  let w1: number;
  let w2 = 0;
  let cap: string;
  let from: Ref | undefined;
  let method: string | null | undefined;
  if (e.type === RecordType.Message) {
    if (e.wait) flags |= WAIT;
    if (e.batch === true) flags |= BATCH;
    cap = e.cap;
    from = e.from;
    method = e.call?.method ?? null;
    if (from !== undefined) flags |= FROM;
    if (e.call !== undefined) {
      flags |= CALL;
      if (e.call.sync === true) flags |= SYNC | NO_VERDICT;
      else if (e.call.untracked === true) flags |= NO_VERDICT;
      w2 = e.call.id;
    }
    w1 = e.to;
  } else {
    if (e.ok) flags |= OK;
    cap = e.cap;
    from = undefined;
    method = undefined;
    w1 = e.callId;
  }
  // The data first: a getter in it may send on this channel, and so define
  // an entry, which must come before this record's lookup (the getter's
  // record is written first). And the meta is read after the getters ran.
  let meta: EncodedMeta | undefined;
  let known = -1;
  try {
    if (raw !== undefined) data = raw;
    else {
      const simple = encodeSimple(e.data);
      if (simple !== undefined) {
        data = simple;
        flags |= SIMPLE;
      } else data = packr.pack(e.data);
    }
    if (table !== undefined) known = table.find(cap, from, method);
    if (known < 0) meta = encodedMeta(cap, from, method);
  } catch (err) {
    if (err instanceof FosError) throw err;
    throw new FosError('EINVAL', `message cannot be encoded: ${(err as Error).message}`);
  }
  if (meta === undefined) return new Encoded(e.type | META_REF, flags, w1, w2, NO_META, data, known);
  if (table === undefined) return new Encoded(e.type, flags, w1, w2, meta.bytes, data);
  // Defined only now, the record sure to be written: one that failed to encode never reaches the receiver.
  table.define(meta);
  return new Encoded(e.type | META_DEF, flags, w1, w2, meta.bytes, data);
}

const NO_META = new Uint8Array(0);

/** A decoded meta part, with its reply ref made once (frozen: every message that repeats the meta shares it). */
interface DecodedMeta {
  readonly bytes: Uint8Array;
  readonly fields: unknown[];
  from: Ref | undefined;
}

/** The last meta parts decoded, newest first. */
const metaIn: DecodedMeta[] = [];
const META_IN = 8;

/** True when `a` holds the bytes of `b` from `from` to `to`. */
function sameBytes(a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  if (a.length !== to - from) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[from + i]) return false;
  return true;
}

/** The meta part, `bytes` from `from` to `to`: a cached decoding when these bytes came before. */
function decodeMeta(bytes: Uint8Array, from: number, to: number): DecodedMeta {
  for (let i = 0; i < metaIn.length; i++) {
    const m = metaIn[i]!;
    if (sameBytes(m.bytes, bytes, from, to)) return m;
  }
  const own = copyOf(bytes, from, to);
  const fields = packr.unpack(own) as unknown;
  if (!Array.isArray(fields)) throw new FosError('EINVAL', 'malformed record: no envelope');
  const m: DecodedMeta = { bytes: own, fields, from: undefined };
  metaIn.unshift(m);
  if (metaIn.length > META_IN) metaIn.pop();
  return m;
}

/** The reply ref in a message's meta part. */
function fromOf(m: DecodedMeta): Ref {
  if (m.from === undefined) {
    const [, node, isolate, mailbox, cap] = m.fields;
    if (typeof node !== 'string' || typeof isolate !== 'number' || typeof mailbox !== 'number' || typeof cap !== 'string') {
      throw new FosError('EINVAL', 'malformed record: bad reply ref');
    }
    m.from = Object.freeze({ address: Object.freeze({ node, isolate, mailbox }), cap: cap as Ref['cap'] });
  }
  return m.from;
}

/**
 * A plain Uint8Array holding a copy of `bytes` from `from` to `to`.
 * (`Buffer#slice` would give a view of the socket's whole chunk, not a
 * copy: a raw payload would then drag that chunk along, and a clone of it
 * copy all of it.) A few bytes are copied one by one: cheaper than the view
 * a `set` needs.
 */
function copyOf(bytes: Uint8Array, from: number, to: number): Uint8Array {
  const n = to - from;
  const out = new Uint8Array(n);
  if (n <= 32) for (let i = 0; i < n; i++) out[i] = bytes[from + i]!;
  else out.set(bytes.subarray(from, to));
  return out;
}

/** A decoded call's info: the same shape (and no absent field set) as the sender's. */
function callInfo(id: number, method: string, flags: number): CallInfo {
  if (flags & SYNC) return { id, method, sync: true, untracked: true };
  return flags & NO_VERDICT ? { id, method, untracked: true } : { id, method };
}

/**
 * Decodes a record: `bytes` from `from` to `to` (a range rather than a
 * view, which would cost an allocation per record). `bytes` may be the ring
 * or a socket's chunk: nothing returned aliases it.
 */
export function decode(bytes: Uint8Array, from = 0, to = bytes.length, table?: RecordMetasIn): Envelope {
  if (from < 0 || from > to || to > bytes.length) throw new FosError('EINVAL', `no record at ${from} to ${to} in ${bytes.length} bytes`);
  if (to - from < HEADER_BYTES) throw new FosError('EINVAL', `record of ${to - from} bytes is shorter than its header`);
  const b = from;
  const head = bytes[b]!;
  const type = head & TYPE_MASK;
  const flags = bytes[b + 1]!;
  const metaField = bytes[b + 2]! | (bytes[b + 3]! << 8);
  const w1 = (bytes[b + 4]! | (bytes[b + 5]! << 8) | (bytes[b + 6]! << 16) | (bytes[b + 7]! << 24)) >>> 0;
  const w2 = (bytes[b + 8]! | (bytes[b + 9]! << 8) | (bytes[b + 10]! << 16) | (bytes[b + 11]! << 24)) >>> 0;
  const ref = (head & META_REF) !== 0;
  const def = (head & META_DEF) !== 0;
  if ((ref || def) && table === undefined) throw new FosError('EINVAL', 'malformed record: a channel meta entry outside a channel');
  if (ref && def) throw new FosError('EINVAL', 'malformed record: a meta part both defined and referred to');
  const metaEnd = b + HEADER_BYTES + (ref ? 0 : metaField);
  if (metaEnd > to) throw new FosError('EINVAL', 'record shorter than its meta part');
  let meta: DecodedMeta;
  let data: unknown;
  try {
    if (ref) meta = table!.get(metaField, 'record');
    else {
      meta = decodeMeta(bytes, b + HEADER_BYTES, metaEnd);
      if (def) table!.define(meta);
    }
    if (flags & SIMPLE) data = decodeSimple(bytes, metaEnd, to); // copies what it returns
    else {
      // The payload is copied out of the ring (or the socket's chunk) first:
      // msgpackr decodes from private memory several times faster than from
      // a SharedArrayBuffer, and a raw payload must own exactly its bytes.
      const own = copyOf(bytes, metaEnd, to);
      data = flags & RAW ? own : packr.unpack(own);
    }
  } catch (err) {
    if (err instanceof FosError) throw err;
    throw new FosError('EINVAL', `malformed record: ${(err as Error).message}`);
  }
  const cap = meta.fields[0];
  if (typeof cap !== 'string') throw new FosError('EINVAL', 'malformed record: no capability');
  if (type === RecordType.Message) {
    const method = meta.fields[5];
    const env: MessageEnvelope = {
      type,
      to: w1,
      cap,
      wait: (flags & WAIT) !== 0,
      data,
      from: flags & FROM ? fromOf(meta) : undefined,
      call: flags & CALL ? callInfo(w2, String(method ?? ''), flags) : undefined,
    };
    if (!(flags & BATCH)) return env;
    if (!Array.isArray(data) || flags & CALL) throw new FosError('EINVAL', 'malformed record: a batch is an array of data messages');
    return { ...env, batch: true };
  }
  if (type === RecordType.Reply) return { type, callId: w1, cap, ok: (flags & OK) !== 0, data };
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
