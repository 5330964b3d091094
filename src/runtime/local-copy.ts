/**
 * The copy a message gets within one isolate (a send or call to a mailbox
 * of the same isolate, and the reply to it): exactly what structuredClone
 * gives, made in JavaScript for the shapes most messages and call
 * arguments take: primitives, plain arrays, and byte arrays that own their
 * whole buffer. structuredClone went through the serializer for every
 * value, 1.6-3.2 µs on this machine for a call's `[bytes]`, twice per call
 * (arguments and result), most of what a call within an isolate cost.
 * Anything else (objects, Maps, bare buffers, other typed arrays, views of
 * part of a buffer, shared or resizable buffers, proxies, arrays with holes
 * or extra properties, long arrays, more than a few objects, deep nesting)
 * is handed to structuredClone whole, so it decides, and fails, as before.
 *
 * What a clone keeps, this keeps: -0, an object met twice (or a cycle)
 * stays one object, two byte arrays on one buffer stay on one buffer. It
 * reads what the clone reads: brands and internal slots (util/own-buffer.ts),
 * never a property a value defines on itself, and array items once each,
 * in order. One difference can be seen: when an array's item turns out to
 * be one it leaves to structuredClone, the getters of the items before it
 * have run once already, and run again for the clone (and may give other
 * values the second time).
 */
import { types } from 'node:util';
import { ownBuffer } from '../util/own-buffer.js';

/** More objects than this, deeper than this, or an array longer than this go to structuredClone. */
const MAX_OBJECTS = 32;
const MAX_DEPTH = 16;
const MAX_ITEMS = 256;

/** Thrown inside the copier when a value is not one of its shapes; never escapes. */
const NOT_MINE = Symbol('not mine');

/**
 * The objects of the value being copied and their copies, in the first
 * `count` slots, in the same order. A byte array's buffer is kept too,
 * mapped to the first byte array copied from it (the copy of the buffer
 * is that array's buffer). The slots are cleared after each copy (no
 * reference outlives it) but never shrunk: shrinking an array is a runtime call.
 */
const originals: (object | undefined)[] = new Array<undefined>(MAX_OBJECTS).fill(undefined);
const copies: (object | undefined)[] = new Array<undefined>(MAX_OBJECTS).fill(undefined);
let count = 0;
/** True while a copy runs: an index getter of the value that sends a message must not reuse the state. */
let busy = false;

function remember(original: object, copy: object): void {
  if (count >= MAX_OBJECTS) throw NOT_MINE;
  originals[count] = original;
  copies[count] = copy;
  count++;
}

/** The slot of `o` among the originals, or -1. */
function slotOf(o: object): number {
  for (let i = 0; i < count; i++) if (originals[i] === o) return i;
  return -1;
}

function bytes(v: Uint8Array): Uint8Array {
  const b = ownBuffer(v);
  if (b === undefined) throw NOT_MINE;
  const at = slotOf(b);
  // A second view of a buffer met before: a view of that copy's buffer, as a clone keeps it.
  // Otherwise a copy made by the Uint8Array constructor: a new ArrayBuffer cost 0.6-1 µs, and
  // a small typed array gets one only when something asks for it.
  const copy = at >= 0 ? new Uint8Array((copies[at] as Uint8Array).buffer) : new Uint8Array(v);
  if (at < 0) remember(b, copy);
  remember(v, copy);
  return copy;
}

/** True when `v` has exactly the indices 0..n-1 as own keys: no holes, no other properties (integer keys come first, ascending). */
function dense(v: unknown[], n: number): boolean {
  const keys = Object.keys(v);
  return keys.length === n && (n === 0 || keys[n - 1] === String(n - 1));
}

function array(v: unknown[], depth: number): unknown[] {
  const n = v.length;
  if (n > MAX_ITEMS || !dense(v, n)) throw NOT_MINE;
  const copy = new Array<unknown>(n);
  remember(v, copy);
  // As the clone does: the indices as they were when it began; one that a
  // getter among the items took away is a hole, one it added is not copied.
  for (let i = 0; i < n; i++) if (i in v) copy[i] = item(v[i], depth + 1);
  return copy;
}

function item(v: unknown, depth: number): unknown {
  if (typeof v !== 'object' || v === null) {
    // A symbol or a function cannot be cloned: structuredClone says so.
    if (typeof v === 'symbol' || typeof v === 'function') throw NOT_MINE;
    return v;
  }
  const at = slotOf(v);
  // An object met before is its copy; a buffer met before (behind a byte array) is that copy's buffer.
  if (at >= 0) return types.isArrayBuffer(v) ? (copies[at] as Uint8Array).buffer : copies[at];
  if (depth >= MAX_DEPTH || types.isProxy(v)) throw NOT_MINE;
  if (types.isUint8Array(v)) return bytes(v);
  if (Array.isArray(v) && Object.getPrototypeOf(v) === Array.prototype) return array(v as unknown[], depth);
  throw NOT_MINE;
}

/** A structured clone of `v`; throws what structuredClone throws for what cannot be cloned. */
export function copyLocal(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) {
    if (typeof v === 'symbol' || typeof v === 'function') return structuredClone(v);
    return v;
  }
  if (busy) return structuredClone(v);
  busy = true;
  try {
    return item(v, 0);
  } catch (e) {
    if (e !== NOT_MINE) throw e;
    return structuredClone(v);
  } finally {
    for (let i = 0; i < count; i++) originals[i] = copies[i] = undefined;
    count = 0;
    busy = false;
  }
}
