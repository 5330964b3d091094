/**
 * The module-level API: each function acts on the runtime of the isolate it
 * is called in (started by `boot()` on the main thread, before the service
 * module in a spawned worker).
 */
import type { Mailbox } from './runtime/mailbox.js';
import { runtime } from './runtime/current.js';
import type { Ref } from './runtime/ref.js';
import type { CallOptions, MailboxOptions, SendOptions, SyncCallOptions, Target } from './runtime/runtime.js';
import { serveOn, type Handlers, type Service, type ServeOptions } from './rpc/serve.js';

/** Creates a mailbox in this isolate, bound under `name` and/or joined to `fleet`. */
export function createMailbox<T = unknown>(opts: MailboxOptions = {}): Promise<Mailbox<T>> {
  try {
    return runtime().createMailbox<T>(opts);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Sends `data` to a mailbox (a ref) or a name (one member of its fleet); resolves once it is in the mailbox. */
export function send(target: Target, data: unknown, opts?: SendOptions): Promise<void> {
  try {
    return runtime().send(target, data, opts);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Sends each of `items` as a message of its own to one mailbox (one member
 * of a fleet, picked once), in order, as one frame: the way to stream many
 * small messages, with no promise, verdict or frame per message. Resolves
 * once all of them are in the mailbox. Without `wait`, the batch is refused
 * whole (EAGAIN) unless all of it fits at once.
 */
export function sendMany(target: Target, items: readonly unknown[], opts?: SendOptions): Promise<void> {
  try {
    return runtime().sendMany(target, items, opts);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The refs of every member bound under `name`; ENOENT if none. */
export function lookup(name: string): Promise<Ref[]> {
  try {
    return runtime().lookup(name);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Calls `method` of the service at `target` with `args`; settles with its result or a FosError. */
export function call<R = unknown>(target: Target, method: string, args: readonly unknown[] = [], opts?: CallOptions): Promise<R> {
  try {
    return runtime().call(target, method, args, opts) as Promise<R>;
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Calls `method` and blocks this thread until the answer: the "system call
 * to another core". The request goes over shared memory; the serving
 * isolate must not be this one. Throws a FosError (ETIMEDOUT, ECONNRESET,
 * EREMOTE, ...) as `call` rejects.
 */
export function callSync<R = unknown>(target: Target, method: string, args: readonly unknown[] = [], opts?: SyncCallOptions): R {
  return runtime().callSync(target, method, args, opts) as R;
}

/** Serves `handlers` under the fleet name `name` from this isolate. */
export function serve(name: string, handlers: Handlers, opts?: ServeOptions): Service {
  return serveOn(runtime(), name, handlers, opts);
}

type Fn = (...args: never[]) => unknown;

/** The typed face of a remote service: each method returns a promise of its result. */
export type Remote<T> = {
  readonly [K in keyof T as T[K] extends Fn ? K : never]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
};

/** The key under which node:util.inspect (console.log) looks for an object's own rendering. */
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** How a proxy prints: the name or the address it reaches (a bad target fails its calls with EINVAL, not its printing). */
function remoteLabel(target: Target): string {
  if (typeof target === 'string') return `[fos remote ${target}]`;
  const a = (target as { address?: { node?: unknown; isolate?: unknown; mailbox?: unknown } } | null | undefined)?.address;
  return a === undefined ? '[fos remote ?]' : `[fos remote ${String(a.node)}/${String(a.isolate)}/${String(a.mailbox)}]`;
}

/** A typed proxy: `connect<Kv>('/app/kv').get('a')` is `call('/app/kv', 'get', ['a'])`. */
export function connect<T>(target: Target, opts?: CallOptions): Remote<T> {
  const methods = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  const show = (): string => remoteLabel(target);
  // console.log inspects a proxy's target, not through its traps: the target says what to print.
  const printable = Object.defineProperty(Object.create(null) as object, INSPECT, { value: show });
  return new Proxy(printable as Remote<T>, {
    get(_, prop) {
      // Printed as what it reaches: in a template string, String() or console.log.
      if (prop === Symbol.toPrimitive || prop === INSPECT) return show;
      // Not a thenable (`await connect(...)` yields the proxy itself), and
      // no remote call from String(), JSON.stringify() or inspection: the
      // names of Object.prototype, `then` and `toJSON` are never methods.
      if (typeof prop !== 'string' || prop === 'then' || prop === 'toJSON' || prop in Object.prototype) return undefined;
      let m = methods.get(prop);
      if (m === undefined) methods.set(prop, (m = (...args: unknown[]) => call(target, prop, args, opts)));
      return m;
    },
  });
}
