/**
 * A codec for the values most messages and call arguments are: numbers,
 * strings, booleans, null, undefined, byte arrays, and arrays and plain
 * objects of these. On
 * this path msgpackr (in the structured-clone mode that Maps, Dates and
 * cycles need) costs 0.5 to 2 µs per encode or decode, more than the
 * system call a callSync is meant to match; this codec costs a few tens of
 * ns. The envelope uses it when a value fits it (flag SIMPLE) and msgpackr
 * otherwise, so what arrives is what msgpackr would have given: an integer
 * -0 arrives as 0, a string with a lone surrogate as UTF-8 makes it, an
 * array without its non-index properties, a plain object with its own
 * enumerable string-keyed properties in their order (msgpackr's for-in),
 * as a new plain object.
 *
 * Format: a value is a tag byte and its body, little-endian:
 *   0 undefined   1 null   2 false   3 true
 *   4 int32 (4 bytes)      5 float64 (8 bytes)
 *   6 string: u32 UTF-8 byte length, the bytes
 *   7 Uint8Array: u32 length, the bytes
 *   8 array: u32 count, the items
 *   9 object: u32 count, then per property its key (a string, tag and
 *     all) and its value
 *
 * Encoding writes into one reused scratch buffer and gives a view of it,
 * valid until the next encode (as msgpackr's own buffer is); a value that
 * does not fit the format or the scratch gives undefined, for msgpackr.
 * An array or object met twice (shared, or a cycle) sends the whole value
 * to msgpackr, which keeps it shared, as a structured clone (the kernel
 * transport) does: a value arrives with the same shape whatever carries it.
 * So does an object with a `__proto__` key, which an assignment on
 * decoding would turn into a prototype. A byte array met twice arrives as
 * two equal copies: a sendMany batch is mostly byte arrays, and looking
 * each up cost more than the rest of the batch's encoding.
 */
const SCRATCH = 64 * 1024;
/** Arrays and objects nested deeper go to msgpackr. */
const MAX_DEPTH = 8;
/** ASCII strings up to this length are written a char at a time and read without TextDecoder (readShortAscii): cheaper than TextEncoder/TextDecoder. */
const SHORT_STRING = 64;

const enum Tag {
  Undefined = 0,
  Null = 1,
  False = 2,
  True = 3,
  Int32 = 4,
  Float64 = 5,
  String = 6,
  Bytes = 7,
  Array = 8,
  Object = 9,
}

const scratch = new Uint8Array(SCRATCH);
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const utf8Out = new TextEncoder();
// ignoreBOM: a string that starts with U+FEFF keeps it.
const utf8In = new TextDecoder('utf-8', { ignoreBOM: true });

/** Thrown inside the encoder when a value does not fit; never escapes. */
const NOT_SIMPLE = Symbol('not simple');

let at = 0;
/**
 * Plain objects one value may hold and still be simple. Past a handful,
 * msgpackr is cheaper: its records send the keys once for all the objects
 * of one shape and build each with one generated function (measured on a
 * sendMany batch of 256 small objects: about 0.6 µs an object through
 * msgpackr, twice that here), while for a value with a few objects its
 * fixed cost (3 to 5 µs an envelope) is what dominates.
 */
const MAX_OBJECTS = 16;
/** Plain objects the current encode has met. */
let objects = 0;
/**
 * Arrays and objects one value may hold and still be simple. Each is
 * looked up among those met before, to find one met twice, by a scan:
 * a Set instead (for a value of many) cost more per array than msgpackr,
 * which tracks them too, so a value with more goes there.
 */
const MAX_CONTAINERS = 32;
/**
 * The arrays and objects the current encode has met, `seenCount` of them.
 * A fixed array, since emptying a growable one cost a call into the
 * runtime; emptied after each encode, so that it keeps no value alive.
 */
const seen = new Array<object | undefined>(MAX_CONTAINERS).fill(undefined);
let seenCount = 0;

/** Notes the array or object `o` as met; NOT_SIMPLE if it was met before, or is one too many. */
function meet(o: object): void {
  for (let i = 0; i < seenCount; i++) if (seen[i] === o) throw NOT_SIMPLE;
  if (seenCount === MAX_CONTAINERS) throw NOT_SIMPLE;
  seen[seenCount++] = o;
}

