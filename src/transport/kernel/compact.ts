/**
 * Compact frames: a message, reply or ack frame whose fields are all simple
 * values (simple-values.ts, in exact mode: nothing that a structured clone
 * would carry differently) is posted as one Uint8Array in that encoding
 * rather than as an object. postMessage's structured clone of a frame
 * object (its keys, strings and the nested reply ref) cost 5 to 8 µs per
 * frame on this machine, where a few bytes cost about what a bare payload
 * does. The frame that comes out is the one that went in.
 *
 * Layout: an array whose first item is the kind; an absent field is null
 * (no field that may be absent can be null when present):
 *   [1, s, to, cap, w, d, f.node, f.isolate, f.mailbox, f.cap, c, m, b, nd, ni, a]   'm'
 *   [2, cap, c, d, nd, ni, a]                                                       'y' with a value
 *   [3, a]                                                                           'a'
 * Everything else goes as an object: refusals (`n`) and error replies carry
 * WireError objects, control frames carry ports and buffers, and a frame
 * with a transfer list must be cloned with it.
 */
import { FosError } from '../../errors.js';
import type { Capability, Ref } from '../../runtime/ref.js';
import { decodeSimple, encodeSimple, MalformedValue } from '../../simple-values.js';
import type { Acks, Frame } from './frames.js';

const MSG = 1;
const REPLY = 2;
const ACK = 3;

/** The frame as bytes of its own, or undefined when it must go as an object. */
export function compactFrame(f: Frame): Uint8Array | undefined {
  const { a, n } = f as Acks;
  if (n !== undefined) return undefined;
  let fields: unknown[];
  switch (f.t) {
    case 'm': {
      const r = f.f;
      fields = [MSG, f.s, f.to, f.cap, f.w, f.d, r?.address.node ?? null, r?.address.isolate ?? null, r?.address.mailbox ?? null, r?.cap ?? null, f.c ?? null, f.m ?? null, f.b ?? null, f.nd ?? null, f.ni ?? null, a ?? null];
      break;
    }
    case 'y':
      if (!f.ok) return undefined;
      fields = [REPLY, f.cap, f.c, f.d, f.nd ?? null, f.ni ?? null, a ?? null];
      break;
    case 'a':
      fields = [ACK, a ?? null];
      break;
    default:
      return undefined;
  }
  // A copy of exactly the encoding: a view of the scratch buffer would clone all of it.
  return encodeSimple(fields, true)?.slice();
}

function malformed(why: string): never {
  throw new FosError('EINVAL', `malformed compact frame: ${why}`);
}

function opt<T>(v: unknown, type: 'string' | 'number' | 'object'): T | undefined {
  if (v === null) return undefined;
  if (typeof v !== type) malformed(`a field is a ${typeof v}, not a ${type}`);
  return v as T;
}

function num(v: unknown): number {
  if (typeof v !== 'number') malformed('a number field is not a number');
  return v;
}

function str(v: unknown): string {
  if (typeof v !== 'string') malformed('a string field is not a string');
  return v;
}

function withAcks<F extends Frame>(frame: F, a: unknown): F {
  if (a !== null) {
    if (!Array.isArray(a) || !a.every((x) => typeof x === 'number')) malformed('acknowledgements are not numbers');
    (frame as Acks).a = a as number[];
  }
  return frame;
}

/** The frame `bytes` carry. Throws EINVAL if they are not a compact frame. */
export function expandFrame(bytes: Uint8Array): Frame {
  let decoded: unknown;
  try {
    decoded = decodeSimple(bytes);
  } catch (e) {
    if (e instanceof MalformedValue) malformed(e.message);
    throw e;
  }
  if (!Array.isArray(decoded)) malformed('not an array');
  const v = decoded as unknown[]; // not any[]: every field is checked below
  switch (v[0]) {
    case MSG: {
      if (v.length !== 16) malformed('a message frame has 16 fields');
      const [, s, to, cap, w, d, node, isolate, mailbox, fcap, c, m, b, nd, ni, a] = v;
      if (w !== 0 && w !== 1) malformed('bad wait flag');
      const frame: Frame = { t: 'm', s: num(s), to: num(to), cap: str(cap), w, d };
      if (node !== null) {
        const ref: Ref = { address: { node: str(node), isolate: num(isolate), mailbox: num(mailbox) }, cap: str(fcap) as Capability };
        frame.f = ref;
      }
      const call = opt<number>(c, 'number');
      if (call !== undefined) frame.c = call;
      const method = opt<string>(m, 'string');
      if (method !== undefined) frame.m = method;
      if (b !== null) {
        if (b !== 1) malformed('bad batch flag');
        frame.b = 1;
      }
      const toNode = opt<string>(nd, 'string');
      if (toNode !== undefined) frame.nd = toNode;
      const toIsolate = opt<number>(ni, 'number');
      if (toIsolate !== undefined) frame.ni = toIsolate;
      return withAcks(frame, a);
    }
    case REPLY: {
      if (v.length !== 7) malformed('a reply frame has 7 fields');
      const [, cap, c, d, nd, ni, a] = v;
      const frame: Frame = { t: 'y', cap: str(cap), c: num(c), ok: true, d };
      const toNode = opt<string>(nd, 'string');
      if (toNode !== undefined) frame.nd = toNode;
      const toIsolate = opt<number>(ni, 'number');
      if (toIsolate !== undefined) frame.ni = toIsolate;
      return withAcks(frame, a);
    }
    case ACK:
      if (v.length !== 2) malformed('an ack frame has 2 fields');
      return withAcks({ t: 'a' }, v[1]);
    default:
      return malformed(`unknown kind ${String(v[0])}`);
  }
}
