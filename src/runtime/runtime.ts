/**
 * The runtime of one isolate: its mailboxes, its links to the other isolates
 * of the node, its calls in flight and its view of the name service.
 *
 * Routing (DESIGN.md §4): a message for a mailbox of this isolate is
 * enqueued directly; one for another isolate of the node goes over the
 * kernel link to that isolate, set up on first use by the main thread (one
 * MessageChannel per pair of isolates, so the steady path is one
 * postMessage hop, never a detour through the main thread).
 */
import { randomInt } from 'node:crypto';
import type { TransferListItem } from 'node:worker_threads';
import { asFosError, bareMessage, canceled, FosError, fromWire, isFosError, toWire, type ErrorCode, type WireError } from '../errors.js';
import { NameClient, type NameService, type Selection } from '../names/client.js';
import type { NameEntry } from '../names/registry.js';
import type { RoutingKey } from '../names/select.js';
import { CallTable, checkCall, DEFAULT_CALL_TIMEOUT_MS, noTimeFor } from '../rpc/calls.js';
import { RecordType, type CallInfo, type Envelope } from '../envelope.js';
import type { Acks, Frame, MsgFrame, PushEvent, ReplyFrame } from '../transport/kernel/frames.js';
import type { ShmIn, ShmOut, ShmVerdict } from '../transport/shm/channel.js';
import { nextTicket } from '../transport/shm/sync-slot.js';
import { ShmTransport, type ShmOptions } from '../transport/shm/transport.js';
import type { PumpSource } from '../transport/shm/pump.js';
import { KernelLink, type Endpoint } from '../transport/kernel/link.js';
import { weightOf } from '../transport/flow.js';
import type { AbortLike } from '../util/withdrawal.js';
import { Control } from './control.js';
import { RemoteRouting } from './remote-routing.js';
import { moveForCopy } from '../util/transfer.js';
import { Mailbox, type BlockedDelivery, type Inbound } from './mailbox.js';
import { assertRef, capEquals, newCapability, type Ref } from './ref.js';
import { Counters, type IsolateStats, type TransportName } from './stats.js';
import { woke } from '../util/wakeups.js';
import { checkKeys, checkMicros, describeOption, type KeysOf } from '../util/options.js';
import { copyLocal } from './local-copy.js';
import { KernelTurns, NotYet } from './kernel-turns.js';
import { kernelOnly, kernelOnlyTransfer, notCarried } from '../kernel-only.js';

export type TransportChoice = 'auto' | 'kernel' | 'shm' | 'tcp';

export interface SendOptions {
  /** Which transport to use; 'auto' (the default) picks by where the mailbox is. */
  readonly transport?: TransportChoice;
  /** Wait for room when the mailbox is full (default), or fail with EAGAIN. */
  readonly wait?: boolean;
  /** With a fleet name: route by consistent hashing of this key. */
  readonly key?: RoutingKey;
  /** With a fleet name: 'local' picks among the members on this node when there are any. */
  readonly prefer?: 'local' | 'any';
  /** Objects to transfer rather than copy (kernel path). */
  readonly transfer?: readonly TransferListItem[];
  readonly signal?: AbortSignal;
  /** Given to the receiver as `msg.from`. */
  readonly replyTo?: Ref;
}

/**
 * The first mailbox number of a runtime: random, so that a ref kept from an
 * earlier process of the same node (restarted under its name) names no
 * mailbox of this one and fails with ENOENT, not with EACCES against a
 * new mailbox that got its number. Below 2^30: with every later number, it
 * stays within the 32 bits that records carry.
 */
function firstMailbox(): number {
  return randomInt(1, 2 ** 30);
}

const TRANSPORTS: ReadonlySet<unknown> = new Set<unknown>(['auto', 'kernel', 'shm', 'tcp', undefined]);

/**
 * EINVAL for options that are not an object, or a transport, key, prefer
 * or signal outside its type (a caller without TypeScript): none is taken
 * for a default silently, nor fails later as a TypeError.
 */
function checkRouting(opts: { readonly transport?: unknown; readonly key?: unknown; readonly prefer?: unknown; readonly signal?: unknown }): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new FosError('EINVAL', `the options are an object, got ${describeOption(opts)}`);
  const signal = opts.signal;
  if (signal !== undefined && typeof (signal as { addEventListener?: unknown } | null)?.addEventListener !== 'function') {
    throw new FosError('EINVAL', `signal is an AbortSignal, got ${describeOption(signal)}`);
  }
  if (!TRANSPORTS.has(opts.transport)) throw new FosError('EINVAL', `transport is 'auto', 'kernel', 'shm' or 'tcp', got ${describeOption(opts.transport)}`);
  const k = opts.key;
  if (k !== undefined && typeof k !== 'string' && typeof k !== 'number' && typeof k !== 'bigint') throw new FosError('EINVAL', `a routing key is a string, number or bigint, got ${describeOption(k)}`);
  if (opts.prefer !== undefined && opts.prefer !== 'local' && opts.prefer !== 'any') throw new FosError('EINVAL', `prefer is 'local' or 'any', got ${describeOption(opts.prefer)}`);
}

/** What every call checks before it starts, async or sync: EINVAL for what cannot be one, ETIMEDOUT for no time (see noTimeFor). Returns its timeout. */
function checkCallOf(method: string, args: readonly unknown[], opts: CallOptions | SyncCallOptions): number {
  checkRouting(opts);
  const timeout = opts.timeout ?? DEFAULT_CALL_TIMEOUT_MS;
  checkCall(method, args, timeout);
  const none = noTimeFor(timeout);
  if (none !== undefined) throw none;
  return timeout;
}

/** SendOptions as the runtime passes them on: its own calls use a light signal. */
export type DeliverOptions = Omit<SendOptions, 'signal'> & {
  readonly signal?: AbortLike | undefined;
  /** The data is the runtime's own (just decoded from another node): no copy is needed to keep it from its sender. */
  readonly owned?: boolean;
  /** The data is an array of messages (sendMany), carried as one frame and delivered one by one. */
  readonly batch?: boolean;
  /** The message is a call of this runtime's call table: over shm it may go untracked (ShmOut.sendCall). */
  readonly ownCall?: boolean;
};

export interface CallOptions {
  /** Milliseconds until ETIMEDOUT; default 30 000, `Infinity` for none. */
  readonly timeout?: number;
  readonly key?: RoutingKey;
  readonly prefer?: 'local' | 'any';
  readonly signal?: AbortSignal;
  readonly transport?: TransportChoice;
  readonly transfer?: readonly TransferListItem[];
}

