/**
 * `serve`: a mailbox that takes calls, joined to a fleet name, and the loop
 * that runs its handlers.
 *
 * At most `concurrency` async handlers run at once; past that the loop stops
 * taking calls, the mailbox fills, and callers are pushed back by the
 * mailbox's bound like any sender.
 */
import { checkKeys, describeOption, type KeysOf } from '../util/options.js';
import { FosError, remoteError } from '../errors.js';
import { validateName } from '../names/name.js';
import type { Consumer, Inbound, Mailbox } from '../runtime/mailbox.js';
import type { Ref } from '../runtime/ref.js';
import type { Runtime } from '../runtime/runtime.js';
import { woke } from '../util/wakeups.js';

export interface ServeOptions {
  /** Most async handlers running at once; default 64. */
  readonly concurrency?: number;
  /** Capacity of the service's mailbox; default 1024. */
  readonly capacity?: number;
}

export interface Service {
  /** The service's mailbox ref, once its name is bound. */
  readonly ready: Promise<Ref>;
  /** Leaves the fleet; calls still queued, and those whose async handler still runs, fail with ECLOSED. */
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

const SERVE_KEYS: KeysOf<ServeOptions> = { concurrency: true, capacity: true };

export function serveOn(rt: Runtime, name: string, handlers: Handlers, opts: ServeOptions = {}): Service {
  validateName(name);
  if (typeof handlers !== 'object' || handlers === null) throw new FosError('EINVAL', 'serve() takes an object of handlers');
  checkKeys('serve()', opts, SERVE_KEYS);
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new FosError('EINVAL', `concurrency is a positive integer, got ${describeOption(concurrency)}`);
  let mailbox: Mailbox | undefined;
  let closed = false;
  const mbOpts = opts.capacity === undefined ? { fleet: name } : { fleet: name, capacity: opts.capacity };
  const ready = rt.createMailbox(mbOpts, true).then((mb) => {
    mailbox = mb;
    if (closed) mb.close();
    else mb.consume(new ServeLoop(rt, name, mb, handlers, concurrency));
    return mb.ref;
  });
  rt.track(ready, true);
  ready.catch(() => {}); // heard through `ready` or through spawn
  return {
    ready,
    close(): void {
      closed = true;
      mailbox?.close(); // which closes the loop (Consumer.closed)
    },
  };
}

/**
 * Runs the handlers of one served mailbox. The mailbox hands it each call as
 * it arrives (see Consumer): a synchronous handler answers at once, inside
 * the transport's delivery, with no promise or event-loop turn between the
 * call and its reply. At most `concurrency` async handlers run at once;
 * while that many do, calls wait in the mailbox.
 */
class ServeLoop implements Consumer {
  /** The calls whose async handler runs: each is answered once, by its handler or by closed(). */
  private readonly running = new Set<Inbound>();
  private ended = false;

  constructor(
    private readonly rt: Runtime,
    private readonly name: string,
    private readonly mb: Mailbox,
    private readonly handlers: Handlers,
    private readonly concurrency: number,
  ) {}

  accepts(): boolean {
    return !this.ended && this.running.size < this.concurrency;
  }

  /**
   * The service's mailbox closed (Service.close, or its isolate ends: a
   * stopped service, a shut-down node): calls whose handler still runs are
   * answered ECLOSED now, a callSync's too, before its channel goes, and
   * their handlers' answers dropped.
   */
  closed(): void {
    this.ended = true;
    const running = [...this.running];
    this.running.clear();
    for (const m of running) {
      try {
        this.rt.reply(m, false, new FosError('ECLOSED', `${this.name} closed while the call ran`));
      } catch {
        // the caller is gone: nobody waits for the answer
      }
    }
  }

  take(m: Inbound): void {
    try {
      this.handle(m);
    } catch (e) {
      // A bug of ours, never a handler's (handle() catches those): make it
      // loud, and stop taking calls rather than lose them silently.
      this.mb.close();
      process.emitWarning(`fos: the serve loop of ${this.name} stopped: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }

  private handle(m: Inbound): void {
    const { rt, handlers } = this;
    const { call, from } = m;
    if (call === undefined || from === undefined) return; // admit() lets only calls in
    // A callSync whose caller no longer waits (ended at shutdown, or passed over by a later one) is not run.
    if (call.sync === true && m.syncChannel?.awaits(call.id) === false) return;
    let result: unknown;
    try {
      if (call.method === PING_METHOD) {
        rt.reply(m, true, true);
        return;
      }
      const fn = methodOf(handlers, call.method);
      if (fn === undefined) {
        rt.reply(m, false, new FosError('ENOSYS', `${this.name} has no method ${JSON.stringify(call.method)}`));
        return;
      }
      result = fn.apply(handlers, m.data as unknown[]);
    } catch (e) {
      rt.reply(m, false, remoteError(e));
      return;
    }
    if (!isThenable(result)) {
      rt.reply(m, true, result);
      return;
    }
    this.running.add(m);
    woke();
    Promise.resolve(result)
      .then(
        (v) => {
          if (this.running.delete(m)) rt.reply(m, true, v);
        },
        (e: unknown) => {
          if (this.running.delete(m)) rt.reply(m, false, remoteError(e));
        },
      )
      .catch(() => {}) // reply() reports its own failures to the caller; nothing is left to tell
      .finally(() => this.mb.feed());
  }
}
