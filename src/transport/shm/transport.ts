/**
 * User messaging for one isolate: its shm channels to and from its peers,
 * when to open them, and the pump that serves them.
 *
 * Switching without reordering (DESIGN.md §4): a pair starts on the kernel
 * link; after `threshold` messages (or at once for `transport: 'shm'`) the
 * sender creates a channel and offers it by a frame on the kernel link,
 * which is FIFO, and writes into the ring from then on. The receiver drains
 * the ring only once it has handled the offer, so every kernel message sent
 * before the switch is handled before the first ring message. The switch
 * waits while the kernel link still holds unposted messages (its window is
 * full, or its port has not arrived), since those would come after the offer.
 */
import { checkKeys, checkMicros, describeOption, type KeysOf } from '../../util/options.js';
import type { Envelope } from '../../envelope.js';
import { FosError, type ErrorCode } from '../../errors.js';
import type { KernelLink } from '../kernel/link.js';
import { ChannelFailure, DEFAULT_RING_CAPACITY, ShmIn, ShmOut, type ShmVerdict } from './channel.js';
import { icbView, type Icb } from './icb.js';
import { DEFAULT_PUMP, Pump, type PumpOptions, type PumpSource } from './pump.js';
import { warmUp } from './warm.js';

export interface ShmOptions {
  /** Messages a pair exchanges over the kernel link before it moves to shm; default 8. */
  readonly threshold?: number;
  /** Bytes of each ring; a power of two, default 1 MiB. */
  readonly ringCapacity?: number;
  readonly pump?: Partial<PumpOptions>;
}

export interface ShmHost {
  /** Handles a message or reply the ring brought; returns its verdict. */
  onEnvelope(from: ShmIn, env: Envelope, seq: number): ShmVerdict;
}

export const DEFAULT_THRESHOLD = 8;

const SHM_KEYS: KeysOf<ShmOptions> = { threshold: true, ringCapacity: true, pump: true };
const PUMP_KEYS: KeysOf<PumpOptions> = { poll: true, spinMicros: true, pollSliceMicros: true };

/** EINVAL for shm options unknown or out of range (checked once, at boot, rather than in each isolate as it starts). */
export function checkShmOptions(opts: ShmOptions): void {
  checkKeys('shm', opts, SHM_KEYS);
  checkKeys('shm.pump', opts.pump, PUMP_KEYS);
  const { threshold, ringCapacity, pump } = opts;
  if (threshold !== undefined && !(threshold === Infinity || (Number.isInteger(threshold) && threshold >= 0))) {
    throw new FosError('EINVAL', `shm.threshold is a whole number of messages >= 0 (or Infinity: never switch), got ${describeOption(threshold)}`);
  }
  if (ringCapacity !== undefined && !(Number.isInteger(ringCapacity) && ringCapacity >= 64 && ringCapacity <= 2 ** 30 && (ringCapacity & (ringCapacity - 1)) === 0)) {
    throw new FosError('EINVAL', `shm.ringCapacity is a power of two from 64 to 2^30 bytes, got ${describeOption(ringCapacity)}`);
  }
  for (const k of ['spinMicros', 'pollSliceMicros'] as const) {
    const v = pump?.[k];
    if (v !== undefined) checkMicros(`shm.pump.${k}`, v);
  }
}

export class ShmTransport {
  readonly icb: Icb;
  readonly pump: Pump;
  private readonly peers = new Map<number, Icb>();
  private readonly outs = new Map<number, { out: ShmOut; source: PumpSource }>();
  private readonly ins = new Map<number, { in: ShmIn; source: PumpSource }>();
  /** Set by endSync: what every callSync coming in is answered, on the channels of now and later. */
  private syncEnding: FosError | undefined;
  private readonly kernelSent = new Map<number, number>();
  /** Pairs whose channel failed: they stay on the kernel link until a callSync needs a channel again (routeNow opens one). */
  private readonly failed = new Set<number>();
  private readonly threshold: number;
  private readonly ringCapacity: number;

  constructor(
    icb: SharedArrayBuffer,
    private readonly host: ShmHost,
    opts: ShmOptions = {},
  ) {
    this.icb = icbView(icb);
    this.threshold = opts.threshold ?? DEFAULT_THRESHOLD;
    this.ringCapacity = opts.ringCapacity ?? DEFAULT_RING_CAPACITY;
    this.pump = new Pump(this.icb.bell, { ...DEFAULT_PUMP, ...opts.pump });
    warmUp();
  }

  /** Learns a peer's control block (from the main thread, with the kernel channel). */
  addPeer(peer: number, icb: SharedArrayBuffer): void {
    this.peers.set(peer, icbView(icb));
  }

  peer(peer: number): Icb | undefined {
    return this.peers.get(peer);
  }

  /** The channel to `peer` if there is one. */
  out(peer: number): ShmOut | undefined {
    return this.outs.get(peer)?.out;
  }

  /**
   * The channel a message to `peer` goes by, opening it if the pair has
   * talked enough (or `force`), or undefined to use the kernel link.
   */
  route(peer: number, force: boolean, link: KernelLink): ShmOut | undefined {
    const open = this.outs.get(peer);
    if (open !== undefined) return open.out;
    if (this.failed.has(peer)) return undefined;
    if (!force) {
      const n = (this.kernelSent.get(peer) ?? 0) + 1;
      this.kernelSent.set(peer, n);
      if (n <= this.threshold) return undefined;
    }
    const peerIcb = this.peers.get(peer);
    if (peerIcb === undefined || !link.attached || link.flow.backlogged > 0) return undefined;
    return this.open(peer, peerIcb, link, undefined);
  }