export interface SyncCallOptions {
  /** Milliseconds until ETIMEDOUT; default 30 000. */
  readonly timeout?: number;
  readonly key?: RoutingKey;
  readonly prefer?: 'local' | 'any';
  /** How long to spin for the answer before sleeping in Atomics.wait; default 200 µs. */
  readonly spinMicros?: number;
}

export interface MailboxOptions {
  /** Bind this mailbox under a unique name. */
  readonly name?: string;
  /** Join this fleet name. */
  readonly fleet?: string;
  /** Most messages queued at once; default 1024. */
  readonly capacity?: number;
}

const MAILBOX_KEYS: KeysOf<MailboxOptions> = { name: true, fleet: true, capacity: true };

export type Target = string | Ref;

export interface RuntimeOptions {
  readonly node: string;
  readonly isolate: number;
  readonly names: NameService;
  /** Tells the node's main thread that an isolate dropped names (fire and forget). */
  readonly unbind: (ref: Ref) => void;
  /** Asks for a channel to `peer`; it arrives through `attachPort`, or `peerDown` says why not. */
  readonly connect: (peer: number) => void;
  /** This isolate's control block (doorbell and sync slot), made by the main thread. */
  readonly icb: SharedArrayBuffer;
  readonly shm?: ShmOptions;
  /** Looks a name up while this thread blocks (callSync), within `timeout` ms (ETIMEDOUT): answered into the sync slot. */
  readonly lookupSync: (name: string, timeout: number) => NameEntry | undefined;
  /** Offers an shm channel to `peer` through the main thread, when there is no kernel channel to it yet. */
  readonly relayOffer: (peer: number, sab: SharedArrayBuffer, capacity: number) => void;
}

/**
 * How the main thread's runtime reaches mailboxes of other nodes: the
 * node's proxy. Workers hand such messages and replies to the main thread
 * over their kernel link instead.
 */
export interface RemoteRoute {
  /** Sends to a mailbox of another node; settles on that node's verdict. */
  send(ref: Ref, msg: Inbound, opts: { readonly wait: boolean; readonly signal?: AbortLike | undefined; readonly batch?: boolean | undefined }): Promise<void>;
  /** Answers a call made from another node; throws EINVAL if the answer cannot be encoded. */
  reply(to: Ref, callId: number, ok: boolean, result: unknown): void;
}

export const DEFAULT_CAPACITY = 1024;
/** How long a callSync spins for its answer before it sleeps (SyncCallOptions.spinMicros). */
const DEFAULT_SYNC_SPIN_MICROS = 200;
const RECENTLY_CLOSED = 4096;
const RESOLVED = Promise.resolve();

export class Runtime {
  readonly node: string;
  readonly isolate: number;
  readonly names: NameClient;
  readonly control = new Control();
  readonly counters = new Counters();
  /** Where replies to this isolate's calls go (mailbox 0 is reserved for them). */
  readonly replyRef: Ref;
  /** Called with what the main thread pushes that the runtime does not handle itself. */
  onPush: ((ev: PushEvent) => void) | undefined;
  /** Called once the kernel link to `peer` is given up (see linkBroken), after what was in flight failed. */
  onLinkBroken: ((peer: number, why: string) => void) | undefined;
  readonly shm: ShmTransport;
  /** The main thread's route to other nodes (its proxy); unset in workers, which go through the main thread. */
  remote: RemoteRoute | undefined;
  /** Messages and replies for other nodes (remote-routing.ts). */
  private readonly remoteRouting = new RemoteRouting(this);

  private readonly opts: RuntimeOptions;
  private readonly mailboxes = new Map<number, Mailbox>();
  private readonly boundNames = new Map<number, string[]>();
  /** The last RECENTLY_CLOSED mailboxes closed, oldest first (ids are never reused). */
  private readonly recentlyClosed = new Set<number>();
  private nextMailbox = firstMailbox();
  private readonly links = new Map<number, KernelLink>();
  /** Deliveries waiting to go by kernel in order, per mailbox of another isolate (see byKernelAfter). */
  private readonly kernelTurns = new KernelTurns();
  /** In a polling isolate: the pump sources that take its links' frames, by peer. */
  private readonly kernelSources = new Map<number, PumpSource>();
  private readonly calls = new CallTable((code) => this.counters.error(code));
  private readonly setup = new Set<Promise<unknown>>();
  /** Deliveries queued behind a name lookup, and the end of their queue (see inOrder). */
  private waitingForLookup = 0;
  private lookupTail: Promise<void> = RESOLVED;
  private setupFailure: FosError | undefined;
  private closedBy: FosError | undefined;
  private readonly onFrame = (link: KernelLink, f: Frame): void => this.dispatch(link, f);

  constructor(opts: RuntimeOptions) {
    this.opts = opts;
    this.node = opts.node;
    this.isolate = opts.isolate;
    this.names = new NameClient(opts.names, opts.node);
    this.replyRef = { address: { node: opts.node, isolate: opts.isolate, mailbox: 0 }, cap: newCapability() };
    this.shm = new ShmTransport(
      opts.icb,
      { onEnvelope: (ch, env, seq) => this.onShmEnvelope(ch, env, seq) },
      opts.shm,
    );
  }

  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  // ---- mailboxes -------------------------------------------------------

  /** How many mailboxes this isolate has open (reply mailbox aside). */
  get openMailboxes(): number {
    return this.mailboxes.size;
  }

