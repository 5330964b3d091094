/**
 * A mailbox: a bounded FIFO of messages owned by one isolate.
 *
 * Invariants:
 * - `queue.size <= capacity`;
 * - `blocked` is non-empty only while `queue.size === capacity`: a waiting
 *   delivery is moved into the queue the moment a receive frees a slot, so a
 *   later delivery can never overtake an earlier blocked one (FIFO per sender
 *   holds through backpressure);
 * - `receivers` is non-empty only while `queue` is empty: a message is handed
 *   straight to the oldest waiting receiver;
 * - with a `consumer` (a served mailbox), a message is handed to it straight
 *   from the transport that brought it only while `queue` is empty, so it
 *   takes messages in arrival order; what it cannot take now waits in
 *   `queue` until it asks for more (`feed`);
 * - once `closed`, all three are empty and stay so.
 */
import { canceled, FosError } from '../errors.js';
import { Deque } from '../util/deque.js';
import type { CallInfo } from '../envelope.js';
import type { Ref } from './ref.js';
import { woke } from '../util/wakeups.js';

export interface Message<T = unknown> {
  readonly data: T;
  /** The sender's reply ref, when it gave one. */
  readonly from?: Ref;
}

/** A message as the runtime carries it: a call also names its method and id. */
export interface Inbound extends Message {
  readonly call?: CallInfo;
  /** The transport that brought it: a reply goes back the same way. */
  readonly via?: 'local' | 'kernel' | 'shm';
  /** For a callSync: the shm channel it came by, whose sync slot its answer goes into. */
  readonly syncChannel?: SyncAnswerer;
}

/** The receiving end of the shm channel a callSync came by (ShmIn). */
export interface SyncAnswerer {
  /** Writes the answer to callSync `ticket`; false if its caller no longer waits for it. */
  answerSync(ticket: number, ok: boolean, value: unknown): boolean;
  /** Whether the caller still waits for the answer to `ticket` (not answered yet, nor passed over by a later callSync). */
  awaits(ticket: number): boolean;
}

/**
 * A delivery waiting for room: one message, or the rest of a batch, which
 * enters the mailbox a message at a time as room frees. Settled with
 * undefined once all of it is queued, or with the error that ended it. A
 * batch part of which is in the mailbox cannot be withdrawn (a withdrawn
 * send must never have been delivered): it goes on until all of it is in,
 * or the mailbox closes, and then its error says how much had entered.
 */
export interface BlockedDelivery {
  readonly messages: readonly Inbound[];
  /** The first of `messages` not yet queued. */
  next: number;
  readonly settle: (err?: FosError) => void;
  /** Withdraws the delivery; false if it was already queued or settled. */
  readonly withdraw: () => boolean;
}

interface Receiver {
  resolve(m: Inbound): void;
  reject(e: FosError): void;
}

export interface MailboxCounters {
  received: number;
  delivered: number;
  refusedFull: number;
  /** Messages and payload bytes that arrived, by the transport that carried them. */
  readonly arrived: Record<'local' | 'kernel' | 'shm' | 'tcp', { messages: number; bytes: number }>;
}

export interface MailboxOptions {
  readonly ref: Ref;
  readonly capacity: number;
  readonly serves: boolean;
  readonly onClose: (leftover: Inbound[]) => void;
}

export type Offer = 'queued' | 'full' | BlockedDelivery;

/**
 * @internal What takes a served mailbox's messages as they arrive (serve's
 * loop), with no promise or event-loop turn in between: a call that comes
 * by shm is answered inside the drain that brought it.
 */
export interface Consumer {
  /** True while it can take a message now. */
  accepts(): boolean;
  /** Takes one message; never throws. */
  take(m: Inbound): void;
  /** The mailbox closed (by its owner, or as its isolate ends): what the consumer still handles it must end now. */
  closed(): void;
}

export class Mailbox<T = unknown> implements AsyncIterable<Message<T>> {
  /** What a sender needs: plain data, can itself be sent. */
  readonly ref: Ref;
  readonly capacity: number;
  /** True for a mailbox made by `serve`: it takes calls, not plain data. */
  readonly serves: boolean;
  readonly counters: MailboxCounters = {
    received: 0,
    delivered: 0,
    refusedFull: 0,
    arrived: { local: { messages: 0, bytes: 0 }, kernel: { messages: 0, bytes: 0 }, shm: { messages: 0, bytes: 0 }, tcp: { messages: 0, bytes: 0 } },
  };
  private readonly queue = new Deque<Inbound>();
  private readonly blocked = new Deque<BlockedDelivery>();
  /** Messages of `blocked` not yet queued. */
  private blockedMessages = 0;
  private readonly receivers = new Deque<Receiver>();
  private readonly onClose: (leftover: Inbound[]) => void;
  private closedFlag = false;
  private consumer: Consumer | undefined;
  private feedScheduled = false;