function forgetSeen(): void {
  for (let i = 0; i < seenCount; i++) seen[i] = undefined;
  seenCount = 0;
}

/** True while an encode runs: a getter or Proxy trap of the value that sends a message must not reuse the scratch state. */
let busy = false;

function room(n: number): void {
  if (at + n > SCRATCH) throw NOT_SIMPLE;
}

function u32(n: number): void {
  scratch[at] = n;
  scratch[at + 1] = n >>> 8;
  scratch[at + 2] = n >>> 16;
  scratch[at + 3] = n >>> 24;
  at += 4;
}

function writeString(s: string): void {
  const n = s.length;
  if (n <= SHORT_STRING) {
    room(5 + n);
    let ascii = true;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) {
        ascii = false;
        break;
      }
      scratch[at + 5 + i] = c;
    }
    if (ascii) {
      scratch[at] = Tag.String;
      at++;
      u32(n);
      at += n;
      return;
    }
  }
  room(5 + 3 * n); // UTF-8 takes at most 3 bytes per UTF-16 unit
  const start = at;
  const { written } = utf8Out.encodeInto(s, scratch.subarray(start + 5));
  scratch[start] = Tag.String;
  at = start + 1;
  u32(written);
  at += written;
}

function write(v: unknown, depth: number): void {
  switch (typeof v) {
    case 'number':
      if ((v | 0) === v) {
        room(5);
        scratch[at] = Tag.Int32;
        at++;
        u32(v);
      } else {
        room(9);
        scratch[at] = Tag.Float64;
        f64[0] = v;
        for (let i = 0; i < 8; i++) scratch[at + 1 + i] = f64Bytes[i]!; // set() is a builtin call, twice the cost
        at += 9;
      }
      return;
    case 'string':
      writeString(v);
      return;
    case 'boolean':
      room(1);
      scratch[at++] = v ? Tag.True : Tag.False;
      return;
    case 'undefined':
      room(1);
      scratch[at++] = Tag.Undefined;
      return;
    case 'object':
      if (v === null) {
        room(1);
        scratch[at++] = Tag.Null;
        return;
      }
      if (v instanceof Uint8Array && v.constructor === Uint8Array) {
        room(5 + v.length);
        scratch[at] = Tag.Bytes;
        at++;
        u32(v.length);
        if (v.length <= 32) for (let i = 0; i < v.length; i++) scratch[at + i] = v[i]!; // cheaper than set() for a few bytes
        else scratch.set(v, at);
        at += v.length;
        return;
      }
      if (depth >= MAX_DEPTH) throw NOT_SIMPLE;
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto === Array.prototype && Array.isArray(v)) {
        if (!ownArrays) meet(v);
        const n = v.length;
        room(5);
        scratch[at] = Tag.Array;
        at++;
        u32(n);
        for (let i = 0; i < n; i++) write(v[i], depth + 1);
        return;
      }
      if (proto === Object.prototype) {
        writeObject(v as Record<string, unknown>, depth);
        return;
      }
      throw NOT_SIMPLE;
    default:
      throw NOT_SIMPLE;
  }
}

/** Called as hasOwn.call(o, k): see writeObject. */
const hasOwn = Object.prototype.hasOwnProperty;

/** A plain object: its own enumerable string keys, in for-in order, as msgpackr takes them; the count is written last. */
function writeObject(o: Record<string, unknown>, depth: number): void {
  if (++objects > MAX_OBJECTS) throw NOT_SIMPLE;
  meet(o);
  room(5);
  scratch[at] = Tag.Object;
  const countAt = at + 1;
  at += 5;
  let n = 0;
  for (const k in o) {
    // Not Object.hasOwn: V8 turns this form, in a for-in, into a look at the enum cache (7x cheaper here).
    if (!hasOwn.call(o, k)) continue;
    if (k === '__proto__') throw NOT_SIMPLE;
    writeString(k);
    write(o[k], depth + 1);
    n++;
  }
  const end = at;
  at = countAt;
  u32(n);
  at = end;
}