  async createMailbox<T = unknown>(opts: MailboxOptions = {}, serves = false): Promise<Mailbox<T>> {
    this.assertOpen();
    checkKeys('createMailbox()', opts, MAILBOX_KEYS);
    const capacity = opts.capacity ?? DEFAULT_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1) throw new FosError('EINVAL', `capacity is a positive integer, got ${describeOption(capacity)}`);
    const id = this.nextMailbox++;
    const ref: Ref = { address: { node: this.node, isolate: this.isolate, mailbox: id }, cap: newCapability() };
    const mb: Mailbox<T> = new Mailbox<T>({ ref, capacity, serves, onClose: (left) => this.onMailboxClosed(mb, left) });
    this.mailboxes.set(id, mb as Mailbox);
    const binding = this.bindAll(mb as Mailbox, opts);
    this.track(binding, false);
    try {
      await binding;
    } catch (e) {
      mb.close();
      throw e;
    }
    return mb;
  }

  private async bindAll(mb: Mailbox, opts: MailboxOptions): Promise<void> {
    // Recorded before asking, so that a close racing the binding still
    // unbinds: the name table handles an isolate's requests in order.
    const names: string[] = [];
    if (opts.name !== undefined) names.push(opts.name);
    if (opts.fleet !== undefined) names.push(opts.fleet);
    this.boundNames.set(mb.ref.address.mailbox, names);
    if (opts.name !== undefined) await this.names.bind(opts.name, 'unique', mb.ref);
    if (opts.fleet !== undefined) await this.names.bind(opts.fleet, 'fleet', mb.ref);
  }

  private onMailboxClosed(mb: Mailbox, leftover: Inbound[]): void {
    const id = mb.ref.address.mailbox;
    this.mailboxes.delete(id);
    // Sends already on their way when it closed hear ECLOSED, not ENOENT.
    this.recentlyClosed.add(id);
    if (this.recentlyClosed.size > RECENTLY_CLOSED) this.recentlyClosed.delete(this.recentlyClosed.values().next().value!);
    const names = this.boundNames.get(id);
    this.boundNames.delete(id);
    if (names !== undefined && names.length > 0) {
      // This isolate's own view changes at once; the table's notice follows.
      this.names.invalidate(names);
      if (!this.closed) this.opts.unbind(mb.ref);
    }
    for (const m of leftover) {
      if (m.call !== undefined && m.from !== undefined) {
        this.reply(m, false, new FosError('ECLOSED', 'the serving mailbox closed before handling the call'));
      }
    }
  }

  /**
   * Remembers a set-up step (a binding) that spawn waits for before it
   * reports the service ready. When nobody else hears of its failure
   * (`unheard`, as for `serve`), the failure fails the spawn.
   */
  track(p: Promise<unknown>, unheard: boolean): void {
    this.setup.add(p);
    p.then(
      () => this.setup.delete(p),
      (e: unknown) => {
        this.setup.delete(p);
        if (unheard) this.setupFailure ??= asFosError(e);
      },
    );
  }

  /** Waits for every tracked set-up step; throws the first that failed. */
  async settled(): Promise<void> {
    while (this.setup.size > 0) await Promise.allSettled([...this.setup]);
    if (this.setupFailure !== undefined) throw this.setupFailure;
  }

  // ---- sending ---------------------------------------------------------

  /** Resolves a target to one mailbox ref: a ref as is, a name through the name service. */
  resolve(target: Target, sel: Selection): Ref | Promise<Ref> {
    if (typeof target === 'string') return this.names.resolve(target, sel);
    return assertRef(target);
  }

  send(target: Target, data: unknown, opts: SendOptions = {}): Promise<void> {
    const p = this.trySend(target, data, opts);
    return p === RESOLVED ? p : p.catch(this.rethrow);
  }

  /**
   * Sends every item of `items` as a message of its own to one mailbox (one
   * member of a fleet, picked once), in order, as one frame: no promise,
   * verdict or frame per message. Settles once all are in the mailbox.
   * Without `wait`, the batch is refused whole (EAGAIN) unless all of it
   * fits at once.
   */
  sendMany(target: Target, items: readonly unknown[], opts: SendOptions = {}): Promise<void> {
    if (!Array.isArray(items)) return Promise.reject(new FosError('EINVAL', 'sendMany takes an array of messages')).catch(this.rethrow);
    // Options that are not an object are not spread: trySend's check refuses them, as for send.
    const batch = typeof opts === 'object' && opts !== null && !Array.isArray(opts) ? { ...opts, batch: true } : opts;
    return this.trySend(target, items, batch).catch(this.rethrow);
  }

  private trySend(target: Target, data: unknown, opts: SendOptions & { readonly batch?: boolean }): Promise<void> {
    try {
      this.assertOpen();
      checkRouting(opts);
      const msg: Inbound = opts.replyTo === undefined ? { data } : { data, from: assertRef(opts.replyTo) };
      // A ref, with no lookup to queue behind: delivered at once, without the closure inOrder takes.
      if (typeof target !== 'string' && this.waitingForLookup === 0) return this.deliver(assertRef(target), msg, opts);
      return this.inOrder(target, opts, (ref) => this.deliver(ref, msg, opts));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Resolves `target` and calls `go` with its ref, in call order: a send to
   * a name that needs a lookup must not be overtaken by a later send (to a
   * ref, or a cached name) to the same mailbox. While any delivery waits for
   * a lookup, later ones queue behind it; otherwise `go` runs at once.
   */
  private inOrder<T>(target: Target, sel: Selection, go: (ref: Ref) => Promise<T>): Promise<T> {
    let ref: Ref | Promise<Ref>;
    try {
      ref = this.resolve(target, sel);
      if (this.waitingForLookup === 0 && !(ref instanceof Promise)) return go(ref);
    } catch (e) {
      if (this.waitingForLookup === 0) return Promise.reject(e);
      ref = Promise.reject(e);
    }
    return this.queueBehindLookups(ref, go);
  }

  private queueBehindLookups<T>(ref: Ref | Promise<Ref>, go: (ref: Ref) => Promise<T>): Promise<T> {
    this.waitingForLookup++;
    const turn = Promise.all([this.lookupTail, ref]).then(([, r]) => r);
    // `go` runs in the first callback on `turn`, the next waiter's turn
    // after the second: deliveries start in call order.
    const result = turn.then(go);
    this.lookupTail = turn.then(
      () => void this.waitingForLookup--,
      () => void this.waitingForLookup--,
    );
    return result;
  }

  lookup(name: string): Promise<Ref[]> {
    return this.names.lookup(name).catch(this.rethrow);
  }

  /** What is left of the timeout of the callSync this thread is in (a lookup takes its part: lookupInTime). */
  private syncTimeLeft = 0;
  /** Looks a name up for a callSync within what is left of its timeout, and takes off what the lookup took (a field, not a closure made per call: a call to a cached name allocates none). */
  private readonly lookupInTime = (name: string): NameEntry | undefined => {
    const start = performance.now();
    let found: NameEntry | undefined;
    let timedOut: boolean;
    try {
      found = this.opts.lookupSync(name, this.syncTimeLeft);
      this.syncTimeLeft -= performance.now() - start;
      // Nothing left to wait for an answer with: the request is not sent (the server would run a call nobody waits for).
      timedOut = this.syncTimeLeft <= 0;
    } catch (e) {
      if (!isFosError(e, 'ETIMEDOUT')) throw e;
      timedOut = true;
    }
    if (timedOut) throw new FosError('ETIMEDOUT', `the lookup of ${name} took the whole callSync timeout`);
    return found;
  };

  /**
   * A call that blocks this thread until the answer: the request goes over
   * an shm channel (opened at once if need be) and the answer comes into
   * this isolate's sync slot, so the event loop need not run. It spins for
   * a short budget, then sleeps in Atomics.wait.
   */
  callSync(target: Target, method: string, args: readonly unknown[], opts: SyncCallOptions = {}): unknown {
    try {
      this.assertOpen();
      let timeout = checkCallOf(method, args, opts);
      const spinMicros = opts.spinMicros ?? DEFAULT_SYNC_SPIN_MICROS;
      checkMicros('spinMicros', spinMicros);
      // Sends and calls of this isolate queued behind a name lookup may go to
      // the same mailbox: this thread cannot wait for them, nor overtake them.
      if (this.waitingForLookup > 0) throw new FosError('EAGAIN', 'earlier sends or calls of this isolate wait for a name lookup (callSync would overtake them); retry once they have gone');
      // A name not in the cache is looked up first, within the call's timeout; the call gets what is left of it.
      this.syncTimeLeft = timeout;
      const ref = typeof target === 'string' ? this.names.resolveSync(target, opts, this.lookupInTime, this.isolate) : assertRef(target);
      timeout = this.syncTimeLeft;
      const a = ref.address;
      if (a.node !== this.node) throw new FosError('EINVAL', `callSync reaches services of this node only; use call() for node ${a.node}`);
      if (a.isolate === this.isolate) throw new FosError('EINVAL', 'callSync to a service of the calling isolate would wait for itself: use call()');
      const why = kernelOnly(args);
      if (why !== undefined) throw notCarried(why, "by callSync, whose requests go over shm: call it with call()", 'the request');
      if (this.kernelTurns.holds(a)) {
        throw new FosError('EAGAIN', 'an earlier message to this mailbox waits to go by kernel (callSync would overtake it); retry');
      }
      const link = this.linkTo(a.isolate);
      if (link.flow.failed !== undefined) throw link.flow.failed; // given up (linkBroken): no channel can be opened
      const out = this.shm.routeNow(a.isolate, link, this.opts.relayOffer);
      // The event loop may not run between two callSyncs: apply what the
      // channel has to apply (verdicts, the outbox) here. What cannot go
      // now never will while this thread blocks: refuse rather than time out.
      out.poll();
      if (out.flow.congested()) throw new FosError('EAGAIN', `the shm channel to isolate ${a.isolate} is full; retry callSync`);
      if (out.flow.backloggedTo(a.mailbox)) {
        throw new FosError('EAGAIN', 'earlier messages to this mailbox wait for their window on the shm channel (callSync would overtake them); retry');
      }
      if (link.flow.busySince(a.mailbox, out.kernelSeqAtOffer)) {
        throw new FosError('EAGAIN', 'earlier messages to this mailbox by kernel have no verdict yet (callSync would overtake them); retry');
      }
      const ticket = nextTicket();
      out.sendUntracked({ type: RecordType.Message, to: a.mailbox, cap: ref.cap, wait: true, data: args, from: this.replyRef, call: { id: ticket, method, sync: true, untracked: true } });
      this.counters.sent('shm', args);
      // A request larger than the room left in the ring waits in part in the
      // outbox, which only this thread can write: it writes it while it blocks.
      const left = out.queued ? out.flushBlocking(timeout, spinMicros) : timeout;
      const v = out.syncSlot.await(ticket, { timeout: left, writerBell: this.shm.peer(a.isolate)?.bell, spinMicros });
      this.counters.received('shm', v);
      return v;
    } catch (e) {
      return this.failed(e);
    }
  }

  /**
   * The promise returned is the call table's own when the target needs no
   * lookup: a promise chained onto it only to count errors cost an extra
   * microtask hop per call. Every way a call fails is counted once: by the
   * call table (its end), by `rejected` (before it starts) or on the lookup.
   */
  call(target: Target, method: string, args: readonly unknown[], opts: CallOptions = {}): Promise<unknown> {
    try {
      this.assertOpen();
      checkCallOf(method, args, opts);
    } catch (e) {
      return this.rejected(e);
    }
    let ref: Ref | Promise<Ref>;
    try {
      ref = this.resolve(target, opts);
    } catch (e) {
      if (this.waitingForLookup === 0) return this.rejected(e);
      ref = Promise.reject(e); // in its turn: a send after it must not overtake it
    }
    if (this.waitingForLookup === 0 && !(ref instanceof Promise)) return this.callRef(ref, method, args, opts);
    // Behind a lookup (see inOrder): a failed lookup is counted as it fails.
    return this.queueBehindLookups(ref instanceof Promise ? ref.catch(this.rethrow) : ref, (r) => this.callRef(r, method, args, opts));
  }

  private callRef(ref: Ref, method: string, args: readonly unknown[], opts: CallOptions): Promise<unknown> {
    // The call's own signal withdraws its message when the call ends
    // without an answer (timeout, abort): a dead call leaves no message
    // queued at the sender or waiting for room at the receiver.
    let started: ReturnType<CallTable['start']>;
    try {
      started = this.calls.start(ref.address.node, ref.address.isolate, opts.timeout ?? DEFAULT_CALL_TIMEOUT_MS, opts.signal);
    } catch (e) {
      return this.rejected(e);
    }
    const { id, promise, signal } = started;
    const msg: Inbound = { data: args, from: this.replyRef, call: { id, method } };
    // No spreads: on this path they cost microseconds.
    const sendOpts: DeliverOptions =
      opts.transfer === undefined
        ? { wait: true, signal, transport: opts.transport ?? 'auto', ownCall: true }
        : { wait: true, signal, transport: opts.transport ?? 'auto', transfer: opts.transfer, ownCall: true };
    try {
      const sent = this.deliver(ref, msg, sendOpts);
      if (sent !== RESOLVED) sent.catch((e: unknown) => this.calls.settle(id, asFosError(e)));
    } catch (e) {
      this.calls.settle(id, asFosError(e));
    }
    return promise;
  }

  /** Sends `msg` to the mailbox `ref` names, by the transport its place and the options call for. */
  deliver(ref: Ref, msg: Inbound, opts: DeliverOptions): Promise<void> {
    const a = ref.address;
    const transport = opts.transport ?? 'auto';
    if (a.node !== this.node) return this.remoteRouting.deliver(ref, msg, opts);
    if (transport === 'tcp') throw new FosError('EINVAL', `transport 'tcp' carries messages to other nodes; ${a.node} is this node`);
    if (a.isolate === this.isolate) return this.deliverLocal(ref, msg, opts);
    const held = this.kernelTurns.last(a);
    if (held !== undefined) return this.kernelTurns.behind(held, a, msg, opts, (m, o) => this.deliverToIsolate(ref, m, o, true), this.linkTo(a.isolate));
    return this.deliverToIsolate(ref, msg, opts);
  }

  /**
   * `deliver` to another isolate of this node, in its turn (nothing to this
   * mailbox waits to go by kernel before it). `inTurn`: it is a turn of
   * `behind`, which a message that must wait again answers with NotYet
   * rather than by queueing behind the later ones.
   */
  private deliverToIsolate(ref: Ref, msg: Inbound, opts: DeliverOptions): Promise<void>;
  private deliverToIsolate(ref: Ref, msg: Inbound, opts: DeliverOptions, inTurn: true): Promise<void> | NotYet;
  private deliverToIsolate(ref: Ref, msg: Inbound, opts: DeliverOptions, inTurn = false): Promise<void> | NotYet {
    const a = ref.address;
    const transport = opts.transport ?? 'auto';
    const link = this.linkTo(a.isolate);
    const wait = opts.wait !== false;
    // FIFO across transports (DESIGN.md §3): a message goes by the transport
    // its place and options call for, unless earlier messages to the same
    // mailbox by the other transport are still without a verdict — then it
    // follows them on theirs. (Kernel messages posted before the channel's
    // offer need no such care: the offer frame orders them before the ring.)
    let out = transport === 'kernel' ? undefined : this.shm.route(a.isolate, transport === 'shm', link);
    let viaShm = out !== undefined;
    if (out !== undefined && link.flow.busySince(a.mailbox, out.kernelSeqAtOffer)) viaShm = false;
    else if (out === undefined) {
      const open = this.shm.out(a.isolate);
      if (open !== undefined && open.busy(a.mailbox)) {
        out = open;
        viaShm = true;
      }
    }
    if (viaShm) {
      // What only a structured clone carries goes by kernel, after what this
      // isolate sent to the mailbox by shm (it waits for their verdicts).
      const why = kernelOnly(msg.data) ?? kernelOnlyTransfer(opts.transfer);
      if (why !== undefined) {
        if (transport === 'shm') return Promise.reject(notCarried(why, "over shm: send it by 'kernel' or 'auto'"));
        return this.byKernelAfter(out!, ref, msg, opts, link, inTurn);
      }
      // The bytes are copied into the ring; a transfer list still takes the
      // sender's buffers away, as on every other transport. It is checked
      // first, so that a bad list fails the send and delivers nothing.
      let data = msg.data;
      if (opts.transfer !== undefined) {
        try {
          data = moveForCopy(data, opts.transfer);
        } catch (e) {
          return Promise.reject(e);
        }
      }
      this.countSent('shm', data, opts.batch);
      if (opts.ownCall === true && msg.call !== undefined && this.sendCallUntracked(out!, ref, data, msg.from!, msg.call)) {
        this.shm.kick();
        return RESOLVED;
      }
      const sent = out!.send(
        { type: RecordType.Message, to: a.mailbox, cap: ref.cap, wait, data, from: msg.from, call: msg.call, batch: opts.batch },
        opts,
        weightOf(data, opts.batch),
      );
      this.shm.kick();
      return sent;
    }
    return this.byKernel(ref, msg, opts, link);
  }

  private byKernel(ref: Ref, msg: Inbound, opts: DeliverOptions, link: KernelLink): Promise<void> {
    const a = ref.address;
    const frame: MsgFrame = { t: 'm', s: 0, to: a.mailbox, cap: ref.cap, w: opts.wait !== false ? 1 : 0, d: msg.data };
    if (msg.from !== undefined) frame.f = msg.from;
    if (msg.call !== undefined) {
      frame.c = msg.call.id;
      frame.m = msg.call.method;
    }
    if (opts.batch === true) frame.b = 1;
    this.countSent('kernel', msg.data, opts.batch);
    return link.send(frame, opts, a.mailbox, weightOf(msg.data, opts.batch));
  }

  /**
   * Sends by kernel a message only a structured clone carries (kernel-only.ts)
   * to a mailbox this isolate also reaches by the channel `out`. A message
   * sent to it earlier by shm may still be on its way (ShmOut.busy): then
   * this one waits until none is, and every later one to the mailbox waits
   * behind it (kernel-turns.ts), so that FIFO holds; once it is posted,
   * later ones follow it on kernel while it has no verdict (deliverToIsolate).
   * In a turn of `behind` (a message that already waited behind an earlier
   * one), it answers NotYet instead: its turn waits again, and everything
   * behind it with it.
   */
  private byKernelAfter(out: ShmOut, ref: Ref, msg: Inbound, opts: DeliverOptions, link: KernelLink, inTurn: boolean): Promise<void> | NotYet {
    const to = ref.address.mailbox;
    if (!out.busy(to)) return this.byKernel(ref, msg, opts, link);
    const idle = out
      .whenIdle(to)
      .then((kept) => (kept ? undefined : new FosError('EINVAL', `the message goes only by kernel, and an earlier one to mailbox ${to} by shm may still be on its way (a call that ended without its answer): it would overtake it`)));
    if (inTurn) return new NotYet(idle);
    return this.kernelTurns.behind(idle, ref.address, msg, opts, (m, o) => this.deliverToIsolate(ref, m, o, true), link);
  }

  /** Sends call `call` over `out` without a verdict when it may (ShmOut.sendCall); false when it must go tracked. */
  private sendCallUntracked(out: ShmOut, ref: Ref, data: unknown, from: Ref, call: CallInfo): boolean {
    const seq = out.sendCall({ type: RecordType.Message, to: ref.address.mailbox, cap: ref.cap, wait: true, data, from, call: { id: call.id, method: call.method, untracked: true } });
    if (seq === undefined) return false;
    this.calls.carried(call.id, out, seq, ref.address.mailbox);
    return true;
  }

  /** Counts a message, or the messages of a batch, as sent by `t`. */
  countSent(t: TransportName, data: unknown, batch: boolean | undefined): void {
    if (batch === true) this.counters.sentMany(t, data as unknown[]);
    else this.counters.sent(t, data);
  }

  private deliverLocal(ref: Ref, msg: Inbound, opts: DeliverOptions): Promise<void> {
    // A copy, as on every other transport: what the sender does with its
    // value afterwards cannot reach the receiver, and what could not cross
    // isolates fails here too.
    const data = opts.owned === true ? msg.data : cloneLocal(msg.data, opts.transfer);
    // Built field by field: an object spread here cost more than all the rest of a local delivery.
    const copy: Inbound =
      msg.call !== undefined ? { data, from: msg.from!, call: msg.call, via: 'local' } : msg.from !== undefined ? { data, from: msg.from, via: 'local' } : { data, via: 'local' };
    let settle: ((e?: FosError) => void) | undefined;
    this.countSent('local', copy.data, opts.batch);
    const r = this.admit(ref.address.mailbox, ref.cap, opts.batch === true ? messagesOf(copy) : copy, opts.wait !== false, 'local', (e) => settle?.(e));
    if (r === 'queued') return RESOLVED;
    if (r instanceof FosError) return Promise.reject(r);
    return this.awaitRoom(r, opts.signal, (s) => (settle = s));
  }

  /** The promise of a blocked delivery; `signal` withdraws it while it waits. */
  private awaitRoom(b: BlockedDelivery, signal: AbortLike | undefined, bind: (s: (e?: FosError) => void) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const abort = (): void => {
        if (b.withdraw()) reject(canceled('send aborted while waiting for room', signal));
      };
      bind((e) => {
        signal?.removeEventListener('abort', abort);
        woke();
        if (e === undefined) resolve();
        else reject(e);
      });
      if (signal !== undefined) {
        if (signal.aborted) abort();
        else signal.addEventListener('abort', abort, { once: true });
      }
    });
  }

  /**
   * The receiving side of every transport: checks the capability and the
   * mailbox's kind, then offers the message, or every message of a batch.
   * Returns 'queued', a blocked delivery (settled later through `settle`),
   * or the error to report.
   */
  private admit(
    mailbox: number,
    cap: unknown,
    msg: Inbound | readonly Inbound[],
    wait: boolean,
    transport: TransportName,
    settle: (e?: FosError) => void,
    onQueued?: () => void,
  ): 'queued' | BlockedDelivery | FosError {
    const mb = this.mailboxes.get(mailbox);
    if (mb === undefined) {
      if (this.recentlyClosed.has(mailbox)) return new FosError('ECLOSED', 'mailbox is closed');
      return new FosError('ENOENT', `no mailbox ${this.node}/${this.isolate}/${mailbox}`);
    }
    if (!capEquals(mb.ref.cap, cap)) return new FosError('EACCES', 'wrong capability for the mailbox');
    const many = Array.isArray(msg);
    const isCall = !many && (msg as Inbound).call !== undefined;
    if (isCall && !mb.serves) return new FosError('ENOSYS', 'the mailbox serves no calls');
    if (!isCall && mb.serves) return new FosError('EINVAL', 'the mailbox takes calls only: use call()');
    const r = many ? mb.offerMany(msg, wait, settle) : mb.offer(msg as Inbound, wait, settle, onQueued);
    if (r === 'full') return new FosError('EAGAIN', many ? `mailbox has no room for the batch of ${msg.length} (capacity ${mb.capacity})` : `mailbox is full (capacity ${mb.capacity})`);
    const arrived = mb.counters.arrived[transport];
    if (many) {
      for (let i = 0; i < msg.length; i++) arrived.bytes += this.counters.received(transport, msg[i]!.data);
      arrived.messages += msg.length;
    } else {
      arrived.bytes += this.counters.received(transport, (msg as Inbound).data);
      arrived.messages++;
    }
    return r;
  }

  /**
   * Answers the call `m`: with a value when `ok`, else with the FosError
   * `result`. The answer goes back the way the call came (a callSync's
   * into its caller's sync slot).
   */
  reply(m: Inbound, ok: boolean, result: unknown): void {
    const { from: to, call } = m;
    if (to === undefined || call === undefined) return;
    const a = to.address;
    if (a.node !== this.node) {
      this.remoteRouting.reply(to, call.id, ok, result);
      return;
    }
    if (call.sync === true) {
      // A sync slot holds bytes: what only a structured clone carries fails the call rather than arrive changed.
      const why = ok ? kernelOnly(result) : undefined;
      if (why !== undefined) {
        m.syncChannel?.answerSync(call.id, false, notCarried(why, "into a callSync's answer: call it with call()", 'the answer'));
        return;
      }
      if (m.syncChannel?.answerSync(call.id, ok, ok ? result : asFosError(result)) === true) this.counters.sent('shm', result);
      return;
    }
    const f: ReplyFrame = ok ? { t: 'y', cap: to.cap, c: call.id, ok: true, d: result } : { t: 'y', cap: to.cap, c: call.id, ok: false, e: toWire(asFosError(result)) };
    if (a.isolate === this.isolate) {
      if (f.ok) {
        try {
          f.d = cloneLocal(f.d, undefined);
        } catch (e) {
          this.reply(m, false, e);
          return;
        }
      }
      this.counters.sent('local', f.d);
      this.onReply(f, 'local');
      return;
    }
    const link = this.links.get(a.isolate);
    if (link === undefined) return; // the caller is gone: its calls failed with it
    // A reply keeps no order with other messages: one only a structured clone carries goes by kernel.
    const out = m.via === 'shm' && !(f.ok && kernelOnly(f.d) !== undefined) ? this.shm.tryRouteNow(a.isolate, link, this.opts.relayOffer) : undefined;
    try {
      if (out !== undefined) {
        out.sendUntracked({ type: RecordType.Reply, callId: call.id, cap: to.cap, ok: f.ok, data: f.ok ? f.d : f.e });
        this.counters.sent('shm', f.d);
      } else {
        link.postUnacked(f);
        this.counters.sent('kernel', f.d);
      }
    } catch (e) {
      if (e instanceof FosError && e.code !== 'EINVAL') return; // the link failed: the caller is gone
      // The value could not be carried: the caller hears why instead.
      this.reply(m, false, new FosError('EINVAL', `reply cannot be sent: ${bareMessage(e)}`));
    }
  }

  // ---- receiving -------------------------------------------------------

  private dispatch(link: KernelLink, f: Frame): void {
    // Verdicts ride on frames of every kind (a request, a push, a reply): apply them whatever the frame.
    const acks = f as Acks;
    if (acks.a !== undefined || acks.n !== undefined) link.applyAcks(acks);
    switch (f.t) {
      case 'm':
        if (f.nd !== undefined) this.remoteRouting.forward(link, f);
        else this.onMessage(link, f);
        break;
      case 'y':
        if (f.nd !== undefined) this.remoteRouting.reply({ address: { node: f.nd, isolate: f.ni ?? 0, mailbox: 0 }, cap: f.cap as Ref['cap'] }, f.c, f.ok, f.ok ? f.d : fromWire(f.e!));
        else this.onReply(f);
        break;
      case 'x': {
        const canceled = new FosError('ECANCELED', 'send aborted while waiting for room');
        if (f.v === 1) {
          this.shm.in(link.peer)?.withdraw(f.s, canceled);
          break;
        }
        const withdraw = link.waitingRoom.get(f.s);
        if (withdraw !== undefined && withdraw()) {
          link.waitingRoom.delete(f.s);
          link.nack(f.s, canceled);
        }
        break;
      }
      case 'o':
        this.acceptOffer(link.peer, f.sab, f.capacity);
        break;
      case 'k': {
        // The calls it carried untracked have no verdict to fail them by:
        // those after the last record the peer handled never arrived, and
        // fail here; those before it are answered by the peer (a held one
        // with ECONNRESET).
        const out = this.shm.out(link.peer);
        this.shm.outFailed(link.peer, f.why);
        if (out !== undefined) this.calls.failCarried(out, f.upTo, 'ECONNRESET', f.why);
        break;
      }
      case 'e':
        this.linkBroken(link, f.why);
        break;
      case 'q':
        this.control.onRequest(link, f);
        break;
      case 'r':
        this.control.onResponse(f);
        break;
      case 'p':
        this.onPushEvent(f.ev);
        break;
      default:
        break; // an ack frame, or a kind a newer peer may send: nothing more to do
    }
  }

  private onMessage(link: KernelLink, f: MsgFrame): void {
    const s = f.s;
    const msg: Inbound =
      f.c !== undefined
        ? { data: f.d, from: f.f!, call: { id: f.c, method: f.m ?? '' }, via: 'kernel' }
        : f.f !== undefined
          ? { data: f.d, from: f.f }
          : { data: f.d };
    if (f.b === 1 && (!Array.isArray(f.d) || f.c !== undefined)) {
      link.nack(s, new FosError('EINVAL', 'malformed frame: a batch is an array of data messages'));
      return;
    }
    let acked = false;
    const r = this.admit(
      f.to,
      f.cap,
      f.b === 1 ? messagesOf(msg) : msg,
      f.w === 1,
      'kernel',
      (e) => {
        link.waitingRoom.delete(s);
        if (e === undefined) link.ack(s);
        else link.nack(s, e);
      },
      // A served mailbox answers inside admit(): the ack goes first, to ride on the reply.
      () => {
        acked = true;
        link.ack(s);
      },
    );
    if (r === 'queued') {
      if (!acked) link.ack(s);
    }
    else if (r instanceof FosError) link.nack(s, r);
    else link.waitingRoom.set(s, r.withdraw);
  }

  /** Drains the ring `peer` offers, after every frame it sent before the offer. */
  acceptOffer(peer: number, sab: SharedArrayBuffer, capacity: number): void {
    this.shm.accept(peer, sab, capacity, (why, upTo) => {
      // Answers the peer wrote after the bad record are lost with the ring:
      // nothing says which of this isolate's calls to it they answered, so
      // all of them end here (ECONNRESET: they may have run).
      this.calls.failIsolate(this.node, peer, 'ECONNRESET', why);
      try {
        this.links.get(peer)?.postUnacked({ t: 'k', why, upTo });
      } catch {
        // No kernel channel to tell it by: its sends fail when it goes.
      }
    });
  }

  /** What the shm ring of `ch` brought: a reply, or a message to admit. */
  private onShmEnvelope(ch: ShmIn, env: Envelope, seq: number): ShmVerdict {
    if (env.type === RecordType.Reply) {
      this.onReply(env.ok ? { t: 'y', cap: env.cap, c: env.callId, ok: true, d: env.data } : { t: 'y', cap: env.cap, c: env.callId, ok: false, e: env.data as WireError }, 'shm');
      return 'untracked';
    }
    const msg: Inbound =
      env.call !== undefined
        ? env.call.sync === true
          ? { data: env.data, from: env.from!, call: env.call, via: 'shm', syncChannel: ch }
          : { data: env.data, from: env.from!, call: env.call, via: 'shm' }
        : env.from !== undefined
          ? { data: env.data, from: env.from }
          : { data: env.data };
    // An untracked call's caller reads no verdict: it hears of a refusal in
    // the call's answer (a callSync's, in its sync slot).
    const untracked = env.call?.untracked === true;
    const r = this.admit(env.to, env.cap, env.batch === true ? messagesOf(msg) : msg, env.wait, 'shm', (e) => {
      if (!untracked) {
        ch.verdict(seq, e);
        return;
      }
      ch.waitingRoom.delete(seq);
      if (e !== undefined) this.reply(msg, false, e);
    });
    if (r === 'queued') return untracked ? 'untracked' : 'admitted';
    if (r instanceof FosError) {
      if (!untracked) return r;
      this.reply(msg, false, r);
      return 'untracked';
    }
    // Withdrawn (a cancel, a failed channel), a tracked message hears why
    // in its verdict, an untracked call in its answer.
    const withdraw = !untracked
      ? r.withdraw
      : (why: FosError): boolean => {
          if (!r.withdraw()) return false;
          this.reply(msg, false, why);
          return true;
        };
    ch.waitingRoom.set(seq, withdraw);
    return untracked ? 'untracked' : 'held';
  }

  /** Settles the call a reply answers (the reply came by `transport`). */
  onReply(f: ReplyFrame, transport: TransportName = 'kernel'): void {
    if (!capEquals(this.replyRef.cap, f.cap)) return; // forged or stale: not ours to settle
    this.counters.received(transport, f.d);
    if (f.ok) this.calls.answer(f.c, undefined, f.d);
    else this.calls.answer(f.c, fromWire(f.e));
  }

  private onPushEvent(ev: PushEvent): void {
    switch (ev.type) {
      case 'port':
        this.attachPort(ev.peer, ev.port, true, ev.icb);
        return;
      case 'down':
        this.peerDown(ev.isolate, ev.code);
        return;
      case 'offer':
        this.acceptOffer(ev.from, ev.sab, ev.capacity);
        return;
      case 'nodeDown':
        this.nodeDown(ev.node, ev.why);
        return;
      default:
        this.onPush?.(ev);
    }
  }

  // ---- links -----------------------------------------------------------

  /** The kernel link to `peer`, asking the main thread for a channel on first use. */
  linkTo(peer: number): KernelLink {
    let link = this.links.get(peer);
    if (link === undefined) {
      link = this.newLink(peer);
      this.opts.connect(peer);
    }
    return link;
  }

  /** Starts talking to `peer` over `endpoint` (the main thread hands these out). */
  attachPort(peer: number, endpoint: Endpoint, owned: boolean, icb: SharedArrayBuffer): KernelLink {
    this.shm.addPeer(peer, icb);
    const link = this.links.get(peer) ?? this.newLink(peer);
    link.attach(endpoint, owned);
    // A polling isolate takes kernel frames as it spins, not a poll slice later.
    const source = this.shm.pump.polling && !this.kernelSources.has(peer) ? link.pollSource() : undefined;
    if (source !== undefined) {
      this.kernelSources.set(peer, source);
      this.shm.pump.add(source);
    }
    return link;
  }

  private newLink(peer: number): KernelLink {
    const link = new KernelLink(peer, this.onFrame);
    this.links.set(peer, link);
    return link;
  }

  link(peer: number): KernelLink | undefined {
    return this.links.get(peer);
  }

  /** `peer` is gone (or never was): what was sent to it and not acknowledged fails with `code`. */
  peerDown(peer: number, code: ErrorCode): void {
    const of = `isolate ${peer} of node ${this.node}`;
    const why = code === 'ECLOSED' ? `${of} stopped` : code === 'ENOENT' ? `no ${of}` : `${of} died`;
    const link = this.links.get(peer);
    this.links.delete(peer);
    this.cutOff(peer, link, code, why);
  }

  /**
   * The kernel link to `peer` was given up (a BrokenFrame, see
   * KernelLink.unreadable): what is in flight between the two fails as if
   * the peer had died, with ECONNRESET. The failed link stays, since a pair
   * of isolates gets one port in its life (hub.ts): later sends and calls
   * to the peer fail at once with the same error, rather than wait for a
   * port that never comes.
   */
  private linkBroken(link: KernelLink, why: string): void {
    if (this.links.get(link.peer) !== link) return;
    this.cutOff(link.peer, link, 'ECONNRESET', why);
    this.onLinkBroken?.(link.peer, why);
  }

  /** Fails `link` and everything else in flight to and from `peer` (shm channels, calls, control requests). */
  private cutOff(peer: number, link: KernelLink | undefined, code: ErrorCode, why: string): void {
    link?.fail(code, why);
    const source = this.kernelSources.get(peer);
    this.kernelSources.delete(peer);
    if (source !== undefined) this.shm.pump.remove(source);
    this.shm.peerDown(peer, code, why);
    this.calls.failIsolate(this.node, peer, code, why);
    this.control.failPeer(peer, code, why);
  }

  /** Node `node` is down: every call to it fails with ECONNRESET. (Sends to it fail in the proxy.) */
  nodeDown(node: string, why: string): void {
    this.calls.failNode(node, 'ECONNRESET', `node ${node} is down: ${why}`);
  }

  // ---- life ------------------------------------------------------------

  /**
   * Answers with `err` every callSync another isolate blocks in on this
   * one, if its answer is still to come, and every one that comes from now
   * on, by any channel (ShmIn.endSync): one still queued is then not run,
   * a running handler's answer is dropped.
   */
  endSyncCalls(err: FosError): void {
    this.shm.endSync(err);
  }

  /** Closes every mailbox and fails every pending call and send with ECLOSED. */
  close(why = 'runtime closed'): void {
    if (this.closedBy !== undefined) return;
    this.closedBy = new FosError('ECLOSED', why);
    for (const mb of [...this.mailboxes.values()]) mb.close();
    this.calls.failAll('ECLOSED', why);
    this.shm.close(why);
    for (const [peer, link] of this.links) {
      link.flush(); // verdicts on what was delivered, before the link goes
      link.fail('ECLOSED', why);
      this.control.failPeer(peer, 'ECLOSED', why);
    }
    this.links.clear();
  }

  stats(): IsolateStats {
    return {
      isolate: this.isolate,
      transports: structuredClone(this.counters.transports),
      errors: { ...this.counters.errors },
      callsInFlight: this.calls.size,
      mailboxes: [...this.mailboxes.values()].map((mb) => ({
        address: mb.ref.address,
        names: [...(this.boundNames.get(mb.ref.address.mailbox) ?? [])],
        capacity: mb.capacity,
        depth: mb.depth,
        waiting: mb.waiting,
        received: mb.counters.received,
        refusedFull: mb.counters.refusedFull,
        arrived: structuredClone(mb.counters.arrived),
      })),
    };
  }

  private assertOpen(): void {
    if (this.closedBy !== undefined) throw this.closedBy;
  }

  /** `failed` as one function made once: a closure per send or call, only to pass it to `catch`, was garbage on the hot path. */
  private readonly rethrow = (e: unknown): never => this.failed(e);

  /** A failure before anything started: counted, and returned as a rejected promise. */
  private rejected(e: unknown): Promise<never> {
    try {
      this.failed(e);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private failed(e: unknown): never {
    const err = asFosError(e);
    this.counters.error(err.code);
    throw err;
  }
}

/** The copy a message gets within one isolate: a structured clone, as across isolates. */
function cloneLocal(v: unknown, transfer: readonly TransferListItem[] | undefined): unknown {
  try {
    return transfer === undefined ? copyLocal(v) : structuredClone(v, { transfer: transfer as never[] });
  } catch (e) {
    throw new FosError('EINVAL', `message cannot be sent: ${(e as Error).message}`);
  }
}

/** The messages of a batch: one per item of its data, each with the batch's reply ref. */
function messagesOf(batch: Inbound): Inbound[] {
  const items = batch.data as readonly unknown[];
  const from = batch.from;
  const out = new Array<Inbound>(items.length);
  for (let i = 0; i < items.length; i++) out[i] = from === undefined ? { data: items[i] } : { data: items[i], from };
  return out;
}
