/**
 * The calls an isolate has in flight, each waiting for its reply.
 *
 * Every entry settles exactly once: by its reply, by a delivery failure, by
 * its timer (ETIMEDOUT), by its signal (ECANCELED), by the death of the
 * isolate serving it (ECONNRESET) or by the runtime closing (ECLOSED). A
 * reply that comes after that finds no entry and is dropped: nothing leaks.
 */
import { FosError, type ErrorCode } from '../errors.js';
import { Withdrawal, type AbortLike } from '../util/withdrawal.js';

interface PendingCall {
  /** The isolate (node-local number) the call went to. */
  readonly isolate: number;
  readonly node: string;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: FosError) => void;
  readonly timer: NodeJS.Timeout | undefined;
  readonly cleanup: (() => void) | undefined;
  /** Aborted when the call ends without its answer, to withdraw its message. */
  readonly withdraw: Withdrawal;
}

export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

/** The checks every call makes of its arguments, async or sync: EINVAL for what cannot be a call. */
export function checkCall(method: unknown, args: unknown, timeout: unknown): void {
  if (typeof method !== 'string') throw new FosError('EINVAL', 'a method name is a string');
  if (!Array.isArray(args)) throw new FosError('EINVAL', 'call arguments are an array');
  checkTimeout(timeout);
}

function checkTimeout(timeout: unknown): void {
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) {
    throw new FosError('EINVAL', `timeout is a number of milliseconds >= 0, or Infinity; got ${String(timeout)}`);
  }
}
/** Node fires longer timers at once; a timeout beyond this is no timeout. */
export const MAX_TIMER_MS = 0x7fff_ffff;

export class CallTable {
  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();

  get size(): number {
    return this.pending.size;
  }

  /**
   * Registers a call; the returned promise settles once, however it ends.
   * `signal` fires if it ends without an answer: the message can go.
   */
  start(node: string, isolate: number, timeout: number, signal: AbortSignal | undefined): { id: number; promise: Promise<unknown>; signal: AbortLike } {
    checkTimeout(timeout);
    if (signal?.aborted) throw new FosError('ECANCELED', 'call aborted');
    const id = this.nextId++;
    const withdraw = new Withdrawal();
    const promise = new Promise<unknown>((resolve, reject) => {
      const timer =
        timeout <= MAX_TIMER_MS
          ? setTimeout(() => {
              this.settle(id, new FosError('ETIMEDOUT', `no reply within ${timeout} ms`));
            }, timeout)
          : undefined;
      let cleanup: (() => void) | undefined;
      if (signal !== undefined) {
        const onAbort = (): void => {
          this.settle(id, new FosError('ECANCELED', 'call aborted'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.pending.set(id, { node, isolate, resolve, reject, timer, cleanup, withdraw });
    });
    return { id, promise, signal: withdraw };
  }

  /** Settles call `id` with an error, or with `value` when `err` is undefined. */
  settle(id: number, err: FosError | undefined, value?: unknown): boolean {
    const c = this.pending.get(id);
    if (c === undefined) return false;
    this.pending.delete(id);
    if (c.timer !== undefined) clearTimeout(c.timer);
    c.cleanup?.();
    if (err === undefined) c.resolve(value);
    else {
      c.reject(err);
      c.withdraw.abort();
    }
    return true;
  }

  /** Fails every call to `isolate` of `node` (it died or stopped). */
  failIsolate(node: string, isolate: number, code: ErrorCode, why: string): void {
    for (const [id, c] of this.pending) {
      if (c.isolate === isolate && c.node === node) this.settle(id, new FosError(code, why));
    }
  }

  /** Fails every call to `node` (it is down). */
  failNode(node: string, code: ErrorCode, why: string): void {
    for (const [id, c] of this.pending) {
      if (c.node === node) this.settle(id, new FosError(code, why));
    }
  }

  failAll(code: ErrorCode, why: string): void {
    for (const id of [...this.pending.keys()]) this.settle(id, new FosError(code, why));
  }
}
