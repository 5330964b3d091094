/**
 * Checks of the options objects that set things up (boot, spawn,
 * createMailbox, serve): a key an option type does not have fails with
 * EINVAL, so that a misspelt option (`{ capcity: 8 }`) from a caller
 * without TypeScript is not silently taken for its default. Per-message
 * options (send, call) are not looked over so: that would cost every
 * message a walk of its options' keys.
 */
import { FosError } from '../errors.js';

/** Every key of an options type, listed: an option added to the type and not to its list is a type error. */
export type KeysOf<T> = { readonly [K in keyof Required<T>]: true };

/** EINVAL unless `opts` is undefined or an object whose own keys are all in `known`. */
export function checkKeys<T extends object>(what: string, opts: T | undefined, known: KeysOf<T>): void {
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new FosError('EINVAL', `${what} is an object of options, got ${describeOption(opts)}`);
  for (const k of Object.keys(opts)) {
    if (!Object.hasOwn(known, k)) throw new FosError('EINVAL', `${what} has no option ${JSON.stringify(k)}; its options are ${Object.keys(known).join(', ')}`);
  }
}

/** A bad option's value, for an error message: a string quoted (so that "3" is not read as 3), another primitive as it is, the rest by kind. */
export function describeOption(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(v);
    case 'bigint':
      return `${v}n`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      return v === null ? 'null' : Array.isArray(v) ? 'an array' : 'an object';
  }
}

/** EINVAL unless `v` is a finite number of µs >= 0 (a spin budget, a slice). */
export function checkMicros(what: string, v: unknown): void {
  if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new FosError('EINVAL', `${what} is a number of µs >= 0, got ${describeOption(v)}`);
}
