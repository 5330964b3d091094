/**
 * The copy a message gets within one isolate (a send or call to a mailbox
 * of the same isolate, and the reply to it): exactly what structuredClone
 * gives, made in JavaScript for the shapes most messages and call
 * arguments take: primitives, plain arrays, and byte arrays that own their
 * whole buffer. structuredClone went through the serializer for every
 * value, 1.6-3.2 µs on this machine for a call's `[bytes]`, twice per call
 * (arguments and result), most of what a call within an isolate cost.
 * Anything else (objects, Maps, other typed arrays, views of part of a
 * buffer, shared or resizable buffers, proxies, arrays with holes or extra
 * properties, more than a few objects, deep nesting) is handed to
 * structuredClone whole, so it decides, and fails, as before.
 *
 * What a clone keeps, this keeps: -0, an object met twice (or a cycle)
 * stays one object, two byte arrays on one buffer stay on one buffer. One
 * difference can be seen: an array whose items are getters has them run
 * twice when a later item sends the value to structuredClone after all.
 */
import { types } from 'node:util';

/** More objects than this, or deeper than this, go to structuredClone. */
const MAX_OBJECTS = 32;
const MAX_DEPTH = 16;

/** Thrown inside the copier when a value is not one of its shapes; never escapes. */
const NOT_MINE = Symbol('not mine');

/**
 * The objects of the value being copied and their copies, in the first
 * `count` slots, in the same order; a byte array's buffer maps to the first
 * copy made of it. The slots are cleared after each copy (no reference
 * outlives it) but never shrunk: shrinking an array is a runtime call.
 */
const originals: (object | undefined)[] = new Array<undefined>(MAX_OBJECTS).fill(undefined);
const copies: (object | undefined)[] = new Array<undefined>(MAX_OBJECTS).fill(undefined);
let count = 0;
/** True while a copy runs: an index getter of the value that sends a message must not reuse the state. */
let busy = false;

const resizable = (b: ArrayBuffer): boolean => (b as { resizable?: boolean }).resizable === true;

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
  // A view of part of a buffer, or of nothing (a detached buffer reads as empty), is the clone's to carry.
  if (v.constructor !== Uint8Array || v.byteOffset !== 0 || v.byteLength === 0) throw NOT_MINE;
  // Reading `buffer` makes a small array's buffer if it had none (about 0.5 µs): still far below a clone.
  const b = v.buffer;
  if (!(b instanceof ArrayBuffer) || b.byteLength !== v.byteLength || resizable(b)) throw NOT_MINE;
  const at = slotOf(b);
  // A second view of a buffer met before: a view of that copy's buffer, as a clone keeps it.
  // Otherwise a copy made by the Uint8Array constructor: a new ArrayBuffer cost 0.6-1 µs, and
  // a small typed array gets one only when something asks for it.
  const copy = at >= 0 ? new Uint8Array((copies[at] as Uint8Array).buffer) : new Uint8Array(v);
  if (at < 0) remember(b, copy);
  remember(v, copy);
  return copy;
}

function array(v: unknown[], depth: number): unknown[] {
  if (Object.getPrototypeOf(v) !== Array.prototype) throw NOT_MINE;
  const n = v.length;
  // Exactly the indices 0..n-1 as own keys: no holes, no other properties (integer keys come first, ascending).
  const keys = Object.keys(v);
  if (keys.length !== n || (n > 0 && keys[n - 1] !== String(n - 1))) throw NOT_MINE;
  const copy = new Array<unknown>(n);
  remember(v, copy);
  for (let i = 0; i < n; i++) copy[i] = item(v[i], depth + 1);
  return copy;
}

function item(v: unknown, depth: number): unknown {
  if (typeof v !== 'object' || v === null) {
    // A symbol or a function cannot be cloned: structuredClone says so.
    if (typeof v === 'symbol' || typeof v === 'function') throw NOT_MINE;
    return v;
  }
  const at = slotOf(v);
  if (at >= 0) return copies[at];
  if (depth >= MAX_DEPTH || types.isProxy(v)) throw NOT_MINE;
  if (v instanceof Uint8Array) return bytes(v);
  if (Array.isArray(v)) return array(v, depth);
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
