// An in-memory network for the tcp proxy's handshakes: sockets whose bytes,
// arrivals and closes wait in per-direction queues until the test delivers
// them, in an order it picks (FIFO within a direction, as TCP is). With a
// seeded pick, any interleaving of two connections crossing is replayable.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

type Item = { readonly kind: 'open' } | { readonly kind: 'data'; readonly bytes: Buffer } | { readonly kind: 'close' };

/** One direction of a connection: what `from` sent and `to` has not been handed yet. */
interface Pipe {
  readonly items: Item[];
  readonly to: FakeSocket;
}

export class FakeSocket extends EventEmitter {
  destroyed = false;
  /** The direction this socket writes into (set once its pair is made). */
  out!: Pipe;

  constructor(
    private readonly net: FakeNet,
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {
    super();
  }

  setNoDelay(): this {
    return this;
  }
  cork(): void {}
  uncork(): void {}

  write(bytes: Uint8Array): boolean {
    if (!this.destroyed) this.out.items.push({ kind: 'data', bytes: Buffer.from(bytes) });
    return true;
  }

  end(bytes?: Uint8Array): this {
    if (bytes !== undefined) this.write(bytes);
    this.destroy();
    return this;
  }

  /** Closes this end without a word to the peer (a crash whose RST was lost, a half-open link): only this end hears 'close'. */
  vanish(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.net.later(() => this.emit('close'));
  }

  /** Closes this end: it hears 'close' on the next turn, its peer once the close is delivered. */
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.out.items.push({ kind: 'close' });
    this.net.later(() => this.emit('close'));
    return this;
  }
}

export class FakeNet {
  private readonly pipes: Pipe[] = [];
  private readonly listeners = new Map<string, (s: Socket) => void>();
  private readonly deferred: (() => void)[] = [];
  private nextPort = 40_000;
  /** Items delivered so far. */
  delivered = 0;

  /** Connections to `address` go to `accept` (a proxy's). */
  listen(address: string, accept: (s: Socket) => void): void {
    this.listeners.set(address, accept);
  }

  /** Opens a connection to `address`: the dialer's end now, the acceptor's once the open is delivered. */
  connect(address: string): Socket {
    const port = this.nextPort++;
    const dialer = new FakeSocket(this, address, 0);
    const acceptor = new FakeSocket(this, '10.0.0.1', port);
    const toAcceptor: Pipe = { items: [{ kind: 'open' }], to: acceptor };
    const toDialer: Pipe = { items: [], to: dialer };
    dialer.out = toAcceptor;
    acceptor.out = toDialer;
    this.pipes.push(toAcceptor, toDialer);
    (acceptor as FakeSocket & { address: string }).address = address;
    return dialer as unknown as Socket;
  }

  /** Runs `f` when the test next delivers (a socket's own 'close', which Node emits a turn later). */
  later(f: () => void): void {
    this.deferred.push(f);
  }

  /** Items waiting, in all directions. */
  get waiting(): number {
    let n = this.deferred.length;
    for (const p of this.pipes) n += p.items.length;
    return n;
  }

  /** The directions of every connection made, in order: the dialer's to the acceptor, then back, per connection. */
  get directions(): readonly { readonly items: readonly unknown[] }[] {
    return this.pipes;
  }

  /**
   * Delivers one item: a deferred event first, else the head of the pipe
   * `pick` chooses among the non-empty ones. False when nothing waits.
   */
  step(pick: (choices: number) => number): boolean {
    if (this.runDeferred()) return true;
    const ready = this.pipes.filter((p) => p.items.length > 0);
    if (ready.length === 0) return false;
    this.deliver(ready[pick(ready.length)]!);
    return true;
  }

  /** Delivers the head of `direction` (one of `directions`), after any deferred event; false when it is empty. */
  stepFrom(direction: { readonly items: readonly unknown[] }): boolean {
    if (this.runDeferred()) return true;
    const p = this.pipes.find((x) => x === direction);
    if (p === undefined || p.items.length === 0) return false;
    this.deliver(p);
    return true;
  }

  private runDeferred(): boolean {
    const d = this.deferred.shift();
    if (d === undefined) return false;
    d();
    return true;
  }

  private deliver(p: Pipe): void {
    const item = p.items.shift()!;
    this.delivered++;
    const s = p.to;
    if (item.kind === 'open') {
      const accept = this.listeners.get((s as FakeSocket & { address: string }).address);
      if (accept === undefined) s.destroy();
      else accept(s as unknown as Socket);
    } else if (!s.destroyed) {
      if (item.kind === 'data') s.emit('data', item.bytes);
      else s.destroy();
    }
  }

  /** Delivers until nothing waits (at most `max` items), letting microtasks run between deliveries. */
  async run(pick: (choices: number) => number, max = 10_000): Promise<void> {
    for (let i = 0; i < max; i++) {
      await new Promise<void>((r) => setImmediate(r));
      if (!this.step(pick)) {
        // Nothing left, but what the last delivery set going on the next turn (a write after a microtask).
        await new Promise<void>((r) => setImmediate(r));
        if (this.waiting === 0) return;
      }
    }
    throw new Error(`the network did not go quiet within ${max} deliveries`);
  }
}

/** A small seeded generator (mulberry32), so that a failing order can be replayed from its seed. */
export function seeded(seed: number): (choices: number) => number {
  let a = seed >>> 0;
  return (choices) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * choices);
  };
}
