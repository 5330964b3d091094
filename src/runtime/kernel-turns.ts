/**
 * The turns of deliveries that wait to go by kernel in order (DESIGN.md §3,
 * FIFO across transports): a message only a structured clone carries, sent
 * to a mailbox that this isolate's earlier shm messages may still be on
 * their way to, waits until none is (Runtime.byKernelAfter); every later
 * delivery to that mailbox waits behind it, in a queue that exists only
 * while something waits in it.
 *
 * Invariant: `turns` holds, per mailbox of another isolate, the last turn
 * queued; each turn starts once the one before it ended, and ends only
 * once its message has left or failed. A turn removes its entry when it
 * ends, if no later turn replaced it.
 */
import { canceled, FosError } from '../errors.js';
import type { KernelLink } from '../transport/kernel/link.js';
import { moveTransferred, moveWithList } from '../util/transfer.js';
import type { Inbound } from './mailbox.js';
import type { DeliverOptions } from './runtime.js';

/** A delivery in a turn that must wait again: its turn waits for `gate` (an error there fails it), then tries again. */
export class NotYet {
  constructor(readonly gate: Promise<FosError | undefined>) {}
}

/** A mailbox of another isolate of this node. */
interface MailboxOfIsolate {
  readonly isolate: number;
  readonly mailbox: number;
}

function laneOf(a: MailboxOfIsolate): string {
  return `${a.isolate}:${a.mailbox}`;
}

export class KernelTurns {
  private readonly turns = new Map<string, Promise<void>>();

  /** Whether a delivery to `to` waits in a turn (a callSync, which cannot wait, must not overtake it). */
  holds(to: MailboxOfIsolate): boolean {
    return this.turns.size > 0 && this.turns.has(laneOf(to));
  }

  /** The last turn queued for `to`, which a new delivery to it must wait behind; undefined when none waits. */
  last(to: MailboxOfIsolate): Promise<void> | undefined {
    return this.turns.size > 0 ? this.turns.get(laneOf(to)) : undefined;
  }

  /**
   * Runs `send` once `gate` resolves, and holds every later delivery to
   * `to` until it has: a turn in a queue per mailbox that exists only
   * while something waits in it. A gate that resolves to an error fails
   * the delivery with it; a `send` that answers NotYet (the message must wait
   * again) keeps the turn, and so everything behind it, waiting for that
   * gate, then runs again: a turn ends only once its message has left or
   * failed, so none behind it can overtake it. The message waits as a
   * copy, its transferred objects moved into it, as a send takes them at
   * once. A send that may not wait (`wait: false`) fails with EAGAIN at
   * once; one whose signal fires while it waits fails with ECANCELED at
   * once, and its turn posts nothing (a call that timed out is withdrawn so).
   * `link` is the link to the mailbox's isolate when the send was made: if
   * it has failed when the turn comes (the isolate died), the delivery
   * fails as what was in flight on it did (ECONNRESET), not as a send to
   * an isolate that never was.
   */
  behind(gate: Promise<FosError | undefined | void>, to: MailboxOfIsolate, msg: Inbound, opts: DeliverOptions, send: (msg: Inbound, opts: DeliverOptions) => Promise<void> | NotYet, link: KernelLink): Promise<void> {
    const lane = laneOf(to);
    if (opts.wait === false) return Promise.reject(new FosError('EAGAIN', 'an earlier message to the mailbox waits to go by kernel, in order'));
    const { signal } = opts;
    if (signal?.aborted === true) return Promise.reject(canceled('send aborted before it left', signal));
    let go: () => Promise<void> | NotYet;
    try {
      if (opts.transfer !== undefined && opts.transfer.length > 0) {
        const [data, transfer] = moveWithList(msg.data, opts.transfer);
        const moved = { ...msg, data };
        const withList = { ...opts, transfer };
        go = () => send(moved, withList);
      } else {
        // A structured clone, as postMessage will make: shared memory stays shared.
        const copy = opts.owned === true ? msg : { ...msg, data: moveTransferred(msg.data, []) };
        go = () => send(copy, opts);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    let sent: Promise<void> | undefined;
    let withdrawn: ((e: FosError) => void) | undefined;
    const onAbort = (): void => withdrawn?.(canceled('send aborted before it left', signal));
    signal?.addEventListener('abort', onAbort, { once: true });
    const turn = gate.then(async (refusal) => {
      for (;;) {
        if (signal?.aborted === true) break;
        const failure = refusal instanceof FosError ? refusal : link.flow.failed;
        if (failure !== undefined) {
          sent = Promise.reject(failure);
          break;
        }
        let r: Promise<void> | NotYet;
        try {
          r = go();
        } catch (e) {
          sent = Promise.reject(e);
          break;
        }
        if (!(r instanceof NotYet)) {
          sent = r;
          break;
        }
        refusal = await r.gate;
      }
      signal?.removeEventListener('abort', onAbort);
      if (this.turns.get(lane) === turn) this.turns.delete(lane);
    });
    this.turns.set(lane, turn);
    const delivered = turn.then(() => sent);
    if (signal === undefined) return delivered;
    return Promise.race([delivered, new Promise<never>((_, reject) => (withdrawn = reject))]);
  }
}
