/**
 * A node's status events (`node.status()`): an async iterable per
 * subscriber, each with its own bounded queue. A subscriber that falls
 * behind loses its oldest events, and its next event is a `dropped` notice
 * saying how many: the node never waits for a slow reader, nor grows
 * without bound.
 */
import type { ErrorCode } from '../errors.js';

export type StatusEvent =
  /** A session with `node` is up: a new one (its names are known), or one resumed after a reconnect. */
  | { readonly type: 'peer-up'; readonly node: string; readonly address: string; readonly resumed: boolean }
  /** `node` is down: its names are gone, and what was pending to it failed with ECONNRESET. */
  | { readonly type: 'peer-down'; readonly node: string; readonly reason: string }
  /** A connection broke or could not be made; the next attempt is in `delayMs`. */
  | { readonly type: 'reconnecting'; readonly address: string; readonly node?: string; readonly attempt: number; readonly delayMs: number; readonly reason: string }
  /**
   * A connection was refused during its handshake, by this node (`by:
   * 'local'`) or by the peer. `code` says why: EACCES authentication
   * (secret, TLS), EEXIST the node name is another process's (refused by
   * the peer: this node's name is taken, or this process was replaced),
   * EINVAL protocol, ETIMEDOUT too slow, EAGAIN a crossing or too many
   * handshakes (retried), ECLOSED a side shutting down.
   */
  | { readonly type: 'handshake-rejected'; readonly address: string; readonly node?: string; readonly reason: string; readonly code: ErrorCode; readonly by: 'local' | 'peer' }
  /** Bytes waiting for `node`'s acknowledgement crossed the limit (`slow`), or fell back under half of it. */
  | { readonly type: 'slow-peer'; readonly node: string; readonly pendingBytes: number; readonly slow: boolean }
  /**
   * A spawned isolate of this node ended without being stopped (it threw
   * outside any handler, or called process.exit): its names are gone, and
   * what was in flight to it failed with ECONNRESET. `error` is what it
   * threw, with its stack, when it threw. The node restarts nothing (`fos
   * node` replaces a crashed worker of its services).
   */
  | { readonly type: 'isolate-crashed'; readonly isolate: number; readonly module: string; readonly exitCode: number; readonly error?: string }
  /** This subscriber missed `count` events: its queue was full. */
  | { readonly type: 'dropped'; readonly count: number };

const QUEUE_LIMIT = 1024;

interface Subscriber {
  readonly queue: StatusEvent[];
  dropped: number;
  wake: (() => void) | undefined;
}

export class StatusFeed {
  private readonly subscribers = new Set<Subscriber>();
  private ended = false;

  emit(ev: StatusEvent): void {
    for (const s of this.subscribers) {
      if (s.queue.length >= QUEUE_LIMIT) {
        s.queue.shift();
        s.dropped++;
      }
      s.queue.push(ev);
      s.wake?.();
    }
  }

  /** Ends every subscription (the node shut down). */
  end(): void {
    this.ended = true;
    for (const s of this.subscribers) s.wake?.();
    this.subscribers.clear();
  }

  subscribe(): AsyncIterableIterator<StatusEvent> {
    const sub: Subscriber = { queue: [], dropped: 0, wake: undefined };
    if (!this.ended) this.subscribers.add(sub);
    const done = (): IteratorResult<StatusEvent> => {
      this.subscribers.delete(sub);
      // A next() waiting for an event ends too.
      sub.wake?.();
      return { done: true, value: undefined };
    };
    const it: AsyncIterableIterator<StatusEvent> = {
      next: async () => {
        for (;;) {
          if (sub.dropped > 0) {
            const count = sub.dropped;
            sub.dropped = 0;
            return { done: false, value: { type: 'dropped', count } };
          }
          const ev = sub.queue.shift();
          if (ev !== undefined) return { done: false, value: ev };
          if (!this.subscribers.has(sub)) return done();
          // Every next() waiting wakes (two may wait at once), then looks again.
          const previous = sub.wake;
          await new Promise<void>((resolve) => (sub.wake = () => (previous?.(), resolve())));
          sub.wake = undefined;
        }
      },
      return: async () => done(),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }
}