  /**
   * The channel to `peer` now, for a thread about to block (callSync): opened
   * over the kernel link if it is attached, else offered through the main
   * thread (`relay`). EAGAIN when kernel messages to the peer still wait for
   * their port: they would arrive after the ring's.
   */
  routeNow(peer: number, link: KernelLink, relay: (peer: number, sab: SharedArrayBuffer, capacity: number) => void): ShmOut {
    const open = this.outs.get(peer);
    if (open !== undefined) return open.out;
    if (link.flow.backlogged > 0) throw new FosError('EAGAIN', `messages to isolate ${peer} still wait for their channel; retry callSync`);
    const peerIcb = this.peers.get(peer);
    if (peerIcb === undefined) throw new FosError('ENOENT', `no isolate ${peer}`);
    return this.open(peer, peerIcb, link, link.attached ? undefined : relay);
  }

  /** `routeNow`, or undefined (the kernel link then) where it would fail. */
  tryRouteNow(peer: number, link: KernelLink, relay: (peer: number, sab: SharedArrayBuffer, capacity: number) => void): ShmOut | undefined {
    try {
      return this.routeNow(peer, link, relay);
    } catch {
      return undefined;
    }
  }

  private open(peer: number, peerIcb: Icb, link: KernelLink, relay: ((peer: number, sab: SharedArrayBuffer, capacity: number) => void) | undefined): ShmOut {
    const withdraw = (seq: number): boolean => {
      try {
        link.postUnacked({ t: 'x', s: seq, v: 1 });
        return true;
      } catch {
        // No kernel channel (yet): the message stays, its verdict will come.
        return false;
      }
    };
    const out = ShmOut.create(peer, peerIcb.bell, withdraw, link.lastSeq, this.ringCapacity);
    if (relay !== undefined) relay(peer, out.sab, out.capacity);
    else link.postUnacked({ t: 'o', sab: out.sab, capacity: out.capacity });
    const source: PumpSource = { poll: () => out.poll(), pending: () => out.pending() };
    this.outs.set(peer, { out, source });
    this.kernelSent.delete(peer);
    this.pump.add(source);
    return out;
  }

  /** The receiving side of an offer: drain the ring from now on. */
  accept(peer: number, sab: SharedArrayBuffer, capacity: number, notifyFailure: (why: string, upTo: number) => void): void {
    const peerIcb = this.peers.get(peer);
    if (peerIcb === undefined || this.ins.has(peer)) return;
    const ch = new ShmIn(peer, sab, capacity, peerIcb.bell);
    const source: PumpSource = {
      poll: () => {
        try {
          return ch.drain((env, seq) => this.host.onEnvelope(ch, env, seq));
        } catch (e) {
          if (!(e instanceof ChannelFailure)) throw e;
          // Messages of this channel still waiting for room are withdrawn:
          // their sender hears ECONNRESET (an untracked call's, in its answer).
          const reset = new FosError('ECONNRESET', `${e.message}; withdrawn while it waited for room`);
          for (const withdraw of ch.waitingRoom.values()) withdraw(reset);
          ch.waitingRoom.clear();
          this.dropIn(peer);
          // The sender hears of it and fails what it sent this way after the last record handled.
          notifyFailure(e.message, ch.handledUpTo);
          return true;
        }
      },
      pending: () => ch.ready(),
    };
    if (this.syncEnding !== undefined) ch.endSync(this.syncEnding);
    this.ins.set(peer, { in: ch, source });
    this.pump.add(source);
  }

  /** Ends every callSync that comes into this isolate, now and by channels accepted later (ShmIn.endSync). */
  endSync(err: FosError): void {
    this.syncEnding = err;
    for (const { in: ch } of this.ins.values()) ch.endSync(err);
  }

  in(peer: number): ShmIn | undefined {
    return this.ins.get(peer)?.in;
  }

  /** The peer says our channel to it failed: fail what it carried, stay on kernel (see `failed`). */
  outFailed(peer: number, why: string): void {
    const o = this.outs.get(peer);
    if (o === undefined) return;
    this.outs.delete(peer);
    this.pump.remove(o.source);
    this.failed.add(peer);
    o.out.poll(); // the verdicts the peer gave before it failed the channel
    o.out.fail(new FosError('ECONNRESET', why));
  }

  /** Wakes the pump to spin for an answer (after a send, when it may be parked). */
  kick(): void {
    this.pump.wake();
  }

  peerDown(peer: number, code: ErrorCode, why: string): void {
    const o = this.outs.get(peer);
    if (o !== undefined) {
      this.outs.delete(peer);
      this.pump.remove(o.source);
      o.out.poll(); // the verdicts the peer gave before it went
      o.out.fail(new FosError(code, why));
    }
    // What the peer wrote before it went is delivered (replies included).
    this.ins.get(peer)?.source.poll();
    this.dropIn(peer);
    this.peers.delete(peer);
    this.kernelSent.delete(peer);
    this.failed.delete(peer);
  }

  close(why: string): void {
    for (const peer of [...this.outs.keys()]) this.peerDown(peer, 'ECLOSED', why);
    for (const peer of [...this.ins.keys()]) this.dropIn(peer);
    this.pump.stop();
  }

  private dropIn(peer: number): void {
    const i = this.ins.get(peer);
    if (i === undefined) return;
    this.ins.delete(peer);
    this.pump.remove(i.source);
    i.in.close(); // the peer, if it lives, may be blocked in a callSync on this channel
  }
}
