/**
 * The addresses a node dials, each kept connected: redialed with backoff
 * (doubling from `min` to `max` ms, each delay with up to 50 % jitter)
 * whenever its connection ends, parked while the process found there is
 * connected by another connection (the tie-break kept the one it dialed us by),
 * forgotten when it was learned from a peer and its node goes down, and
 * dialed only now and then, quietly, while it leads back to this node itself.
 *
 * Invariants: one dialer per address; a dialer has at most one of a
 * connection in progress or open (`conn`), a timer before its next attempt
 * (`timer`), or `parked` set; after `close()` nothing is dialed.
 */
import type { Connection } from './connection.js';
import type { StatusEvent } from '../../node/status.js';
import { parseHostPort } from './address.js';

interface Dialer {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  attempt: number;
  timer: NodeJS.Timeout | undefined;
  conn: Connection | undefined;
  /** The node found at this address once a connection to it was authenticated. */
  peer: string | undefined;
  /** That node's incarnation: the process found there. */
  incarnation: string | undefined;
  /** The node it was learned for, when a peer introduced it (not configured). */
  readonly learned: string | undefined;
  /** Not dialing while the process found here is connected by another connection. */
  parked: boolean;
  /**
   * The last connection dialed here reached this very node: its own
   * address among its peers, or a seed address that several nodes answer
   * at. Dialed again only every SELF_REDIAL_MS, quietly (another node may
   * answer there next time); cleared once another node does.
   */
  self: boolean;
}

/** How often an address that led back to this node is dialed again. */
export const SELF_REDIAL_MS = 30_000;

export interface DialerHost {
  /** Opens a connection to `host:port` as the dialer, for `address`. */
  connect(host: string, port: number, address: string): Connection;
  /** Whether incarnation `inc` of `peer` is connected (by any connection). */
  connected(peer: string, inc: string): boolean;
  emit(ev: StatusEvent): void;
}

export class Dialers {
  private readonly dialers = new Map<string, Dialer>();
  private closed = false;

  constructor(
    private readonly host: DialerHost,
    private readonly backoff: { readonly min: number; readonly max: number },
    /** The jitter's source: numbers in [0, 1). */
    private readonly random: () => number,
  ) {}

  has(address: string): boolean {
    return this.dialers.has(address);
  }

  /** Whether the last connection dialed to `address` reached this node itself. */
  isOwn(address: string): boolean {
    return this.dialers.get(address)?.self === true;
  }

  /** Dials `address` and keeps it connected; `learned` names the node a peer introduced it for. */
  dial(address: string, learned?: string): void {
    if (this.closed || this.dialers.has(address)) return;
    const { host, port } = parseHostPort(address);
    const d: Dialer = { address, host, port, attempt: 0, timer: undefined, conn: undefined, peer: undefined, incarnation: undefined, learned, parked: false, self: false };
    this.dialers.set(address, d);
    this.connect(d);
  }

  /** A connection dialed to `address` reached incarnation `inc` of node `peer` (authenticated). */
  reached(address: string, peer: string, inc: string): void {
    const d = this.dialers.get(address);
    if (d === undefined) return;
    d.peer = peer;
    d.incarnation = inc;
    d.self = false;
  }

  /** The nodes dialed because a peer introduced them. */
  *learnedNodes(): Iterable<string> {
    for (const d of this.dialers.values()) if (d.learned !== undefined) yield d.learned;
  }

  /** The incarnation of the node found at `address`, once a connection to it was authenticated. */
  incarnationAt(address: string): string | undefined {
    return this.dialers.get(address)?.incarnation;
  }

  /** The node found at `address`, once a connection to it was authenticated. */
  peerAt(address: string): string | undefined {
    return this.dialers.get(address)?.peer;
  }

  /** `conn`, the connection in progress at its address, reached this very node (see Dialer.self). */
  landedOnSelf(conn: Connection): void {
    const d = this.dialers.get(conn.address);
    if (d !== undefined && d.conn === conn) d.self = true;
  }

  /** A connection dialed to `address` was adopted: the backoff starts over. */
  adopted(address: string): void {
    const d = this.dialers.get(address);
    if (d !== undefined) d.attempt = 0;
  }

  /** A connection dialed by this node ended: its dialer tries again. */
  ended(conn: Connection, reason: string): void {
    const d = this.dialers.get(conn.address);
    if (d === undefined || d.conn !== conn) return;
    d.conn = undefined;
    this.retry(d, reason);
  }

  /** The connection to `peer` ended: the dialers parked for it dial again. */
  unpark(peer: string, reason: string): void {
    for (const d of this.dialers.values()) {
      if (!d.parked || d.peer !== peer) continue;
      d.parked = false;
      d.attempt = 0;
      this.retry(d, reason);
    }
  }

  /** `peer` is down: the dialers learned for it go (it is introduced again if it comes back), but the one at `keep`. */
  forget(peer: string, keep?: string): void {
    for (const d of [...this.dialers.values()]) {
      const learnedForIt = d.learned !== undefined && (d.learned === peer || d.peer === peer);
      if (!learnedForIt || d.address === keep) continue;
      clearTimeout(d.timer);
      this.dialers.delete(d.address);
    }
  }

  close(): void {
    this.closed = true;
    for (const d of this.dialers.values()) clearTimeout(d.timer);
    this.dialers.clear();
  }

  private connect(d: Dialer): void {
    d.timer = undefined;
    if (this.closed) return;
    d.conn = this.host.connect(d.host, d.port, d.address);
  }

  private retry(d: Dialer, reason: string): void {
    if (this.closed || d.timer !== undefined || this.dialers.get(d.address) !== d) return;
    if (d.peer !== undefined && d.incarnation !== undefined && this.host.connected(d.peer, d.incarnation)) {
      // The process at this address is connected by another connection (it
      // dialed us, and the tie-break kept its connection): dial again only
      // when that one ends. Another process of the node's name (a restart
      // elsewhere, or two nodes given one name) parks nothing: this address
      // is dialed on, and a process there is refused or let in as it should.
      d.parked = true;
      return;
    }
    if (d.self) {
      d.timer = setTimeout(() => this.connect(d), SELF_REDIAL_MS);
      return;
    }
    const base = Math.min(this.backoff.max, this.backoff.min * 2 ** Math.min(d.attempt, 20));
    const delayMs = Math.round(base * (0.5 + this.random() * 0.5));
    d.attempt++;
    this.host.emit({ type: 'reconnecting', address: d.address, ...(d.peer !== undefined ? { node: d.peer } : {}), attempt: d.attempt, delayMs, reason });
    d.timer = setTimeout(() => this.connect(d), delayMs);
  }
}
