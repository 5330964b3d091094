/**
 * The calls an isolate has in flight, each waiting for its reply.
 *
 * Every entry settles exactly once: by its reply, by a delivery failure, by
 * its timer (ETIMEDOUT), by its signal (ECANCELED), by the death of the
 * isolate serving it (ECONNRESET) or by the runtime closing (ECLOSED). A
 * reply that comes after that finds no entry and is dropped: nothing leaks.
 */
import { canceled, FosError, type ErrorCode } from '../errors.js';
import { Deque } from '../util/deque.js';
import { describeOption } from '../util/options.js';
import { Withdrawal, type AbortLike } from '../util/withdrawal.js';
import { woke } from '../util/wakeups.js';

/** A channel that carried a call without a verdict (an shm channel's sending end), told when the call ends. */
export interface CallCarrier {
  /** The call to mailbox `to` sent as record `seq` ended: by its answer, or without one (`answered` false: its message is withdrawn). */
  callEnded(seq: number, to: number, answered: boolean): void;
}

interface PendingCall {
  /** The isolate (node-local number) the call went to. */
  readonly isolate: number;
  readonly node: string;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: FosError) => void;
  /** The deadlines its timeout is kept in, if it has one. */
  deadlines: Deadlines | undefined;
  readonly cleanup: (() => void) | undefined;
  /** Aborted when the call ends without its answer, to withdraw its message. */
  readonly withdraw: Withdrawal;
  /** The channel that carried the call untracked (record `seq`, to mailbox `to`), told when the call ends. */
  carrier: CallCarrier | undefined;
  seq: number;
  to: number;
}

export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

/** The checks every call makes of its arguments, async or sync: EINVAL for what cannot be a call. */
export function checkCall(method: unknown, args: unknown, timeout: unknown): void {
  if (typeof method !== 'string') throw new FosError('EINVAL', 'a method name is a string');
  if (!Array.isArray(args)) throw new FosError('EINVAL', 'call arguments are an array');
  checkTimeout(timeout);
}

/** A timeout of 0 leaves no time for an answer: every call, async or sync, fails with ETIMEDOUT at once, its request not sent. */
export function noTimeFor(timeout: number): FosError | undefined {
  return timeout === 0 ? new FosError('ETIMEDOUT', 'a call with a timeout of 0 ms has no time for an answer') : undefined;
}

function checkTimeout(timeout: unknown): void {
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) {
    throw new FosError('EINVAL', `timeout is a number of milliseconds >= 0, or Infinity; got ${describeOption(timeout)}`);
  }
}
/** Node fires longer timers at once; a timeout beyond this is no timeout. */
export const MAX_TIMER_MS = 0x7fff_ffff;

/**
 * The deadlines of the calls made with one timeout, in the order they were
 * made, which is their order of expiry: one Node timer, for the first,
 * serves them all (a timer per call cost microseconds per call). Entries of
 * calls that settled are dropped when they reach the front. While no call
 * with this timeout is pending, the timer is unref'd: it never holds the
 * process open on its own, and a caller making one call at a time does not
 * pay for a new timer each (when it fires with nothing pending, it goes).
 */
interface Deadlines {
  readonly timeout: number;
  readonly entries: Deque<{ readonly id: number; readonly at: number }>;
  /** Pending calls with this timeout. */
  live: number;
  timer: NodeJS.Timeout | undefined;
}

export class CallTable {
  /** `onError` hears the code of every call that fails, once. */
  constructor(private readonly onError: (code: ErrorCode) => void = () => {}) {}

  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly deadlines = new Map<number, Deadlines>();

  get size(): number {
    return this.pending.size;
  }

