/**
 * `serve`: a mailbox that takes calls, joined to a fleet name, and the loop
 * that runs its handlers.
 *
 * At most `concurrency` async handlers run at once; past that the loop stops
 * taking calls, the mailbox fills, and callers are pushed back by the
 * mailbox's bound like any sender.
 */
import { FosError, remoteError } from '../errors.js';
import { validateName } from '../names/name.js';
import type { Inbound, Mailbox } from '../runtime/mailbox.js';
import type { Ref } from '../runtime/ref.js';
import type { Runtime } from '../runtime/runtime.js';

export interface ServeOptions {
  /** Most async handlers running at once; default 64. */
  readonly concurrency?: number;
  /** Capacity of the service's mailbox; default 1024. */
  readonly capacity?: number;
}

export interface Service {
  /** The service's mailbox ref, once its name is bound. */
  readonly ready: Promise<Ref>;
  /** Leaves the fleet; calls still queued fail with ECLOSED. */
  close(): void;
}

/** Handlers: an object whose function-valued properties are the methods. */
export type Handlers = object;

const DEFAULT_CONCURRENCY = 64;

/** A method every served mailbox answers itself, with `true`: what `fos ping` measures. */
export const PING_METHOD = '$ping';

function methodOf(handlers: Handlers, method: string): ((...args: unknown[]) => unknown) | undefined {
  // Object.prototype's members (constructor, toString, __proto__, ...) are
  // never callable remotely, whatever the handler object inherits.
  if (method in Object.prototype) return undefined;
  const fn = (handlers as Record<string, unknown>)[method];
  return typeof fn === 'function' ? (fn as (...args: unknown[]) => unknown) : undefined;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

export function serveOn(rt: Runtime, name: string, handlers: Handlers, opts: ServeOptions = {}): Service {
  validateName(name);
  if (typeof handlers !== 'object' || handlers === null) throw new FosError('EINVAL', 'serve() takes an object of handlers');
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new FosError('EINVAL', `concurrency is a positive integer, got ${concurrency}`);
  let mailbox: Mailbox | undefined;
  let closed = false;
  const mbOpts = opts.capacity === undefined ? { fleet: name } : { fleet: name, capacity: opts.capacity };
  const ready = rt.createMailbox(mbOpts, true).then((mb) => {
    mailbox = mb;
    if (closed) mb.close();
    else
      runLoop(rt, name, mb, handlers, concurrency).catch((e: unknown) => {
        // A bug of ours, never a handler's (handle() catches those): make it
        // loud, and stop taking calls rather than lose them silently.
        mb.close();
        process.emitWarning(`fos: the serve loop of ${name} stopped: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      });
    return mb.ref;
  });
  rt.track(ready, true);
  ready.catch(() => {}); // heard through `ready` or through spawn
  return {
    ready,
    close(): void {
      closed = true;
      mailbox?.close();
    },
  };
}

async function runLoop(rt: Runtime, name: string, mb: Mailbox, handlers: Handlers, concurrency: number): Promise<void> {
  let active = 0;
  let slotFreed: (() => void) | undefined;
  const finished = (): void => {
    active--;
    const wake = slotFreed;
    slotFreed = undefined;
    wake?.();
  };
  const handle = (m: Inbound): void => {
    const { call, from } = m;
    if (call === undefined || from === undefined) return; // admit() lets only calls in
    let result: unknown;
    let async = false;
    try {
      if (call.method === PING_METHOD) {
        rt.reply(m, true, true);
        return;
      }
      const fn = methodOf(handlers, call.method);
      if (fn === undefined) {
        rt.reply(m, false, new FosError('ENOSYS', `${name} has no method ${JSON.stringify(call.method)}`));
        return;
      }
      result = fn.apply(handlers, m.data as unknown[]);
      async = isThenable(result);
    } catch (e) {
      rt.reply(m, false, remoteError(e));
      return;
    }
    if (!async) {
      rt.reply(m, true, result);
      return;
    }
    active++;
    Promise.resolve(result)
      .then(
        (v) => rt.reply(m, true, v),
        (e: unknown) => rt.reply(m, false, remoteError(e)),
      )
      .catch(() => {}) // reply() reports its own failures to the caller; nothing is left to tell
      .finally(finished);
  };
  for (;;) {
    if (active >= concurrency) await new Promise<void>((r) => (slotFreed = r));
    // Drain what is queued without a promise per message, then wait.
    let m = mb.tryReceive() as Inbound | undefined;
    if (m === undefined) {
      try {
        m = (await mb.receive()) as Inbound;
      } catch {
        return; // ECLOSED: the service was closed
      }
    }
    handle(m);
  }
}
