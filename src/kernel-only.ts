/**
 * What only a structured clone carries faithfully: the parts of a message
 * that the transports which encode bytes (shm and tcp, through
 * simple-values.ts and msgpackr) would change or drop, where the kernel
 * transport (postMessage) keeps them, or refuses them. A message that holds
 * one goes by kernel within a node, in order (Runtime.deliver), and fails
 * with EINVAL where kernel cannot go: to another node, in a callSync, in a
 * send forced onto shm. So a value arrives the same whichever transport
 * carries it, or fails the same.
 *
 * Found here:
 * - shared memory: a SharedArrayBuffer, or a view of one (postMessage
 *   shares it; bytes would be a copy). A view of at most 64 bytes is not
 *   looked at: asking for its buffer would cost V8 an off-heap copy of an
 *   on-heap array on every small message, and such a view of shared memory
 *   arrives copied (documented);
 * - a Blob, a boxed primitive (`new Number(1)`), and
 *   every object with a non-plain prototype that msgpackr does not know and
 *   whose tag says it is a built-in (WeakMap, WeakSet, WeakRef, Promise, a
 *   generator, a MessagePort...): msgpackr makes `{}` of them;
 * - an Error (within a node: the stack is the sender's there, the
 *   decoder's over bytes; a node carries its name, message and cause to
 *   another);
 * - a plain object with an own `__proto__` key (msgpackr renames it);
 * - an instance of a subclass of Map or of a typed array (a structured
 *   clone makes a Map or the base typed array of it; msgpackr makes `{}`
 *   of the first, and of the second bytes that no decoder takes);
 * - a symbol or a function (postMessage refuses them: EINVAL everywhere).
 *
 * Not found, and documented: holes in an array (they arrive as undefined),
 * an array's non-index properties (dropped), an `arguments` object (it
 * arrives as a plain object of its items: telling it from one costs every
 * object a lookup), -0 and lone surrogates.
 * User class instances arrive as plain objects of their own enumerable
 * properties, as a structured clone makes them. The walk reads what the
 * encoder then reads again: a getter runs twice per message over shm.
 */

import { Buffer } from 'node:buffer';
import type { TransferListItem } from 'node:worker_threads';
import { FosError } from './errors.js';

/** Objects met before the walk keeps a set of them (a cycle is then met again within one turn of it). */
const DEPTH_BEFORE_SEEN = 8;
/** Views of this many bytes or fewer may be on V8's heap: see above. */
const ON_HEAP_VIEW_BYTES = 64;

const toTag = Object.prototype.toString;

/**
 * Why `v` can be carried faithfully only by a structured clone, or
 * undefined when bytes carry it as well; `toNode` when it would go to
 * another node (an Error may, without its stack).
 */
export function kernelOnly(v: unknown, toNode = false): string | undefined {
  try {
    return walk(v, 0, undefined, toNode);
  } catch {
    // A getter or a Proxy trap threw: the encoder meets it too, and says so (EINVAL) where the message is encoded.
    return undefined;
  }
}

/** Whether `v` may be, or hold, what only a structured clone carries: an object, a symbol or a function. */
function mayHold(v: unknown): boolean {
  const t = typeof v;
  return t === 'object' ? v !== null : t === 'symbol' || t === 'function';
}

const FUNCTION = 'a function';
const SYMBOL = 'a symbol';

function notAnObject(v: unknown): string | undefined {
  return typeof v === 'symbol' ? SYMBOL : typeof v === 'function' ? FUNCTION : undefined;
}

function sharedView(view: ArrayBufferView): string | undefined {
  return view.byteLength > ON_HEAP_VIEW_BYTES && view.buffer instanceof SharedArrayBuffer ? 'a view of a SharedArrayBuffer' : undefined;
}

/**
 * The views msgpackr encodes by their class: its typed-array extension
 * writes the index of the constructor's name in its table, so a subclass
 * (another name) is written with no type at all. Buffer goes as binary.
 */
const VIEW_CLASSES: ReadonlySet<unknown> = new Set<unknown>([
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array, DataView, Buffer,
]);

/** Why a view can go only by kernel (shared memory, or a class of its own), or undefined. */
function view(v: ArrayBufferView): string | undefined {
  const c: unknown = v.constructor;
  return VIEW_CLASSES.has(c) ? sharedView(v) : subclass(v, VIEW_CLASSES);
}