  /**
   * Registers a call; the returned promise settles once, however it ends.
   * `signal` fires if it ends without an answer: the message can go.
   */
  start(node: string, isolate: number, timeout: number, signal: AbortSignal | undefined): { id: number; promise: Promise<unknown>; signal: AbortLike } {
    checkTimeout(timeout);
    if (signal?.aborted) throw canceled('call aborted', signal);
    const id = this.nextId++;
    const withdraw = new Withdrawal();
    const promise = new Promise<unknown>((resolve, reject) => {
      let cleanup: (() => void) | undefined;
      if (signal !== undefined) {
        const onAbort = (): void => {
          this.settle(id, canceled('call aborted', signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      const call: PendingCall = { node, isolate, resolve, reject, deadlines: undefined, cleanup, withdraw, carrier: undefined, seq: 0, to: 0 };
      this.pending.set(id, call);
      // After it is pending: the deadlines drop the entries of calls that are not.
      if (timeout <= MAX_TIMER_MS) call.deadlines = this.expireAfter(id, timeout);
    });
    return { id, promise, signal: withdraw };
  }

  /** Keeps call `id`'s deadline; the call counts as live there until it settles. */
  private expireAfter(id: number, timeout: number): Deadlines {
    let d = this.deadlines.get(timeout);
    if (d === undefined) this.deadlines.set(timeout, (d = { timeout, entries: new Deque(), live: 0, timer: undefined }));
    this.dropSettled(d);
    d.entries.push({ id, at: performance.now() + timeout });
    d.live++;
    if (d.timer === undefined) this.arm(d);
    else if (d.live === 1) d.timer.ref();
    return d;
  }

  /**
   * Settled calls at the front go; and when one long call holds the front
   * while many after it settled, the whole queue is swept (when it is twice
   * what is pending: amortized O(1)), so that it holds about what is in flight.
   */
  private dropSettled(d: Deadlines): void {
    for (let e = d.entries.peek(); e !== undefined && !this.pending.has(e.id); e = d.entries.peek()) d.entries.shift();
    if (d.entries.size > 2 * d.live + 64) for (const e of d.entries.drain()) if (this.pending.has(e.id)) d.entries.push(e);
  }

  /** Sets the timer of `d` for its first live deadline; with none, `d` goes. */
  private arm(d: Deadlines): void {
    this.dropSettled(d);
    const first = d.entries.peek();
    if (first === undefined) {
      d.timer = undefined;
      if (this.deadlines.get(d.timeout) === d) this.deadlines.delete(d.timeout);
      return;
    }
    d.timer = setTimeout(() => this.expire(d), Math.max(0, first.at - performance.now()));
  }

  private expire(d: Deadlines): void {
    d.timer = undefined;
    const now = performance.now();
    for (let e = d.entries.peek(); e !== undefined && e.at <= now; e = d.entries.peek()) {
      d.entries.shift();
      this.settle(e.id, new FosError('ETIMEDOUT', `no reply within ${d.timeout} ms`));
    }
    if (d.timer === undefined) this.arm(d);
  }

  /** A call of `d` settled: with none left, its timer no longer holds the process open. */
  private released(d: Deadlines): void {
    if (--d.live === 0) d.timer?.unref();
  }

  /** Call `id` went untracked to mailbox `to` as record `seq` of `carrier`, which hears when it ends. */
  carried(id: number, carrier: CallCarrier, seq: number, to: number): void {
    const c = this.pending.get(id);
    if (c === undefined) return;
    c.carrier = carrier;
    c.seq = seq;
    c.to = to;
  }

  /** Settles call `id` by its answer: `value`, or the error `err` the answer carried. */
  answer(id: number, err: FosError | undefined, value?: unknown): boolean {
    return this.end(id, err, value, true);
  }

  /** Settles call `id` without an answer (a timeout, an abort, a failure to deliver): with `err`. */
  settle(id: number, err: FosError): boolean {
    return this.end(id, err, undefined, false);
  }

  private end(id: number, err: FosError | undefined, value: unknown, answered: boolean): boolean {
    const c = this.pending.get(id);
    if (c === undefined) return false;
    this.pending.delete(id);
    if (c.deadlines !== undefined) this.released(c.deadlines);
    c.cleanup?.();
    c.carrier?.callEnded(c.seq, c.to, answered);
    woke();
    if (err === undefined) c.resolve(value);
    else {
      this.onError(err.code);
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

  /** Fails every call `carrier` carried untracked after record `upTo` (its channel failed there: they never arrived). */
  failCarried(carrier: CallCarrier, upTo: number, code: ErrorCode, why: string): void {
    for (const [id, c] of this.pending) {
      if (c.carrier === carrier && c.seq > upTo) this.settle(id, new FosError(code, why));
    }
  }

  failAll(code: ErrorCode, why: string): void {
    for (const id of [...this.pending.keys()]) this.settle(id, new FosError(code, why));
  }
}
