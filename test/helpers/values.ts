// Values as fast-check generates them for the "values arrive equal" tests:
// nested objects, arrays, Map, Set, Date, BigInt, typed arrays, Uint8Array,
// undefined inside arrays.
import fc from 'fast-check';

const key = fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__');
const leaf = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 16 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.bigInt(),
  fc.date({ noInvalidDate: true }),
  fc.uint8Array({ maxLength: 32 }),
  fc.int32Array({ maxLength: 8 }),
  fc.float64Array({ maxLength: 8 }),
);
export const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object'), tie('map'), tie('set')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 5, noNullPrototype: true }),
  map: fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), tie('value')), { maxLength: 4 }).map((e) => new Map(e)),
  set: fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.bigInt()), { maxLength: 4 }).map((e) => new Set(e)),
}));


/** `v` as msgpack carries it: every -0 a 0 (msgpack has no negative zero). */
export function withoutNegativeZero(v: unknown): unknown {
  if (Object.is(v, -0)) return 0;
  if (Array.isArray(v)) return v.map(withoutNegativeZero);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [withoutNegativeZero(k), withoutNegativeZero(x)]));
  if (v instanceof Set) return new Set([...v].map(withoutNegativeZero));
  if (v instanceof Float64Array || v instanceof Float32Array) return v; // typed arrays keep their bytes
  if (typeof v === 'object' && v !== null && !(v instanceof Date) && !ArrayBuffer.isView(v)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutNegativeZero(x)]));
  }
  return v;
}

/**
 * The values simple-values.ts carries itself: numbers, strings (any
 * Unicode, some long), booleans, null, undefined, byte arrays, and arrays
 * and plain objects of these (it hands a value with more than 16 objects
 * to msgpackr: see objectsIn).
 */
export const { simpleValue } = fc.letrec((tie) => ({
  simpleValue: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('array'), tie('object')),
  leaf: fc.oneof(
    fc.integer(),
    fc.integer({ min: -(2 ** 53), max: 2 ** 53 }),
    fc.double(),
    fc.string({ maxLength: 16 }),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.uint8Array({ maxLength: 40 }),
  ),
  array: fc.array(tie('simpleValue'), { maxLength: 5 }),
  object: fc.dictionary(fc.oneof(key, fc.string({ unit: 'binary', maxLength: 30 }).filter((k) => k !== '__proto__')), tie('simpleValue'), { maxKeys: 5, noNullPrototype: true }),
}));

/** How deep arrays and plain objects nest in `v`: 0 for a leaf, 1 for a container of leaves. */
export function nestingOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + v.reduce((n: number, x) => Math.max(n, nestingOf(x)), 0);
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) return 1 + Object.values(v).reduce((n: number, x) => Math.max(n, nestingOf(x)), 0);
  return 0;
}

/** The arrays and plain objects `v` holds, itself included. */
export function containersIn(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + containersIn(x), 1);
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) return Object.values(v).reduce((n: number, x) => n + containersIn(x), 1);
  return 0;
}

/** The plain objects `v` holds, itself included. */
export function objectsIn(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + objectsIn(x), 0);
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) return Object.values(v).reduce((n: number, x) => n + objectsIn(x), 1);
  return 0;
}
