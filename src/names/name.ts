/** Hierarchical names: `/sys/fs`, `/app/kv/shard-1`. */
import { FosError } from '../errors.js';

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.:@+-]*$/;
export const MAX_NAME_LENGTH = 255;

/**
 * Throws EINVAL unless `name` is absolute, made of non-empty segments of
 * ASCII letters, digits and `_ . : @ + -` (each starting with a letter, a
 * digit or `_`), with no trailing slash and at most 255 characters.
 */
export function validateName(name: unknown): string {
  if (typeof name !== 'string') throw new FosError('EINVAL', `a name is a string, got ${typeof name}`);
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new FosError('EINVAL', `a name has 1 to ${MAX_NAME_LENGTH} characters: ${JSON.stringify(name.slice(0, 40))}`);
  }
  if (!name.startsWith('/')) throw new FosError('EINVAL', `a name starts with '/': ${JSON.stringify(name)}`);
  const segments = name.slice(1).split('/');
  for (const s of segments) {
    if (!SEGMENT.test(s)) {
      const why = s === '' ? 'an empty one (a doubled or trailing slash)' : 'a segment is ASCII letters, digits and _ . : @ + -, starting with a letter, a digit or _';
      throw new FosError('EINVAL', `bad name segment ${JSON.stringify(s)} in ${JSON.stringify(name)}: ${why}`);
    }
  }
  return name;
}
