/**
 * The node's proxy (fos's inter-machine messaging): on the main thread, it
 * listens for peer nodes, dials the peers it was given, keeps one session
 * per peer node across reconnects, and carries messages, replies and name
 * updates between this node's runtime and theirs.
 *
 * Connections: one per pair of nodes. When both dial at once, or a new
 * connection arrives while an old one lingers, the one dialed by the node
 * whose name sorts first is kept, unless the old one has gone silent. Both
 * sides apply the same rule; as each judges silence by its own clock, they
 * may briefly disagree and close each other's choice, which costs a
 * reconnect, never a frame (the session resends what was not acknowledged).
 * A dialer whose connection lost waits (parked) until the kept one ends.
 *
 * Liveness: every session hears a frame at least every heartbeat interval
 * (an ack frame when there is nothing else to send). A connection silent for
 * three intervals is closed and redialed; a peer silent past the down
 * timeout is declared down: its session fails (ECONNRESET to every pending
 * send and call), its names go.
 */
import { connect as netConnect, createServer as netServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as tlsServer, type TLSSocket } from 'node:tls';
import { asFosError, FosError, toWire } from '../../errors.js';
import { RecordType, type CallInfo, type MessageEnvelope, type ReplyEnvelope } from '../../envelope.js';
import type { Ref } from '../../runtime/ref.js';
import type { StatusEvent } from '../../node/status.js';
import { weightOf, type FlowSendOptions } from '../flow.js';
import { Withdrawal } from '../../util/withdrawal.js';
import { formatHostPort, isLoopback, parseHostPort } from './address.js';
import { closeWith, Connection, type ConnectionHost, type Ending } from './connection.js';
import { Dialers, SELF_REDIAL_MS } from './dialers.js';
import { MIN_MAX_FRAME, newIncarnation, type Hello } from './handshake.js';
import { PeerHistory } from './peer-history.js';
import { Session, type SessionHost } from './session.js';
import type { RawFrame } from './wire.js';
import type { NamesUpdate } from '../../names/replicas.js';
import { describeOption } from '../../util/options.js';

/** Why a connection that another to the same peer outranks is refused, or an open one it replaces is closed: routine, not logged. */
const DUPLICATE = 'duplicate connection';
const REPLACED = 'replaced by another connection';

/** Whether a connection ended for DUPLICATE or REPLACED, by this side or (`closed by the peer: ...`) by the peer. */
function routine(reason: string): boolean {
  return reason.endsWith(REPLACED) || reason.includes(`EAGAIN: ${DUPLICATE}: `);
}

export interface TlsOptions {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  /** The CA that signs every node's certificate: both sides verify each other (mutual TLS). */
  readonly ca: string | Buffer;
}

export interface TcpOptions {
  /** Largest frame this node accepts, and sends (the smaller of both sides' limits); default 64 MiB. */
  readonly maxFrame?: number;
  /** Bytes waiting for a peer's acknowledgement beyond which sends wait, or fail with EAGAIN; default 32 MiB. */
  readonly maxPendingBytes?: number;
  /** Milliseconds between heartbeats; default 1000. */
  readonly heartbeatMs?: number;
  /** Milliseconds of silence after which a peer is declared down; default 10 000. */
  readonly downMs?: number;
  /** Milliseconds a connection has to finish its handshake; default 5000. */
  readonly handshakeMs?: number;
  /** Reconnect delays: doubling from `min` to `max` ms, each with up to 50 % jitter; default 50 and 2000. */
  readonly backoff?: { readonly min?: number; readonly max?: number };
}

/** A message leaving this node: where, what, and the reply ref and call, if any. */
export interface OutboundMessage {
  readonly data: unknown;
  readonly from?: Ref | undefined;
  readonly call?: CallInfo | undefined;
  /** `data` is an array of messages (sendMany), delivered one by one. */
  readonly batch?: boolean | undefined;
}

/** What the proxy needs from its node. */
export interface ProxyHost {
  readonly node: string;
  /** Delivers a message that came from `peer` to a mailbox of this node. */
  deliver(ref: Ref, msg: OutboundMessage, wait: boolean, signal: Withdrawal): Promise<void>;
  /** Hands a reply that came from a peer to the isolate whose call it answers. */
  reply(isolate: number, env: ReplyEnvelope): void;
  /** This node's own bindings, in full, for a new session. */
  ownNames(): NamesUpdate;
  /** A peer's name update (full table or changes). */
  peerNames(peer: string, update: unknown): void;
  /** A peer is down: drop its names, fail the calls to it. */
  peerDown(peer: string, why: string): void;
  emit(ev: StatusEvent): void;
  log(line: string): void;
}