/** True while encoding a value whose arrays its caller made (see encodeSimple). */
let ownArrays = false;

/**
 * The value's encoding (a view of the scratch buffer, valid until the next
 * call), or undefined if it is not a simple value. `own`: the caller
 * made every array of `v` just now, so none is met twice, and none is
 * looked up or counted against MAX_CONTAINERS (tcp's verdict lists, which
 * hold an array per refusal and must always encode).
 */
export function encodeSimple(v: unknown, own = false): Uint8Array | undefined {
  if (busy) return undefined; // called from a getter of the value being encoded: msgpackr takes it
  busy = true;
  ownArrays = own;
  at = 0;
  try {
    write(v, 0);
  } catch (e) {
    if (e === NOT_SIMPLE) return undefined;
    throw e;
  } finally {
    busy = false;
    objects = 0;
    if (seenCount !== 0) forgetSeen();
  }
  return scratchView(at);
}

/** Views of the scratch buffer's first n bytes, made once per small n: a subarray costs about 100 ns, as much as a whole small encode. */
const views: Uint8Array[] = [];
const VIEW_CACHE = 256;

function scratchView(n: number): Uint8Array {
  if (n >= VIEW_CACHE) return scratch.subarray(0, n);
  return (views[n] ??= scratch.subarray(0, n));
}

/** A malformed encoding: the caller reports it as it reports a malformed record. */
export class MalformedValue extends Error {
  override readonly name = 'MalformedValue';
}

/** Arrays of up to this many items are allocated at their full length before their items are read (MAX_DEPTH of them at most: a bound on what a lying count can cost). */
const PREALLOCATED_ITEMS = 1024;

let src: Uint8Array = scratch;
let pos = 0;
let end = 0;

function need(n: number): void {
  if (pos + n > end) throw new MalformedValue(`value truncated at byte ${pos}`);
}

function readU32(): number {
  need(4);
  const n = (src[pos]! | (src[pos + 1]! << 8) | (src[pos + 2]! << 16) | (src[pos + 3]! << 24)) >>> 0;
  pos += 4;
  return n;
}

/** A plain Uint8Array holding `n` bytes of the source from `from` (Buffer#slice would give a view). */
function copy(from: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  if (n <= 32) for (let i = 0; i < n; i++) b[i] = src[from + i]!; // cheaper than a view and a set() for a few bytes
  else b.set(src.subarray(from, from + n));
  return b;
}

/** Node's latin1 decoder, which reads any Uint8Array (SharedArrayBuffer views too): for ASCII bytes, the exact string. */
const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

/** The shortest ASCII string read with latin1Slice; a shorter one is built a char at a time (cheaper here for 1 to 7 chars). */
const SLICED_STRING = 8;

/**
 * An ASCII string of up to SHORT_STRING bytes, or undefined when a byte is
 * not ASCII. From SLICED_STRING bytes on it is one flat string from Node's
 * latin1 decoder rather than a chain of concatenations, which V8 flattens
 * when the string is used (a Map key, a comparison): 2-3x less per string
 * of 16 to 60 chars, measured with their use as Map keys.
 */
function readShortAscii(n: number): string | undefined {
  if (n < SLICED_STRING) {
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = src[pos + i]!;
      if (c > 0x7f) return undefined;
      s += String.fromCharCode(c);
    }
    return s;
  }
  for (let i = 0; i < n; i++) if (src[pos + i]! > 0x7f) return undefined;
  return latin1Slice.call(src, pos, pos + n);
}

function readString(n: number): string {
  need(n);
  if (n <= SHORT_STRING) {
    const s = readShortAscii(n);
    if (s !== undefined) {
      pos += n;
      return s;
    }
  }
  // A copy: TextDecoder takes no view of a SharedArrayBuffer.
  const s = utf8In.decode(copy(pos, n));
  pos += n;
  return s;
}

/**
 * Object keys read before, by a hash of their bytes, so that a key read
 * again is the same internalized string: V8 stores a property under a
 * fresh string only after hashing and looking it up in its string table,
 * which cost more than the rest of a small object. A slot holds the last
 * key that hashed to it; a hit is checked byte for byte, so a collision
 * (or a sender filling the cache) costs time, never a wrong key.
 */
