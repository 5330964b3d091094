/**
 * Whether a value is a byte array that a structured clone copies as a byte
 * array of its own: a plain Uint8Array, not empty, viewing the whole of an
 * ArrayBuffer that is neither shared nor resizable. The kernel transport
 * packs batches of such arrays, and copies within an isolate make them
 * without structuredClone; both must give exactly what a clone gives.
 *
 * It reads what the clone reads: the brand and the internal slots, through
 * the built-in getters, never a property the value defines on itself.
 */
import { types } from 'node:util';

const typedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;

function builtInGetter(proto: object, name: string): (this: unknown) => unknown {
  const get = Object.getOwnPropertyDescriptor(proto, name)?.get;
  if (get === undefined) throw new Error(`no built-in getter ${name}`);
  return get;
}

const byteOffsetOf = builtInGetter(typedArrayProto, 'byteOffset');
const byteLengthOf = builtInGetter(typedArrayProto, 'byteLength');
const bufferOf = builtInGetter(typedArrayProto, 'buffer');
const bufferLengthOf = builtInGetter(ArrayBuffer.prototype, 'byteLength');
// ES2024; absent from older engines, where no buffer is resizable.
const resizableOf = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')?.get;

/**
 * The buffer `v` views whole, when `v` is such a byte array; else undefined.
 * Reading the buffer makes a small array's buffer if it had none (about
 * 0.5 µs here), still far below what a clone costs.
 */
export function ownBuffer(v: unknown): ArrayBuffer | undefined {
  if (!types.isUint8Array(v) || Object.getPrototypeOf(v) !== Uint8Array.prototype) return undefined;
  const length = byteLengthOf.call(v) as number;
  // A view of part of a buffer, or of nothing (a detached buffer reads as empty), is the clone's to carry.
  if (byteOffsetOf.call(v) !== 0 || length === 0) return undefined;
  const b = bufferOf.call(v);
  if (!types.isArrayBuffer(b) || bufferLengthOf.call(b) !== length || resizableOf?.call(b) === true) return undefined;
  return b;
}