export interface ProxyOptions extends TcpOptions {
  readonly secret: string;
  readonly tls?: TlsOptions | undefined;
  /** The address peers should dial to reach this node; default: the address it listens on, unless that is a wildcard. */
  readonly advertise?: string | undefined;
  /** How a dial opens its socket; default node:net, or node:tls with `tls`. (Tests give sockets of their own.) */
  readonly openSocket?: ((host: string, port: number) => Socket) | undefined;
  /** Where the reconnect jitter comes from: numbers in [0, 1); default Math.random. (Tests give a seeded one.) */
  readonly random?: (() => number) | undefined;
}

/** Connections still in their handshake, at most, before new ones are refused. */
const MAX_HANDSHAKES = 64;

const DEFAULTS = {
  maxFrame: 64 * 1024 * 1024,
  maxPendingBytes: 32 * 1024 * 1024,
  heartbeatMs: 1000,
  downMs: 10_000,
  handshakeMs: 5000,
};

export class Proxy implements ConnectionHost, SessionHost {
  readonly node: string;
  readonly secret: string;
  readonly maxFrame: number;
  readonly handshakeMs: number;
  readonly incarnation = newIncarnation();
  advertised = '';
  private readonly heartbeatMs: number;
  private readonly downMs: number;
  private readonly staleMs: number;
  private readonly limits: { maxPendingBytes: number };
  private readonly sessions = new Map<string, Session>();
  /** The connection each session uses. */
  private readonly wires = new Map<string, Connection>();
  private readonly connections = new Set<Connection>();
  private readonly dialers: Dialers;
  /** Where each peer node listens, as it said in its handshake: passed on, so that every node can dial every other (a full mesh). */
  private readonly listening = new Map<string, string>();
  /** Peers whose names have arrived (a new session is announced up once they have). */
  private readonly announced = new Set<string>();
  /** Peers whose list of the nodes they know has arrived in the current session (sent after their names, when it starts). */
  private readonly introduced = new Set<string>();
  /** Each peer's epoch, the sessions with it this node ended and its replaced incarnations (see PeerHistory). */
  private readonly history = new PeerHistory((peer) => this.sessions.has(peer));
  private server: Server | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private shutDown = false;
  /** When the last tick ran (see tick), and the ticker's interval. */
  private lastTick = performance.now();
  private readonly tickMs: number;

  constructor(
    private readonly host: ProxyHost,
    private readonly opts: ProxyOptions,
  ) {
    this.node = host.node;
    this.secret = opts.secret;
    this.maxFrame = positive(opts.maxFrame, DEFAULTS.maxFrame, 'maxFrame', MIN_MAX_FRAME);
    this.handshakeMs = positive(opts.handshakeMs, DEFAULTS.handshakeMs, 'handshakeMs');
    this.heartbeatMs = heartbeatMsOf(opts);
    this.downMs = downMsOf(opts);
    this.staleMs = Math.min(3 * this.heartbeatMs, this.downMs);
    this.limits = { maxPendingBytes: positive(opts.maxPendingBytes, DEFAULTS.maxPendingBytes, 'maxPendingBytes') };
    const min = positive(opts.backoff?.min, 50, 'backoff.min');
    this.dialers = new Dialers(
      {
        connect: (host, port, address) => this.connectTo(host, port, address),
        connected: (peer, inc) => this.wires.get(peer)?.open === true && this.sessions.get(peer)?.incarnation === inc,
        emit: (ev) => this.host.emit(ev),
      },
      { min, max: Math.max(min, positive(opts.backoff?.max, 2000, 'backoff.max')) },
      opts.random ?? Math.random,
    );
    this.tickMs = Math.max(10, Math.floor(this.heartbeatMs / 2));
    this.ticker = setInterval(() => this.tick(), this.tickMs);
    this.ticker.unref();
  }

  // ---- listening and dialing ------------------------------------------

