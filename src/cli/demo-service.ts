// The service `fos demo` spawns: a small key-value store per isolate, served
// as a fleet so that the demo can show calls spread over its members.
import { serve } from '../index.js';
import type { ServiceContext } from '../index.js';

export interface DemoKv {
  set(key: string, value: unknown): void;
  get(key: string): unknown;
  whoami(): string;
  echo<T>(v: T): T;
  fail(why: string): never;
}

export default function start(ctx: ServiceContext): void {
  const store = new Map<string, unknown>();
  const kv: DemoKv = {
    set: (key, value) => void store.set(key, value),
    get: (key) => store.get(key),
    whoami: () => `isolate ${ctx.isolate} (${ctx.index + 1} of ${ctx.count})`,
    echo: (v) => v,
    fail(why) {
      throw Object.assign(new Error(why), { code: 'EDEMO' });
    },
  };
  serve('/demo/kv', kv);
}