const KEY_SLOTS = 1024;
const KEY_CACHED = 24;
const keyBytes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(KEY_SLOTS).fill(undefined);
const keyStrings: string[] = new Array<string>(KEY_SLOTS).fill('');

/** The same string as a property name: internalized, as V8 keeps the names it stores properties under. */
function internalized(k: string): string {
  return Object.keys({ [k]: 0 })[0] ?? k;
}

/** An object's key: a string value (tag and all), never `__proto__`. */
function readKey(): string {
  need(1);
  if (src[pos] !== Tag.String) throw new MalformedValue(`an object key that is not a string at byte ${pos}`);
  pos++;
  const n = readU32();
  need(n);
  let k: string;
  if (n > KEY_CACHED) k = readString(n);
  else {
    let h = n;
    for (let i = 0; i < n; i++) h = (Math.imul(h, 31) + src[pos + i]!) | 0;
    const slot = h & (KEY_SLOTS - 1);
    const cached = keyBytes[slot];
    if (cached !== undefined && cached.length === n) {
      let i = 0;
      while (i < n && cached[i] === src[pos + i]) i++;
      if (i === n) {
        pos += n;
        return keyStrings[slot]!;
      }
    }
    const bytes = copy(pos, n);
    k = internalized(readString(n));
    if (k !== '__proto__') {
      keyBytes[slot] = bytes;
      keyStrings[slot] = k;
    }
  }
  if (k === '__proto__') throw new MalformedValue('an object key __proto__, which no encoder writes');
  return k;
}

function read(depth: number): unknown {
  need(1);
  const tag = src[pos++]!;
  switch (tag) {
    case Tag.Undefined:
      return undefined;
    case Tag.Null:
      return null;
    case Tag.False:
      return false;
    case Tag.True:
      return true;
    case Tag.Int32:
      return readU32() | 0;
    case Tag.Float64:
      need(8);
      for (let i = 0; i < 8; i++) f64Bytes[i] = src[pos + i]!;
      pos += 8;
      return f64[0];
    case Tag.String:
      return readString(readU32());
    case Tag.Bytes: {
      const n = readU32();
      need(n);
      // A copy that owns exactly its bytes, as after a structured clone.
      const b = copy(pos, n);
      pos += n;
      return b;
    }
    case Tag.Array: {
      if (depth >= MAX_DEPTH) throw new MalformedValue('arrays nested too deep');
      const n = readU32();
      // Every item takes at least one byte: a count beyond the bytes left is a lie.
      need(n);
      // A long array grows as its items arrive: each level of a nest of
      // arrays may announce as many items as the bytes left, and
      // allocating them all up front made megabytes of input take tens of
      // times as much memory before the first bad item failed the decode.
      const a: unknown[] = n > PREALLOCATED_ITEMS ? [] : new Array<unknown>(n);
      for (let i = 0; i < n; i++) a[i] = read(depth + 1); // in order: on [], each store appends
      return a;
    }
    case Tag.Object: {
      if (depth >= MAX_DEPTH) throw new MalformedValue('values nested too deep');
      const n = readU32();
      // Every property takes at least six bytes (a key's tag and length, a value's tag): a count beyond that is a lie.
      need(6 * n);
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const k = readKey();
        o[k] = read(depth + 1);
      }
      return o;
    }
    default:
      throw new MalformedValue(`unknown tag ${tag} at byte ${pos - 1}`);
  }
}

/**
 * Decodes a whole encoding, `bytes` from `from` to `to` (a range rather
 * than a view: a view is an allocation per decode on the hot path);
 * nothing returned aliases `bytes`. Throws MalformedValue.
 */
export function decodeSimple(bytes: Uint8Array, from = 0, to = bytes.length): unknown {
  if (from < 0 || to > bytes.length || from > to) throw new MalformedValue(`no bytes ${from} to ${to} in ${bytes.length}`);
  src = bytes;
  pos = from;
  end = to;
  try {
    const v = read(0);
    if (pos !== end) throw new MalformedValue(`${end - pos} bytes after the value`);
    return v;
  } finally {
    src = scratch;
  }
}
