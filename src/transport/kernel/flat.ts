/**
 * Flat frames: a message, reply or ack frame posted as one array of its
 * fields in a fixed order, rather than as an object with keys and a nested
 * reply ref. V8's serializer clones a dense array of primitives much faster
 * than an object (no key strings, no nested objects): on this machine a
 * flat message frame cost about 3.5 µs to post and 4-5 µs to receive,
 * against 3-4.5 and 7.5-8.5 µs as an object, and 8-10 each way encoded to
 * bytes by our own codec (an earlier version of this file). The payload
 * `d` and the refusals' errors are items of the array, so the structured
 * clone carries them exactly as it would carry them in an object frame,
 * with the same transfer list.
 *
 * Layout: fields in a fixed order, the ones most often present first; an
 * absent field is null, and absent fields at the end are left off (the
 * array is shorter), so a call frame has 13 items and its reply 6. No
 * field that may be absent is null when present; `d` is always in its place.
 *   [1, s, to, cap, w, d, f.node, f.isolate, f.mailbox, f.cap, c, m, a, b, nd, ni, n]   'm'
 *   [2, cap, c, ok, d, a, e, nd, ni, n]                                               'y' (ok is 1 or 0)
 *   [3, a, n]                                                                          'a'
 * where `a` is one acknowledged seq as a number, or the list of ranges (see flatAcks).
 * Every other frame (control frames, cancels, offers) goes as an object:
 * they are rare, and carry ports and buffers.
 *
 * Meta entries (util/meta-table.ts): a link keeps a table of the meta
 * tuples (cap, reply ref, method; a reply's cap alone) its frames carried.
 * A frame of kind 4 (MSG_DEF) or 5 (REPLY_DEF) is laid out as kind 1 or 2
 * and its tuple becomes the link's next entry; a frame of kind 1 or 2 whose
 * `cap` is a number k repeats entry k, its other meta fields null. The
 * four strings of a call frame cost its clone about 0.4 µs to post and
 * 0.7 µs to receive on this machine, more than the rest of the frame. A
 * frame posted with a transfer list carries its tuple in full: postMessage
 * drops such a frame without a word when an item cannot be transferred,
 * and a definition the receiver never saw would leave the tables apart.
 *
 * A batch (sendMany, b = 1) of byte arrays goes packed (b = 2): its items
 * as one byte string in simple-values' format, unpacked by the receiver
 * into byte arrays of their own. A structured clone of 256 small byte
 * arrays cost twice what packing them does (it makes a buffer per item on
 * both sides). Packing is used only where the receiver gets what a clone
 * gives it: every item a byte array a clone copies as one of its own
 * (util/own-buffer.ts), no two items on one buffer (a clone keeps such
 * items shared), and no transfer list.
 */
import { FosError, type WireError } from '../../errors.js';
import type { Capability } from '../../runtime/ref.js';
import { decodeSimple, encodeSimple, MalformedValue } from '../../simple-values.js';
import type { MetaIn, MetaKey, MetaOut } from '../../util/meta-table.js';
import { ownBuffer } from '../../util/own-buffer.js';
import type { Acks, Frame, MsgFrame, ReplyFrame } from './frames.js';

const MSG = 1;
const REPLY = 2;
const ACK = 3;
const MSG_DEF = 4;
const REPLY_DEF = 5;

/** A link's receiving table: the tuples as frames hand them on (a reply ref made once, frozen, shared by every frame that repeats it). */
export type FrameMetasIn = MetaIn<MetaKey>;

/** Fields every frame of a kind has; the rest may be left off when absent. */
const MSG_FIELDS = 6;
const MSG_MAX = 17;
const REPLY_FIELDS = 5;
const REPLY_MAX = 10;
const ACK_FIELDS = 1;
const ACK_MAX = 3;

/** Leaves off the absent fields at the end (never one of the first `fields`). */
function trimmed(v: unknown[], fields: number): unknown[] {
  while (v.length > fields && v[v.length - 1] === null) v.pop();
  return v;
}

/** b of a packed batch. */
const PACKED = 2;

/** The buffers of the batch being checked: met twice, a clone keeps the items shared. */
const seen = new Set<ArrayBuffer>();

/** True when a packed batch gives the receiver what a clone would (see above). */
function packable(items: unknown): items is Uint8Array[] {
  if (!Array.isArray(items)) return false;
  try {
    for (const x of items) {
      const b = ownBuffer(x);
      if (b === undefined) return false;
      if (items.length > 1) {
        if (seen.has(b)) return false;
        seen.add(b);
      }
    }
    return true;
  } finally {
    seen.clear();
  }
}

/** The index of the entry of `metas` that `f` repeats, or -1. */
function entryOf(f: MsgFrame | ReplyFrame, metas: MetaOut | undefined): number {
  if (metas === undefined) return -1;
  return f.t === 'm' ? metas.find(f.cap, f.f, f.m ?? null) : metas.find(f.cap, undefined, undefined);
}

/**
 * The frame as a flat array, or undefined when it goes as an object.
 * `transferring`: the frame goes with a transfer list (nothing is packed,
 * and its meta goes in full). With `metas`, the link's sending table, a
 * repeated meta goes as its index, and a new one as a definition: once the
 * frame is posted, `posted` must say so, and the table defines it.
 */