  /** Listens on `host:port`; resolves with the address bound (port 0 picks one). */
  listen(address: string): Promise<string> {
    const { host, port } = parseHostPort(address);
    const onSocket = (socket: Socket): void => this.accept(socket);
    const tls = this.opts.tls;
    const server = tls === undefined ? netServer(onSocket) : tlsServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, onSocket);
    if (tls !== undefined) {
      server.on('tlsClientError', (e: Error, socket: TLSSocket) => {
        this.rejected(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, undefined, { reason: `TLS: ${e.message}`, code: 'EACCES', by: 'local' });
      });
    }
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (e) => reject(new FosError('EINVAL', `cannot listen on ${address}: ${e.message}`)));
      server.listen(port, host, () => {
        const a = server.address();
        const bound = typeof a === 'object' && a !== null ? formatHostPort(a.address, a.port) : address;
        const wildcard = typeof a === 'object' && a !== null && (a.address === '0.0.0.0' || a.address === '::');
        this.advertised = this.opts.advertise ?? (wildcard ? '' : bound);
        resolve(bound);
      });
    });
  }

  /** Takes a connection a peer opened to this node: it shakes hands as the acceptor. */
  accept(socket: Socket): void {
    // Refused with a word (a Close frame), so that the dialer knows a fos node answered and can tell why.
    if (this.shutDown) {
      closeWith(socket, 'node shut down', true, 'ECLOSED');
      return;
    }
    // Unauthenticated connections cost a socket, a timer and up to 4 KiB each: a bounded number at a time.
    if (this.handshaking() >= MAX_HANDSHAKES) {
      const reason = `${MAX_HANDSHAKES} handshakes already in progress`;
      closeWith(socket, reason, false, 'EAGAIN');
      this.rejected(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, undefined, { reason, code: 'EAGAIN', by: 'local' });
      return;
    }
    this.track(new Connection(socket, 'acceptor', this, `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`));
  }

  /** Dials `address` and keeps a connection to it, redialing with backoff whenever it breaks. */
  dial(address: string): void {
    if (!this.shutDown) this.dialers.dial(address);
  }

  private connectTo(host: string, port: number, address: string): Connection {
    const tls = this.opts.tls;
    const socket =
      this.opts.openSocket !== undefined
        ? this.opts.openSocket(host, port)
        : tls === undefined
        ? netConnect({ host, port })
        : tlsConnect({ host, port, key: tls.key, cert: tls.cert, ca: tls.ca, rejectUnauthorized: true, checkServerIdentity: () => undefined });
    const conn = new Connection(socket, 'dialer', this, address);
    this.track(conn);
    return conn;
  }

  private track(conn: Connection): void {
    this.connections.add(conn);
  }

  private handshaking(): number {
    let n = 0;
    for (const c of this.connections) if (!c.open) n++;
    return n;
  }

  // ---- ConnectionHost --------------------------------------------------

  session(peer: string): Session | undefined {
    return this.sessions.get(peer);
  }

  epoch(peer: string): number {
    return this.history.epoch(peer);
  }

  ended(peer: string, sid: string): boolean {
    return this.history.ended(peer, sid);
  }

  retired(peer: string, inc: string): boolean {
    return this.history.retired(peer, inc);
  }

  liveIncarnation(peer: string): string | undefined {
    const s = this.sessions.get(peer);
    // Heard lately, whether or not its connection holds now: a process whose
    // connection just broke redials and resumes, and a newcomer of its name
    // must not take the session in between.
    return s !== undefined && performance.now() - s.lastHeard < this.staleMs ? s.incarnation : undefined;
  }

  /** Whether `conn` is the only connection this node has, or is making, that may lead to `peer` (one whose peer is not known yet may). */
  soleTo(conn: Connection, peer: string): boolean {
    for (const c of this.connections) if (c !== conn && (c.peer === undefined || c.peer === peer)) return false;
    return true;
  }

  established(conn: Connection, hello: Hello, sid: string, resumed: boolean, peerReceived: number): FosError | undefined {
    if (this.shutDown) return new FosError('ECLOSED', 'the node is shutting down');
    const peer = hello.node;
    // Authenticated: the dialer now knows which node is at its address, even if this connection is refused below.
    if (conn.role === 'dialer') this.dialers.reached(conn.address, peer, hello.inc);
    // The peer's count of what it received must fit the session it resumes
    // (a new session has sent nothing): otherwise frames it never had would
    // be dropped as acknowledged.
    const held = this.sessions.get(peer);
    const sent = resumed && held !== undefined && held.sid === sid ? held.lastSeq : 0;
    if (peerReceived > sent) return new FosError('EINVAL', `the peer acknowledges frame ${peerReceived}, but only ${sent} were sent in the session`);
    const current = this.wires.get(peer);
    let s = this.sessions.get(peer);
    // Two connections to one peer: both sides keep the one that ranks
    // first (see outranks), unless the one in use has gone silent. The one
    // replaced is closed only once this one is in place, so that its dialer
    // finds the peer connected and waits rather than dialing again.
    let replaced: Connection | undefined;
    if (current !== undefined && current !== conn && current.open) {
      const heard = s !== undefined && performance.now() - s.lastHeard < this.staleMs;
      // A dialer that has no other connection to this node says so: the
      // one in use here is one it no longer has (a break this side has not
      // seen yet, a restart), and this one replaces it whatever their ranks.
      const sole = conn.role === 'acceptor' && conn.peerSole;
      if (heard && !sole && this.outranks(current, conn)) return new FosError('EAGAIN', `${DUPLICATE}: keeping ${this.describe(current)}`);
      s?.detach(current);
      replaced = current;
    }
    // The peer holds another session (it restarted, or declared this node
    // down): what the old one had pending is lost on its side. A new session
    // of the same id is the one another connection to the peer started
    // while this one shook hands (see handshake.ts): this one joins it, and
    // each side sends again what the other has not acknowledged.
    if (s !== undefined && s.sid !== sid) {
      this.down(peer, 'the peer started a new session (it restarted, or had declared this node down)', conn.address);
      s = undefined;
    }
    const fresh = s === undefined;
    if (s === undefined) {
      s = new Session(peer, sid, hello.inc, this, this.limits);
      this.sessions.set(peer, s);
    }
    this.wires.set(peer, conn);
    this.history.met(peer, hello.inc);
    replaced?.close(REPLACED);
    if (conn.role === 'dialer') this.dialers.adopted(conn.address);
    s.attach(conn, peerReceived, Math.min(conn.peerMaxFrame, this.maxFrame));
    if (fresh) {
      try {
        s.sendNames(this.host.ownNames());
      } catch (e) {
        this.host.log(`names to ${peer} could not be sent: ${(e as Error).message}`);
      }
      if (!resumed) {
        this.announced.delete(peer);
        this.introduced.delete(peer);
      }
      this.introduce(s, peer, conn.peerListen);
    } else if (resumed && this.announced.has(peer) && replaced === undefined) {
      // Up again after a break. A connection that replaced one in use, or
      // joined a session another one just started (a crossing), changes
      // nothing the node can see.
      this.host.emit({ type: 'peer-up', node: peer, address: conn.peerListen || conn.address, resumed: true });
    }
    return undefined;
  }

  /**
   * Whether `x` ranks before `y`, two connections to one peer: first the
   * one dialed by the node whose name sorts first, then, between two that
   * one node dialed (two addresses of the peer), the one whose dialer's
   * nonce sorts first. Both sides know both nonces of every connection,
   * so both rank them alike, in whatever order the handshakes finish.
   */
  private outranks(x: Connection, y: Connection): boolean {
    const px = this.byFirstName(x);
    const py = this.byFirstName(y);
    if (px !== py) return px;
    return Buffer.compare(x.dialerNonce, y.dialerNonce) < 0;
  }

  /** Whether `conn` was dialed by whichever of this node and its peer has the name that sorts first. */
  private byFirstName(conn: Connection): boolean {
    const peer = conn.peer!;
    const dialer = conn.role === 'dialer' ? this.node : peer;
    return dialer === (this.node < peer ? this.node : peer);
  }

  private describe(conn: Connection): string {
    return `the one ${conn.role === 'dialer' ? `this node dialed (${conn.address})` : `${conn.peer!} dialed`}`;
  }

  frame(conn: Connection, f: RawFrame): void {
    const peer = conn.peer!;
    if (this.wires.get(peer) !== conn) return; // a connection being replaced: its frames come again on the new one
    this.sessions.get(peer)?.receive(f);
  }

  dialedItself(nonce: Uint8Array): boolean {
    for (const c of this.connections) {
      // Only a connection still waiting for the answer to its hello can be
      // the one that sent this hello: one that heard the peer's (one in use)
      // is not, whatever a replayed copy of its hello says.
      if (c.role !== 'dialer' || !c.awaitingHello || Buffer.compare(c.ownNonce, nonce) !== 0) continue;
      if (!this.dialers.isOwn(c.address)) this.host.log(`${c.address} leads back to this node itself: dialed again only every ${SELF_REDIAL_MS / 1000} s, quietly`);
      this.dialers.landedOnSelf(c);
      c.close('this node dialed itself', { tell: false, refused: false });
      return true;
    }
    return false;
  }

  closed(conn: Connection, ending: Ending, established: boolean): void {
    const { reason, final } = ending;
    this.connections.delete(conn);
    const peer = conn.peer;
    if (peer !== undefined && this.wires.get(peer) === conn) {
      this.wires.delete(peer);
      this.sessions.get(peer)?.detach(conn);
      // The peer shut down: it will not resume the session, so it is down now rather than after the timeout.
      if (final && !this.shutDown) this.down(peer, reason);
      this.dialers.unpark(peer, reason);
    }
    // This node's own shutdown ends its handshakes: nothing was refused.
    if (!established && ending.refused && !this.shutDown) this.rejected(conn.address, peer, ending);
    // Two connections that crossed, one kept (see outranks), is how a mesh forms: nothing to log.
    else if (established && !routine(reason)) this.host.log(`connection to ${peer ?? conn.address} closed: ${reason}`);
    if (conn.role !== 'dialer') return;
    // Its dialer learns which node it reached even from a refused handshake, so that it waits while that node is connected.
    if (conn.authenticated && peer !== undefined && conn.peerIncarnation !== undefined) this.dialers.reached(conn.address, peer, conn.peerIncarnation);
    this.dialers.ended(conn, reason);
  }

  private rejected(address: string, node: string | undefined, { reason, code, by }: Pick<Ending, 'reason' | 'code' | 'by'>): void {
    this.host.log(`handshake with ${node ?? address} rejected: ${reason}`);
    this.host.emit({ type: 'handshake-rejected', address, ...(node !== undefined ? { node } : {}), reason, code, by });
  }

  // ---- SessionHost -----------------------------------------------------

  message(session: Session, seq: number, isolate: number, env: MessageEnvelope): void {
    const ref = { address: { node: this.node, isolate, mailbox: env.to }, cap: env.cap } as Ref;
    const withdraw = new Withdrawal();
    session.waitingRoom.set(seq, () => withdraw.abort());
    let delivered: Promise<void>;
    try {
      // A call from another node is a plain call here: how its caller waits
      // (a sync slot, no verdict) is for transports within one node, and a
      // peer must not make this node skip the verdict it owes it.
      const call = env.call === undefined ? undefined : { id: env.call.id, method: env.call.method };
      delivered = this.host.deliver(ref, { data: env.data, from: env.from, call, batch: env.batch }, env.wait, withdraw);
    } catch (e) {
      delivered = Promise.reject(e);
    }
    delivered.then(
      () => session.verdict(seq, undefined),
      (e: unknown) => session.verdict(seq, asFosError(e)),
    );
  }

  reply(_session: Session, isolate: number, env: ReplyEnvelope): void {
    this.host.reply(isolate, env);
  }

  cancel(session: Session, seq: number): void {
    session.waitingRoom.get(seq)?.();
  }

  names(session: Session, update: unknown): void {
    this.host.peerNames(session.peer, update);
    // Up once the peer's whole table is here: the last part of it says no `more`.
    const more = typeof update === 'object' && update !== null && (update as { more?: unknown }).more === true;
    if (!more && !this.announced.has(session.peer)) {
      this.announced.add(session.peer);
      const conn = this.wires.get(session.peer);
      this.host.emit({ type: 'peer-up', node: session.peer, address: conn === undefined ? '' : conn.peerListen || conn.address, resumed: false });
    }
  }

  /** A new peer hears of every node this one knows, and they of it: each can then dial the others. */
  private introduce(s: Session, peer: string, listen: string): void {
    s.sendPeers([...this.listening].filter(([node]) => node !== peer));
    if (listen === '') return;
    this.listening.set(peer, listen);
    for (const other of this.sessions.values()) if (other !== s) other.sendPeers([[peer, listen]]);
  }

  peers(session: Session, list: unknown): void {
    this.introduced.add(session.peer);
    if (!Array.isArray(list)) return;
    for (const entry of list as unknown[]) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') continue;
      const [node, address] = entry as [string, string];
      if (node === this.node || this.sessions.has(node) || this.dialers.has(address)) continue;
      try {
        if (this.secret === '' && !isLoopback(parseHostPort(address).host)) continue; // never beyond loopback without a secret
        this.dialers.dial(address, node);
      } catch (e) {
        this.host.log(`not dialing ${address} (node ${node}): ${(e as Error).message}`);
      }
    }
  }

  slow(session: Session, slow: boolean): void {
    this.host.emit({ type: 'slow-peer', node: session.peer, pendingBytes: session.pendingBytes, slow });
  }

  // ---- the runtime's side ----------------------------------------------

  /** Sends a message to a mailbox of another node; settles on that node's verdict. */
  send(ref: Ref, msg: OutboundMessage, opts: FlowSendOptions): Promise<void> {
    const s = this.sessions.get(ref.address.node);
    if (s === undefined) return Promise.reject(new FosError('ENOENT', `no route to node ${ref.address.node}: it is not connected`));
    const env: MessageEnvelope = { type: RecordType.Message, to: ref.address.mailbox, cap: ref.cap, wait: opts.wait !== false, data: msg.data, from: msg.from, call: msg.call, batch: msg.batch };
    return s.send(ref.address.isolate, env, opts, weightOf(msg.data, msg.batch));
  }

  /** Sends the answer to a call a peer node's isolate made; dropped when that node is gone (its calls failed with it). */
  sendReply(to: Ref, callId: number, ok: boolean, result: unknown): void {
    const s = this.sessions.get(to.address.node);
    if (s === undefined) return;
    const data = ok ? result : toWire(asFosError(result));
    s.sendReply(to.address.isolate, { type: RecordType.Reply, callId, cap: to.cap, ok, data });
  }

  /** Sends a change to this node's names to every peer. */
  broadcastNames(update: NamesUpdate): void {
    for (const s of this.sessions.values()) {
      try {
        s.sendNames(update);
      } catch (e) {
        this.host.log(`name update to ${s.peer} failed: ${(e as Error).message}`);
      }
    }
  }

  /** Whether `address`, dialed last, led back to this node (no peer is waited for there meanwhile). */
  isOwnAddress(address: string): boolean {
    return this.dialers.isOwn(address);
  }

  /** The node reached at `address` (dialed), once it is up (its names known); undefined before. */
  upAt(address: string): string | undefined {
    const node = this.dialers.peerAt(address);
    // The process found there: another of its name (refused, or the one it replaced) does not make the address up.
    return node !== undefined && this.announced.has(node) && this.sessions.get(node)?.incarnation === this.dialers.incarnationAt(address) ? node : undefined;
  }

  /** Whether `node`'s list of the nodes it knows has arrived (so this node dials those it has no session with). */
  introducedBy(node: string): boolean {
    return this.introduced.has(node);
  }

  /** Whether every node this node dials because a peer introduced it is up (a session, its names known). */
  introducedUp(): boolean {
    for (const node of this.dialers.learnedNodes()) if (!this.announced.has(node)) return false;
    return true;
  }

  /** The nodes this node has a session with, connected or reconnecting. */
  peerList(): { node: string; connected: boolean; pendingBytes: number }[] {
    return [...this.sessions.values()].map((s) => ({ node: s.peer, connected: s.connected, pendingBytes: s.pendingBytes }));
  }

  // ---- liveness ----------------------------------------------------------

  /**
   * Judges each peer's silence, and sends heartbeats. A peer is silent only
   * over time this node's own loop ran: a tick more than a heartbeat late
   * means the loop stood still (SIGSTOP, a hang, a long synchronous task),
   * and what the peers sent meanwhile waits unread in the sockets. That
   * time is left out of their silence, rather than every connection being
   * closed as stale or every peer declared down at once. (Peers that
   * declared this node down start a new session when it redials; if a
   * later process of its name took over, they refuse it with EEXIST.)
   */
  private tick(): void {
    const now = performance.now();
    // A tick later than one heartbeat: the loop stood still for what
    // exceeds the ticker's interval, and that time is taken out of every
    // peer's silence (so a loop that is merely slow still sees a dead peer
    // go down, in the time it ran).
    const stood = now - this.lastTick - this.tickMs;
    if (stood > this.heartbeatMs - this.tickMs) {
      for (const s of this.sessions.values()) {
        s.lastHeard = Math.min(now, s.lastHeard + stood);
        s.attachedAt = Math.min(now, s.attachedAt + stood);
      }
      if (this.sessions.size > 0) this.host.log(`this node's event loop stood still for ${Math.round(stood)} ms: its peers' silence leaves that time out`);
    }
    this.lastTick = now;
    for (const s of [...this.sessions.values()]) {
      const heard = s.lastHeard;
      const silent = now - heard;
      if (silent > this.downMs) {
        this.silent(s.peer, `no frame for ${Math.round(silent)} ms`);
        continue;
      }
      const conn = this.wires.get(s.peer);
      if (conn === undefined) continue;
      const quiet = now - Math.max(heard, s.attachedAt);
      if (quiet > this.staleMs) conn.close(`no frame for ${Math.round(quiet)} ms`);
      else s.heartbeat(now, this.heartbeatMs);
    }
  }

  /**
   * Declares `peer` down for its silence. The peer may still hold the
   * session, and nothing else changed that a new session's id is derived
   * from: this node's epoch for it moves on, so that the next session
   * cannot be taken for this one. (Every other way a session ends, a new
   * id is already due: the peer restarted, shut down, or started another.)
   */
  private silent(peer: string, why: string): void {
    this.history.bump(peer);
    this.down(peer, why);
  }

  /**
   * Declares `peer` down: its session fails, its names go, the calls to it
   * fail. Dialers learned for it are dropped, but the one at `keep` (whose
   * connection starts the peer's new session).
   */
  private down(peer: string, why: string, keep?: string): void {
    const s = this.sessions.get(peer);
    if (s === undefined) return;
    this.sessions.delete(peer);
    this.history.end(peer, s.sid);
    this.announced.delete(peer);
    this.introduced.delete(peer);
    this.listening.delete(peer);
    this.dialers.forget(peer, keep);
    const conn = this.wires.get(peer);
    this.wires.delete(peer);
    this.dialers.unpark(peer, why); // configured dialers keep trying: the node may come back
    s.fail(new FosError('ECONNRESET', `node ${peer} is down: ${why}`));
    conn?.close(`node declared down: ${why}`);
    this.host.peerDown(peer, why);
    this.host.log(`node ${peer} is down: ${why}`);
    this.host.emit({ type: 'peer-down', node: peer, reason: why });
  }

  /** Stops listening and dialing, closes every connection; pending sends fail with ECLOSED. */
  async close(): Promise<void> {
    if (this.shutDown) return;
    this.shutDown = true;
    clearInterval(this.ticker);
    this.dialers.close();
    // Peers hear that this node goes (they declare it down at once), then what was pending fails.
    for (const c of [...this.connections]) c.close('node shut down', { code: 'ECLOSED', final: true });
    for (const s of this.sessions.values()) s.fail(new FosError('ECLOSED', 'node shut down'));
    this.sessions.clear();
    const server = this.server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function heartbeatMsOf(opts: TcpOptions): number {
  return positive(opts.heartbeatMs, DEFAULTS.heartbeatMs, 'heartbeatMs');
}

/** The down timeout that `opts` give a node (EINVAL for a bad one). */
export function downMsOf(opts: TcpOptions): number {
  const heartbeatMs = heartbeatMsOf(opts);
  const downMs = positive(opts.downMs, Math.max(DEFAULTS.downMs, 3 * heartbeatMs), 'downMs');
  // Shorter, and a quiet healthy link would be declared down between two heartbeats.
  if (downMs < 3 * heartbeatMs) throw new FosError('EINVAL', `downMs (${downMs}) is at least three heartbeats (3 x ${heartbeatMs} ms)`);
  return downMs;
}

function positive(v: number | undefined, dflt: number, what: string, min = 1): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new FosError('EINVAL', `${what} is a number >= ${min}, got ${describeOption(v)}`);
  return v;
}