/**
 * 'a MyMap, a subclass of Map': `v`'s class and the nearest of `bases` it
 * extends; none of them when `v` comes from another realm (a vm context,
 * whose built-ins are other objects than this one's).
 */
function subclass(v: object, bases: ReadonlySet<unknown>): string {
  const c = (v as { constructor?: unknown }).constructor;
  let base: unknown = Object.getPrototypeOf(Object.getPrototypeOf(v));
  while (base !== null && !bases.has((base as { constructor?: unknown }).constructor)) base = Object.getPrototypeOf(base);
  const name = (x: unknown): string => (typeof x === 'function' && x.name !== '' ? x.name : 'a class without a name');
  return base === null ? `a ${name(c)} from another realm (a vm context)` : `a ${name(c)}, a subclass of ${name((base as { constructor?: unknown }).constructor)}`;
}

const MAP_CLASS: ReadonlySet<unknown> = new Set<unknown>([Map]);

// Ordered by what messages most often hold: byte arrays, arrays and plain
// objects first, each with as few checks as it takes (this runs on every
// message that goes by shm or tcp).
function walk(v: unknown, depth: number, seen: Set<object> | undefined, toNode: boolean): string | undefined {
  if (typeof v !== 'object' || v === null) return notAnObject(v);
  if (v instanceof Uint8Array) {
    const c: unknown = v.constructor;
    return c === Uint8Array || c === Buffer ? sharedView(v) : view(v);
  }
  if (depth >= DEPTH_BEFORE_SEEN) {
    seen ??= new Set();
    if (seen.has(v)) return undefined;
    seen.add(v);
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (!mayHold(x)) continue; // a number, a string...: no call for it
      const why = walk(x, depth + 1, seen, toNode);
      if (why !== undefined) return why;
    }
    return undefined;
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    for (const k in v) {
      if (k === '__proto__') return 'an object with an own __proto__ key';
      const x = (v as Record<string, unknown>)[k];
      if (!mayHold(x)) continue;
      const why = walk(x, depth + 1, seen, toNode);
      if (why !== undefined) return why;
    }
    return undefined;
  }
  if (ArrayBuffer.isView(v)) return view(v);
  if (v instanceof ArrayBuffer || v instanceof Date || v instanceof RegExp) return undefined;
  if (v instanceof SharedArrayBuffer) return 'a SharedArrayBuffer';
  if (v instanceof Map) {
    if (v.constructor !== Map) return subclass(v, MAP_CLASS); // msgpackr tells a Map by its constructor
    for (const [k, x] of v) {
      const why = walk(k, depth + 1, seen, toNode) ?? walk(x, depth + 1, seen, toNode);
      if (why !== undefined) return why;
    }
    return undefined;
  }
  if (v instanceof Set) {
    for (const x of v) {
      const why = walk(x, depth + 1, seen, toNode);
      if (why !== undefined) return why;
    }
    return undefined;
  }
  if (v instanceof Error) return toNode ? walk(v.cause, depth + 1, seen, toNode) : 'an Error (its stack)';
  const tag = toTag.call(v);
  // A user class's instance: carried as a structured clone makes it, a plain object of its own properties.
  if (tag === '[object Object]') {
    for (const k of Object.keys(v)) {
      const why = walk((v as Record<string, unknown>)[k], depth + 1, seen, toNode);
      if (why !== undefined) return why;
    }
    return undefined;
  }
  return `a ${tag.slice(8, -1)}`;
}

/** Why a transfer list can go only by kernel (it holds more than ArrayBuffers: a MessagePort...), or undefined. */
export function kernelOnlyTransfer(list: readonly TransferListItem[] | undefined): string | undefined {
  if (list === undefined) return undefined;
  for (const t of list) if (!(t instanceof ArrayBuffer)) return `a ${toTag.call(t).slice(8, -1)} in the transfer list`;
  return undefined;
}

/** The EINVAL of a message (or `what`) holding `why`, which cannot go `where`. */
export function notCarried(why: string, where: string, what = 'the message'): FosError {
  // A function or a symbol goes nowhere: a structured clone refuses it too.
  if (why === FUNCTION || why === SYMBOL) return new FosError('EINVAL', `${what} holds ${why}, which no message carries (a structured clone cannot either)`);
  return new FosError('EINVAL', `${what} holds ${why}, which only a structured clone carries as it is: it cannot go ${where}`);
}
