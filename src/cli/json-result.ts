/**
 * A call's result as `fos call` prints it: JSON, with what JSON has no
 * word for written as the nearest thing it has, rather than as the `{}`
 * that JSON.stringify makes of a Map, a Set or an Error. So a Map is an
 * object when its keys are all strings, else a list of [key, value]
 * pairs; a Set a list; bytes (a typed array, a Buffer, an ArrayBuffer) a
 * list of numbers; an Error its name, message and code; a bigint the
 * digits and `n`, as a string; undefined null. Dates are JSON's own
 * (ISO strings).
 */
export function resultJson(v: unknown): string {
  return JSON.stringify(v, replace) ?? 'null';
}

function replace(this: unknown, key: string, value: unknown): unknown {
  // The holder's own value: `value` has been through toJSON (a Buffer's is { type, data }).
  const raw = (this as Record<string, unknown>)[key];
  if (typeof raw === 'bigint') return `${raw}n`;
  if (typeof raw !== 'object' || raw === null) return value;
  if (raw instanceof Map) {
    const entries = [...raw.entries()];
    return entries.every(([k]) => typeof k === 'string') ? Object.fromEntries(entries) : entries;
  }
  if (raw instanceof Set) return [...raw];
  if (ArrayBuffer.isView(raw)) {
    const view = raw instanceof DataView ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : raw;
    // BigInt64Array's items are bigints: strings with an `n`, as any bigint.
    return Array.from(view as unknown as ArrayLike<number | bigint>, (x) => (typeof x === 'bigint' ? `${x}n` : x));
  }
  if (raw instanceof ArrayBuffer || raw instanceof SharedArrayBuffer) return [...new Uint8Array(raw)];
  if (raw instanceof Error) {
    const code = (raw as { code?: unknown }).code;
    return { name: raw.name, message: raw.message, ...(code !== undefined ? { code } : {}) };
  }
  return value;
}