export function flattenFrame(f: Frame, transferring = false, metas?: MetaOut): unknown[] | undefined {
  const { a, n } = f as Acks;
  const table = transferring ? undefined : metas;
  switch (f.t) {
    case 'm': {
      let d = f.d;
      let b: number | null = f.b ?? null;
      if (b === 1 && !transferring && packable(d)) {
        const packed = encodeSimple(d);
        if (packed !== undefined) {
          d = packed.slice(); // a copy of its own: a view of the scratch would clone all of it
          b = PACKED;
        }
      }
      const k = entryOf(f, table);
      const r = f.f;
      const v =
        k >= 0
          ? [MSG, f.s, f.to, k, f.w, d, null, null, null, null, f.c ?? null, null, flatAcks(a), b, f.nd ?? null, f.ni ?? null, n ?? null]
          : r === undefined
            ? [table === undefined ? MSG : MSG_DEF, f.s, f.to, f.cap, f.w, d, null, null, null, null, f.c ?? null, f.m ?? null, flatAcks(a), b, f.nd ?? null, f.ni ?? null, n ?? null]
            : [table === undefined ? MSG : MSG_DEF, f.s, f.to, f.cap, f.w, d, r.address.node, r.address.isolate, r.address.mailbox, r.cap, f.c ?? null, f.m ?? null, flatAcks(a), b, f.nd ?? null, f.ni ?? null, n ?? null];
      return trimmed(v, MSG_FIELDS);
    }
    case 'y': {
      const k = entryOf(f, table);
      const kind = k >= 0 || table === undefined ? REPLY : REPLY_DEF;
      return trimmed([kind, k >= 0 ? k : f.cap, f.c, f.ok ? 1 : 0, f.d, flatAcks(a), f.e ?? null, f.nd ?? null, f.ni ?? null, n ?? null], REPLY_FIELDS);
    }
    case 'a':
      return trimmed([ACK, flatAcks(a), n ?? null], ACK_FIELDS);
    default:
      return undefined;
  }
}

/**
 * Flat frame `v` (flattened with `metas`) was posted: the meta it defines
 * becomes the table's next entry, read from `v` itself as the receiver
 * reads it. Not from the frame's objects: a getter of the data, run while
 * the frame was cloned, may have changed the reply ref since.
 */
export function posted(v: readonly unknown[], metas: MetaOut): void {
  if (v[0] === MSG_DEF) metas.define(readMsgMeta(v));
  else if (v[0] === REPLY_DEF) metas.define(replyMeta(v[1]));
}

function replyMeta(cap: unknown): MetaKey {
  return { cap: str(cap), from: undefined, method: undefined };
}

function malformed(why: string): never {
  throw new FosError('EINVAL', `malformed flat frame: ${why}`);
}

function num(v: unknown): number {
  if (typeof v !== 'number') malformed('a number field is not a number');
  return v;
}

function str(v: unknown): string {
  if (typeof v !== 'string') malformed('a string field is not a string');
  return v;
}

/**
 * The acknowledgements as a flat frame carries them: one seq as a number
 * (one call answered at a time acknowledges one message per reply), else
 * the list of ranges. A list is an array nested in the frame, which the
 * structured clone costs more to copy than all the rest of a small reply.
 */
function flatAcks(a: number[] | undefined): number | number[] | null {
  if (a === undefined) return null;
  return a.length === 2 && a[0] === a[1] ? a[0]! : a;
}

function withAcks<F extends Frame>(frame: F, a: unknown, n: unknown): F {
  if (typeof a === 'number') (frame as Acks).a = [a, a];
  else if (a !== null) {
    if (!Array.isArray(a) || !a.every((x) => typeof x === 'number')) malformed('acknowledgements are not numbers');
    (frame as Acks).a = a as number[];
  }
  if (n !== null) {
    // The errors themselves are read leniently (fromWire), as in an object frame.
    if (!Array.isArray(n) || !n.every((x) => Array.isArray(x) && x.length === 2 && typeof x[0] === 'number')) malformed('refusals are not [seq, error] pairs');
    (frame as Acks).n = n as [number, WireError][];
  }
  return frame;
}

/** The items of a packed batch. */
function unpack(bytes: unknown): Uint8Array[] {
  if (!(bytes instanceof Uint8Array)) malformed('a packed batch is not bytes');
  let items: unknown;
  try {
    items = decodeSimple(bytes);
  } catch (e) {
    if (e instanceof MalformedValue) malformed(e.message);
    throw e;
  }
  if (!Array.isArray(items) || !items.every((x) => x instanceof Uint8Array)) malformed('a packed batch holds something other than byte arrays');
  return items as Uint8Array[];
}

/** Field `i` of `v`, null when left off. */
function at(v: readonly unknown[], i: number): unknown {
  return i < v.length ? v[i] : null;
}

/** What a definition whose meta cannot be read defines: a frame naming it is malformed, rather than read as an older entry. */
const UNREADABLE: MetaKey = Object.freeze({ cap: '', from: undefined, method: undefined });