  /** @internal made by the runtime; users call `createMailbox()`. */
  constructor(opts: MailboxOptions) {
    this.ref = opts.ref;
    this.capacity = opts.capacity;
    this.serves = opts.serves;
    this.onClose = opts.onClose;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Messages queued and not yet received. */
  get depth(): number {
    return this.queue.size;
  }

  /** Messages waiting for room. */
  get waiting(): number {
    return this.blockedMessages;
  }

  /**
   * @internal Offers a message. 'queued' when it is in the mailbox (or handed
   * to a receiver), 'full' when there is no room and `wait` is false,
   * otherwise a BlockedDelivery, settled once it is queued or fails.
   * `onQueued` is told before a consumer takes the message, for a verdict
   * that must go out before the consumer's answer.
   */
  offer(message: Inbound, wait: boolean, settle?: (err?: FosError) => void, onQueued?: () => void): Offer {
    if (this.closedFlag) throw new FosError('ECLOSED', 'mailbox is closed');
    const c = this.consumer;
    if (c !== undefined && this.queue.size === 0 && c.accepts()) {
      // A message sent from this isolate waits for a microtask: its
      // handler never runs inside its sender's send() or call().
      if (message.via !== 'local') {
        this.counters.delivered++;
        this.counters.received++;
        // The verdict first: it can then ride on the reply the consumer sends.
        onQueued?.();
        c.take(message);
        return 'queued';
      }
      this.scheduleFeed();
    }
    const receiver = this.receivers.shift();
    if (receiver !== undefined) {
      this.counters.delivered++;
      this.counters.received++;
      receiver.resolve(message);
      woke();
      return 'queued';
    }
    if (this.queue.size < this.capacity) {
      this.counters.delivered++;
      this.queue.push(message);
      return 'queued';
    }
    if (!wait) {
      this.counters.refusedFull++;
      return 'full';
    }
    return this.block([message], 0, settle);
  }

  /**
   * @internal Offers a batch of data messages (sendMany), in order: as
   * `offer` for each, except that without `wait` the batch is refused whole
   * ('full') unless all of it fits now. No consumer takes a batch: a served
   * mailbox takes calls only.
   */
  offerMany(messages: readonly Inbound[], wait: boolean, settle?: (err?: FosError) => void): Offer {
    if (this.closedFlag) throw new FosError('ECLOSED', 'mailbox is closed');
    const n = messages.length;
    const room = this.blocked.size > 0 ? 0 : this.capacity - this.queue.size + this.receivers.size;
    if (!wait && n > room) {
      this.counters.refusedFull += n;
      return 'full';
    }
    let i = 0;
    for (let r = this.receivers.peek(); i < n && r !== undefined; r = this.receivers.peek()) {
      this.receivers.shift();
      this.counters.delivered++;
      this.counters.received++;
      r.resolve(messages[i++]!);
      woke();
    }
    for (; i < n && this.queue.size < this.capacity; i++) {
      this.counters.delivered++;
      this.queue.push(messages[i]!);
    }
    return i === n ? 'queued' : this.block(messages, i, settle);
  }

  private block(messages: readonly Inbound[], next: number, settle: ((err?: FosError) => void) | undefined): BlockedDelivery {
    const b: BlockedDelivery = {
      messages,
      next,
      settle: settle ?? (() => {}),
      withdraw: () => {
        if (b.next > 0 || !this.blocked.remove(b)) return false;
        this.blockedMessages -= b.messages.length - b.next;
        return true;
      },
    };
    this.blocked.push(b);
    this.blockedMessages += messages.length - next;
    return b;
  }

  /** @internal Hands messages to `c` as they come, instead of to receive(). */
  consume(c: Consumer): void {
    this.consumer = c;
    this.feed();
  }

  /** @internal Hands queued messages to the consumer while it takes them. */
  feed(): void {
    const c = this.consumer;
    if (c === undefined) return;
    while (!this.closedFlag && this.queue.size > 0 && c.accepts()) c.take(this.tryReceive() as Inbound);
  }

  private scheduleFeed(): void {
    if (this.feedScheduled) return;
    this.feedScheduled = true;
    queueMicrotask(() => {
      this.feedScheduled = false;
      this.feed();
    });
  }

  /** Takes the next message, or undefined when the mailbox is empty. */
  tryReceive(): Message<T> | undefined {
    const m = this.queue.shift();
    if (m === undefined) return undefined;
    this.counters.received++;
    this.admitBlocked();
    return m as Message<T>;
  }

  /** Waits for the next message; ECLOSED when the mailbox closes, ECANCELED when `signal` fires. */
  receive(opts: { signal?: AbortSignal } = {}): Promise<Message<T>> {
    const m = this.tryReceive();
    if (m !== undefined) return Promise.resolve(m);
    if (this.closedFlag) return Promise.reject(new FosError('ECLOSED', 'mailbox is closed'));
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(canceled('receive aborted', signal));
    return new Promise<Message<T>>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.receivers.remove(r)) reject(canceled('receive aborted', signal));
      };
      const r: Receiver = {
        resolve: (msg) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(msg as Message<T>);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.receivers.push(r);
    });
  }

  /** Iterates until the mailbox closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<Message<T>> {
    for (;;) {
      try {
        yield await this.receive();
      } catch (e) {
        if (e instanceof FosError && e.code === 'ECLOSED') return;
        throw e;
      }
    }
  }

  /**
   * Closes the mailbox: its names go, waiting receivers and blocked senders
   * get ECLOSED, and calls still queued are answered ECLOSED by the runtime;
   * data still queued is discarded (it had reached the mailbox).
   */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    const consumer = this.consumer;
    this.consumer = undefined;
    consumer?.closed();
    const closed = (): FosError => new FosError('ECLOSED', 'mailbox is closed');
    woke();
    for (const r of this.receivers.drain()) r.reject(closed());
    const closedDuring = (b: BlockedDelivery): FosError =>
      b.next === 0 ? closed() : new FosError('ECLOSED', `mailbox closed with ${b.next} of the batch's ${b.messages.length} messages in it`);
    const leftover = this.queue.drain();
    // A blocked delivery was never (wholly) in the mailbox: its sender hears ECLOSED.
    this.blockedMessages = 0;
    for (const b of this.blocked.drain()) b.settle(closedDuring(b));
    this.onClose(leftover);
  }

  private admitBlocked(): void {
    const b = this.blocked.peek();
    if (b === undefined) return;
    this.counters.delivered++;
    this.blockedMessages--;
    this.queue.push(b.messages[b.next++]!);
    if (b.next === b.messages.length) {
      this.blocked.shift();
      b.settle();
    }
  }
}
