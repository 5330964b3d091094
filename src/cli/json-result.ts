/**
 * A call's result as `fos call` prints it: JSON, with what JSON has no
 * word for written as the nearest thing it has, rather than as the `{}`
 * that JSON.stringify makes of a Map, a Set or an Error. So a Map is an
 * object when its keys are all strings, else a list of [key, value]
 * pairs; a Set a list; bytes (a typed array, a Buffer, an ArrayBuffer) a
 * list of numbers; an Error its name, message, code and cause; a RegExp
 * its source, as a string; a bigint the digits and `n`, as a string;
 * undefined null (in a list; a property goes, as in JSON); a value that
 * holds itself "[Circular]" where it comes again (values cross nodes with
 * their cycles). Dates are JSON's own (ISO strings).
 */
export function resultJson(v: unknown): string {
  return JSON.stringify(plain(v, new Set())) ?? 'null';
}

/** `v` made of what JSON writes as it is; `within` holds the objects `v` is inside of (a cycle's way back). */
function plain(v: unknown, within: Set<object>): unknown {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v !== 'object' || v === null) return v;
  if (within.has(v)) return '[Circular]';
  within.add(v);
  try {
    return plainObject(v, within);
  } finally {
    within.delete(v);
  }
}

function plainObject(o: object, within: Set<object>): unknown {
  const each = (x: unknown): unknown => plain(x, within);
  if (o instanceof Map) {
    const entries = [...o.entries()].map(([k, x]) => [each(k), each(x)] as const);
    return entries.every(([k]) => typeof k === 'string') ? Object.fromEntries(entries) : entries;
  }
  if (o instanceof Set) return [...o].map(each);
  if (Array.isArray(o)) return o.map((x) => (x === undefined ? null : each(x)));
  if (ArrayBuffer.isView(o)) {
    const view = o instanceof DataView ? new Uint8Array(o.buffer, o.byteOffset, o.byteLength) : o;
    // BigInt64Array's items are bigints: strings with an `n`, as any bigint.
    return Array.from(view as unknown as ArrayLike<number | bigint>, each);
  }
  if (o instanceof ArrayBuffer || o instanceof SharedArrayBuffer) return [...new Uint8Array(o)];
  if (o instanceof Error) {
    const { code, cause } = o as { code?: unknown; cause?: unknown };
    return { name: o.name, message: o.message, ...(code !== undefined ? { code: each(code) } : {}), ...(cause !== undefined ? { cause: each(cause) } : {}) };
  }
  if (o instanceof RegExp) return String(o);
  // A Date, or anything else with a JSON form of its own, gives that.
  if (typeof (o as { toJSON?: unknown }).toJSON === 'function') return (o as { toJSON(): unknown }).toJSON();
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) if (x !== undefined && typeof x !== 'function' && typeof x !== 'symbol') out[k] = each(x);
  return out;
}
