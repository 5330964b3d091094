/**
 * Messages and replies for mailboxes of other nodes, as one isolate's
 * runtime routes them: the main thread hands them to its proxy; a worker
 * hands them to the main thread over its kernel link (a message in a lane
 * of its own per remote mailbox, so FIFO per mailbox holds), and the main
 * thread passes them on and sends the verdicts back.
 */
import { asFosError, bareMessage, FosError, toWire } from '../errors.js';
import type { KernelLink } from '../transport/kernel/link.js';
import { weightOf } from '../transport/flow.js';
import type { MsgFrame, ReplyFrame } from '../transport/kernel/frames.js';
import { Withdrawal } from '../util/withdrawal.js';
import type { Inbound } from './mailbox.js';
import type { Ref } from './ref.js';
import type { DeliverOptions, RemoteRoute } from './runtime.js';
import type { Counters } from './stats.js';
import { moveForCopy } from '../util/transfer.js';
import { kernelOnly, notCarried } from '../kernel-only.js';

/** What the routing needs of its runtime. */
export interface RoutingRuntime {
  readonly isolate: number;
  readonly counters: Counters;
  countSent(t: 'tcp', data: unknown, batch: boolean | undefined): void;
  readonly remote: RemoteRoute | undefined;
  linkTo(peer: number): KernelLink;
}

export class RemoteRouting {
  constructor(private readonly rt: RoutingRuntime) {}

  /**
   * Sends to a mailbox of another node: from the main thread through the
   * proxy, from a worker through the main thread (its kernel link, in a
   * lane of its own per remote mailbox, so FIFO per mailbox holds).
   */
  deliver(ref: Ref, msg: Inbound, opts: DeliverOptions): Promise<void> {
    const a = ref.address;
    if (opts.transport === 'kernel' || opts.transport === 'shm') {
      throw new FosError('EINVAL', `transport '${opts.transport}' cannot reach node ${a.node}: use 'tcp' or 'auto'`);
    }
    // What only a structured clone carries cannot cross to another node as it is: it fails rather than arrive changed.
    const why = kernelOnly(msg.data, true);
    if (why !== undefined) return Promise.reject(notCarried(why, `to node ${a.node}`));
    const wait = opts.wait !== false;
    this.rt.countSent('tcp', msg.data, opts.batch);
    if (this.rt.isolate === 0) {
      if (this.rt.remote === undefined) throw new FosError('ENOENT', `no route to node ${a.node}`);
      if (opts.transfer === undefined) return this.rt.remote.send(ref, msg, { wait, signal: opts.signal, batch: opts.batch });
      // The buffers leave the sender now; the copy holding them is what waits to be encoded.
      let data: unknown;
      try {
        data = moveForCopy(msg.data, opts.transfer);
      } catch (e) {
        return Promise.reject(e);
      }
      return this.rt.remote.send(ref, { ...msg, data }, { wait, signal: opts.signal, batch: opts.batch });
    }
    const frame: MsgFrame = { t: 'm', s: 0, to: a.mailbox, cap: ref.cap, w: wait ? 1 : 0, d: msg.data, nd: a.node, ni: a.isolate };
    if (msg.from !== undefined) frame.f = msg.from;
    if (msg.call !== undefined) {
      frame.c = msg.call.id;
      frame.m = msg.call.method;
    }
    if (opts.batch === true) frame.b = 1;
    return this.rt.linkTo(0).send(frame, { wait, signal: opts.signal, transfer: opts.transfer }, `${a.node}/${a.isolate}/${a.mailbox}`, weightOf(msg.data, opts.batch));
  }

  /** Answers a call from another node: through the proxy, or through the main thread from a worker. */
  reply(to: Ref, callId: number, ok: boolean, result: unknown): void {
    const a = to.address;
    const why = ok ? kernelOnly(result, true) : undefined;
    if (why !== undefined) {
      this.reply(to, callId, false, notCarried(why, `to node ${a.node}`, 'the answer'));
      return;
    }
    try {
      if (this.rt.isolate === 0) {
        if (this.rt.remote === undefined) return;
        try {
          this.rt.remote.reply(to, callId, ok, result);
        } catch (e) {
          // The answer could not be carried (too large for the link, or not encodable): the caller hears why instead.
          const code = e instanceof FosError && e.code === 'EMSGSIZE' ? 'EMSGSIZE' : 'EINVAL';
          if (ok) this.rt.remote.reply(to, callId, false, new FosError(code, `reply cannot be sent: ${bareMessage(e)}`));
          return;
        }
      } else {
        const f: ReplyFrame = ok ? { t: 'y', cap: to.cap, c: callId, ok: true, d: result } : { t: 'y', cap: to.cap, c: callId, ok: false, e: toWire(asFosError(result)) };
        f.nd = a.node;
        f.ni = a.isolate;
        try {
          this.rt.linkTo(0).postUnacked(f);
        } catch (e) {
          if ((e instanceof FosError && e.code !== 'EINVAL') || !ok) return; // no way to the main thread: the node is going
          // The value could not be carried: the caller hears why instead.
          this.reply(to, callId, false, new FosError('EINVAL', `reply cannot be sent: ${bareMessage(e)}`));
          return;
        }
      }
      this.rt.counters.sent('tcp', result);
    } catch {
      // The caller's node is unreachable: its calls fail there with it.
    }
  }

  /** A worker hands the main thread a message for another node: it goes on, and its verdict comes back. */
  forward(link: KernelLink, f: MsgFrame): void {
    const ref = { address: { node: f.nd!, isolate: f.ni ?? 0, mailbox: f.to }, cap: f.cap } as Ref;
    const msg: Inbound = f.c !== undefined ? { data: f.d, from: f.f!, call: { id: f.c, method: f.m ?? '' } } : f.f !== undefined ? { data: f.d, from: f.f } : { data: f.d };
    const s = f.s;
    const withdraw = new Withdrawal();
    // Withdrawn here, the verdict (ECANCELED, or delivered after all) comes through the promise below.
    link.waitingRoom.set(s, () => (withdraw.abort(), false));
    // Straight to the proxy: the worker counted the message as sent, this isolate only passes it on.
    let sent: Promise<void>;
    try {
      if (this.rt.remote === undefined) throw new FosError('ENOENT', `no route to node ${ref.address.node}`);
      if (f.b === 1 && (!Array.isArray(f.d) || f.c !== undefined)) throw new FosError('EINVAL', 'malformed frame: a batch is an array of data messages');
      sent = this.rt.remote.send(ref, msg, { wait: f.w === 1, signal: withdraw, batch: f.b === 1 });
    } catch (e) {
      sent = Promise.reject(e);
    }
    sent.then(
      () => {
        link.waitingRoom.delete(s);
        link.ack(s);
      },
      (e: unknown) => {
        link.waitingRoom.delete(s);
        link.nack(s, asFosError(e));
      },
    );
  }
}
