// A type test for connect<T>(): the build (tsc) fails if a line marked
// `@ts-expect-error` type-checks, or if a line expected to type-check does
// not. The runtime part makes the same calls against a served object.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { boot, connect, FosError, serve, type Remote } from '../src/index.js';

const node = await boot();
after(() => node.shutdown());

interface Kv {
  get(key: string): number | undefined;
  set(key: string, value: number): Promise<void>;
  keys(): string[];
  nested(): Promise<number>;
  /** Not a method: Remote<Kv> has no such member. */
  size: number;
}

/** True when A and B are the same type (not merely assignable). */
type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

// ---- compile-time checks ---------------------------------------------------

// Each method maps to one returning a promise of its awaited result.
assertType<Equals<Remote<Kv>['get'], (key: string) => Promise<number | undefined>>>();
assertType<Equals<Remote<Kv>['set'], (key: string, value: number) => Promise<void>>>();
assertType<Equals<Remote<Kv>['keys'], () => Promise<string[]>>>();
assertType<Equals<Remote<Kv>['nested'], () => Promise<number>>>();
// Nested results are flattened as await flattens them.
assertType<Equals<Remote<{ f(): Promise<Promise<number>> }>['f'], () => Promise<number>>>();
// Only methods are kept.
assertType<Equals<keyof Remote<Kv>, 'get' | 'set' | 'keys' | 'nested'>>();

export async function typeChecks(kv: Remote<Kv>): Promise<void> {
  const v: number | undefined = await kv.get('a');
  await kv.set('a', 1);
  const ks: string[] = await kv.keys();
  const n: number = await kv.nested();
  void [v, ks, n];

  // @ts-expect-error a wrong argument type
  await kv.get(1);
  // @ts-expect-error a wrong second argument
  await kv.set('a', 'one');
  // @ts-expect-error a missing argument
  await kv.set('a');
  // @ts-expect-error too many arguments
  await kv.keys('extra');
  // @ts-expect-error a method the service does not have
  await kv.delete('a');
  // @ts-expect-error a non-method member is not on the remote face
  void kv.size;
  // @ts-expect-error the result is a promise, not the value
  const notAwaited: number | undefined = kv.get('a');
  // @ts-expect-error the result is a promise, not the value: no number methods on it
  kv.nested().toFixed(2);
  // @ts-expect-error the awaited result keeps its type: not a string
  const wrong: string = await kv.nested();
  // @ts-expect-error the proxy's methods are read-only
  kv.get = async () => 1;
  void [notAwaited, wrong];
}

// connect<T>() gives a Remote<T>.
assertType<Equals<ReturnType<typeof connect<Kv>>, Remote<Kv>>>();

// ---- runtime check ---------------------------------------------------------

test('connect<Kv>() calls a served Kv as its type says', async () => {
  const table = new Map<string, number>();
  const impl: Kv = {
    get: (key) => table.get(key),
    async set(key, value) {
      table.set(key, value);
    },
    keys: () => [...table.keys()],
    nested: async () => Promise.resolve(42),
    size: 0,
  };
  await serve('/types/kv', impl).ready;
  const kv = connect<Kv>('/types/kv');
  assert.equal(await kv.get('a'), undefined);
  assert.equal(await kv.set('a', 1), undefined);
  assert.equal(await kv.get('a'), 1);
  assert.deepEqual(await kv.keys(), ['a']);
  assert.equal(await kv.nested(), 42);
  // A wrong argument type gets past the types only by a cast; the call still runs remotely.
  assert.equal(await (kv.get as unknown as (k: number) => Promise<unknown>)(1), undefined);
  // A missing method fails at the server with ENOSYS.
  const loose = kv as unknown as { delete(k: string): Promise<void> };
  await assert.rejects(loose.delete('a'), (e: unknown) => e instanceof FosError && e.code === 'ENOSYS');
  // `size` is not a method: calling it remotely is ENOSYS too.
  const sized = kv as unknown as { size(): Promise<number> };
  await assert.rejects(sized.size(), (e: unknown) => e instanceof FosError && e.code === 'ENOSYS');
});