/** The tuple a frame names by index `k`: a message's (`message`) or a reply's. */
function entry(metas: FrameMetasIn | undefined, k: number, message: boolean): MetaKey {
  if (metas === undefined) malformed('a meta entry outside a link');
  const m = metas.get(k, 'flat frame');
  if (m === UNREADABLE) malformed(`meta entry ${k} was defined unreadable`);
  if ((m.method !== undefined) !== message) malformed(`meta entry ${k} is not a ${message ? 'message' : 'reply'}'s`);
  return m;
}

/** The tuple `read` reads from a frame's fields; for a definition (`def`), also the next entry of `metas`, even unreadable. */
function carried(metas: FrameMetasIn | undefined, def: boolean, read: () => MetaKey): MetaKey {
  if (!def) return read();
  if (metas === undefined) malformed('a meta entry defined outside a link');
  let m = UNREADABLE;
  try {
    m = read();
    return m;
  } finally {
    metas.define(m);
  }
}

/** A message frame's meta fields: cap, reply ref (made once, frozen: every frame repeating it shares it), method. */
function readMsgMeta(v: readonly unknown[]): MetaKey {
  const cap = str(v[3]);
  const from =
    at(v, 6) === null ? undefined : Object.freeze({ address: Object.freeze({ node: str(v[6]), isolate: num(v[7]), mailbox: num(v[8]) }), cap: str(v[9]) as Capability });
  const method = at(v, 11) === null ? null : str(v[11]);
  return { cap, from, method };
}

/**
 * The frame a flat array carries, reading meta entries from `metas` (the
 * link's receiving table; every frame must come through here in the order
 * it was posted). Throws EINVAL if it is not a flat frame.
 */
export function unflattenFrame(v: readonly unknown[], metas?: FrameMetasIn): Frame {
  switch (v[0]) {
    case MSG:
    case MSG_DEF: {
      // The meta first: a definition counts whatever else is wrong with its frame (see carried).
      const k = v[3];
      let meta: MetaKey;
      if (typeof k === 'number' && v[0] === MSG) {
        if (at(v, 6) !== null || at(v, 11) !== null) malformed('a frame naming its meta entry carries meta fields too');
        meta = entry(metas, k, true);
      } else meta = carried(metas, v[0] === MSG_DEF, () => readMsgMeta(v));
      if (v.length < MSG_FIELDS || v.length > MSG_MAX) malformed(`a message frame has ${MSG_FIELDS} to ${MSG_MAX} fields`);
      const w = v[4];
      if (w !== 0 && w !== 1) malformed('bad wait flag');
      const frame: Frame = { t: 'm', s: num(v[1]), to: num(v[2]), cap: meta.cap, w, d: v[5] };
      if (meta.from !== undefined) frame.f = meta.from;
      if (at(v, 10) !== null) frame.c = num(v[10]);
      if (typeof meta.method === 'string') frame.m = meta.method;
      const b = at(v, 13);
      if (b !== null) {
        if (b === PACKED) frame.d = unpack(v[5]);
        else if (b !== 1) malformed('bad batch flag');
        frame.b = 1;
      }
      if (at(v, 14) !== null) frame.nd = str(v[14]);
      if (at(v, 15) !== null) frame.ni = num(v[15]);
      return withAcks(frame, at(v, 12), at(v, 16));
    }
    case REPLY:
    case REPLY_DEF: {
      const k = v[1];
      const meta = typeof k === 'number' && v[0] === REPLY ? entry(metas, k, false) : carried(metas, v[0] === REPLY_DEF, () => replyMeta(k));
      if (v.length < REPLY_FIELDS || v.length > REPLY_MAX) malformed(`a reply frame has ${REPLY_FIELDS} to ${REPLY_MAX} fields`);
      const ok = v[3];
      if (ok !== 0 && ok !== 1) malformed('bad ok flag');
      const frame: Frame = { t: 'y', cap: meta.cap, c: num(v[2]), ok: ok === 1 };
      // An error is read leniently (fromWire), as in an object frame: a reply is never dropped for its error's shape.
      if (ok === 1) frame.d = v[4];
      else frame.e = at(v, 6) as WireError;
      if (at(v, 7) !== null) frame.nd = str(v[7]);
      if (at(v, 8) !== null) frame.ni = num(v[8]);
      return withAcks(frame, at(v, 5), at(v, 9));
    }
    case ACK:
      if (v.length < ACK_FIELDS || v.length > ACK_MAX) malformed(`an ack frame has ${ACK_FIELDS} to ${ACK_MAX} fields`);
      return withAcks({ t: 'a' }, at(v, 1), at(v, 2));
    default:
      return malformed(`unknown kind ${String(v[0])}`);
  }
}

/**
 * The seq of a message frame that `unflattenFrame` refused, when it can be
 * read: its receiver refuses that message by it, so that its send settles.
 */
export function seqOfUnreadable(v: unknown): number | undefined {
  if (!Array.isArray(v) || (v[0] !== MSG && v[0] !== MSG_DEF)) return undefined;
  const seq: unknown = v[1];
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}
