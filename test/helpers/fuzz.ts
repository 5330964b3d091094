// The fuzz test every decoder gets: random bytes either decode or fail
// with the decoder's own error, never anything else.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FosError } from '../../src/errors.js';

/** A FosError with code EINVAL: what the decoders of records, frames and verdicts throw. */
export function isEinval(e: unknown): boolean {
  return e instanceof FosError && e.code === 'EINVAL';
}

/** Runs `decode` on random bytes (up to `maxLength`): it returns, or throws what `expected` accepts. */
export function fuzzDecoder(decode: (bytes: Uint8Array) => unknown, expected: (e: unknown) => boolean = isEinval, numRuns = 3000, maxLength = 64): void {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength }), (bytes) => {
      try {
        decode(bytes);
      } catch (e) {
        assert.ok(expected(e), `unexpected ${String(e)}`);
      }
    }),
    { numRuns },
  );
}
