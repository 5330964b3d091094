/**
 * One TCP (or TLS) connection to a peer node: the handshake, then frames in
 * both directions for the session that adopts it.
 *
 * States: 'hello' (waiting for the peer's hello), 'auth' (the acceptor
 * waits for the dialer's proof, the dialer for the acceptor's ready),
 * 'open' (adopted by a session), 'closed'. Before 'open' the frame limit is
 * HANDSHAKE_MAX_FRAME, so an unauthenticated peer cannot make this node
 * buffer more than that; every failure closes the connection with a reason
 * that the host logs, and touches nothing else.
 */
import type { Socket } from 'node:net';
import { FosError, isErrorCode, type ErrorCode } from '../../errors.js';
import { packValue, unpackValue } from '../../envelope.js';
import { checkAuth, checkHello, checkReady, newNonce, newSessionId, proof, proofMatches, PROTOCOL_VERSION, type Auth, type Hello, type Ready } from './handshake.js';
import { FrameDecoder, FrameKind, frameWithBody, type RawFrame } from './wire.js';

/** The most an unauthenticated peer may send in one frame. */
const HANDSHAKE_MAX_FRAME = 4096;

export type Role = 'dialer' | 'acceptor';

/** How a connection ended. */
export interface Ending {
  readonly reason: string;
  /**
   * What kind of end: for a refused handshake, why it was refused (EACCES
   * authentication, EEXIST the name is held by another process of it,
   * EINVAL protocol, ETIMEDOUT too slow, EAGAIN a crossing to try again,
   * ECLOSED shutting down); ECONNRESET for a connection that just broke.
   */
  readonly code: ErrorCode;
  /** Which side ended it: this node, or the peer (by its Close frame). */
  readonly by: 'local' | 'peer';
  /** Whether a side refused it, rather than the network failing. */
  readonly refused: boolean;
  /** Whether a side shuts down (the peer said so, or this node does): no reconnect will resume the session. */
  readonly final: boolean;
}

/** How `Connection.close` ends a connection. */
export interface CloseOptions {
  /** The code of the end (default ECONNRESET). */
  readonly code?: ErrorCode;
  /** Send the reason to the peer first (default true). */
  readonly tell?: boolean;
  /** A side refused it (default: as `tell`). */
  readonly refused?: boolean;
  /** This node shuts down. */
  readonly final?: boolean;
}

/** What the handshake reads of a session. */
export interface SessionView {
  readonly sid: string;
  readonly lastReceived: number;
}

/** What a connection needs from the node's proxy. */
export interface ConnectionHost {
  readonly node: string;
  readonly secret: string;
  readonly maxFrame: number;
  readonly handshakeMs: number;
  /** Where this node listens, as peers should dial it ('' when it does not listen). */
  readonly advertised: string;
  /** This node's incarnation, drawn when it started. */
  readonly incarnation: string;
  /** The session this node holds with `peer`, if any. */
  session(peer: string): SessionView | undefined;
  /** How many times this node declared `peer` down for its silence (a part of a new session's id). */
  epoch(peer: string): number;
  /** Whether this node ended a session `sid` with `peer`: none is ever started under that id again. */
  ended(peer: string, sid: string): boolean;
  /** Whether incarnation `inc` of `peer` was replaced by a later one: it is refused. */
  retired(peer: string, inc: string): boolean;
  /**
   * The incarnation of `peer` in the session this node holds with it, if
   * the peer was heard in it lately (within three heartbeats: it is alive,
   * even if its connection just broke); undefined otherwise.
   */
  liveIncarnation(peer: string): string | undefined;
  /** Whether `conn` is the only connection this node has, or is making, that may lead to `peer`. */
  soleTo(conn: Connection, peer: string): boolean;
  /**
   * The handshake succeeded: `sid` is the session (resumed when `resumed`),
   * the peer has every frame of it up to `peerReceived`. Returns why the
   * connection is refused (a duplicate), or undefined once it is adopted.
   */
  established(conn: Connection, peer: Hello, sid: string, resumed: boolean, peerReceived: number): FosError | undefined;
  frame(conn: Connection, f: RawFrame): void;
  /** The connection ended, as `ending` says; `established` whether it had been adopted. */
  closed(conn: Connection, ending: Ending, established: boolean): void;
  /**
   * This node accepted a hello of its own name and incarnation: whether a
   * connection it dialed, still waiting for the acceptor's hello, sent
   * `nonce` (one in use cannot have: its copy is a replay). If so, the node
   * reached itself: the host ends that dialing connection, and the
   * acceptor ends itself, quietly (nothing was refused).
   */
  dialedItself(nonce: Uint8Array): boolean;
}

export class Connection {
  private state: 'hello' | 'auth' | 'open' | 'closed' = 'hello';
  private readonly decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME);
  private ownHello: Hello;
  private peerHello: Hello | undefined;
  private sid = '';
  private resumed = false;
  /** The session this node held with the peer when its hello came. */
  private held: SessionView | undefined;
  private timer: NodeJS.Timeout | undefined;
  private corked = false;
  /** The peer's node name, once its hello came. */
  peer: string | undefined;
  /** Where the peer listens, as it said once authenticated ('' when it does not). */
  peerListen = '';
  /** True once the peer's proof checked out: `peer` is then who it says. */
  authenticated = false;
  /** For an acceptor: the dialer said this is its only connection to this node. */
  peerSole = false;

  constructor(
    readonly socket: Socket,
    readonly role: Role,
    private readonly host: ConnectionHost,
    /** The address dialed, or the remote address of an accepted connection. */
    readonly address: string,
  ) {
    socket.setNoDelay(true);
    this.ownHello = { v: PROTOCOL_VERSION, node: host.node, inc: host.incarnation, nonce: newNonce(), maxFrame: host.maxFrame };
    this.timer = setTimeout(() => this.close(`handshake not finished within ${host.handshakeMs} ms`, { code: 'ETIMEDOUT' }), host.handshakeMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.close(`socket error: ${e.message}`, { tell: false }));
    socket.on('close', () => this.close('connection closed', { tell: false }));
    if (role === 'dialer') this.sendRaw(FrameKind.Hello, this.ownHello);
  }

  get open(): boolean {
    return this.state === 'open';
  }

  private get ended(): boolean {
    return this.state === 'closed';
  }

  /** Writes a frame; frames written in one tick leave in one batch (cork/uncork). */
  write(frame: Buffer): void {
    if (this.state === 'closed') return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }

  /** Closes the connection for `reason` (see CloseOptions). */
  close(reason: string, how: CloseOptions = {}): void {
    const { code = 'ECONNRESET', tell = true, refused = tell, final = false } = how;
    this.end({ reason, code, by: 'local', refused, final }, tell);
  }

  /** Closes the connection for a FosError this side raised: a refusal with its code. */
  private refuse(e: FosError): void {
    this.close(e.message, { code: e.code });
  }

  private end(ending: Ending, tell: boolean): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    clearTimeout(this.timer);
    if (tell && !this.socket.destroyed) {
      try {
        closeWith(this.socket, ending.reason, ending.final, ending.code);
      } catch {
        // the socket is gone already
      }
    } else this.socket.destroy();
    this.host.closed(this, ending, wasOpen);
  }

  /**
   * Handles the frames of a chunk one by one, each cut only once the one
   * before is handled: the handshake's last frame raises the size limit,
   * and the peer's first frames of the session (its name table, frames it
   * sends again) may come in the same chunk.
   */
  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.decoder.append(chunk);
    for (;;) {
      if (this.ended) return; // a frame before closed it
      let f: RawFrame | undefined;
      try {
        f = this.decoder.next();
      } catch (e) {
        this.close(`malformed stream: ${(e as Error).message}`, { code: 'EINVAL' });
        return;
      }
      if (f === undefined) return;
      try {
        if (f.kind === FrameKind.Close) {
          const { why, final, code } = closeReason(f.body);
          this.end({ reason: `closed by the peer: ${why}`, code, by: 'peer', refused: true, final }, false);
          return;
        }
        if (this.state === 'open') this.host.frame(this, f);
        else this.handshake(f);
      } catch (e) {
        this.refuse(e instanceof FosError ? e : new FosError('EINVAL', `protocol error: ${(e as Error).message}`));
        return;
      }
    }
  }

  private handshake(f: RawFrame): void {
    const expected = this.state === 'hello' ? FrameKind.Hello : this.role === 'acceptor' ? FrameKind.Auth : FrameKind.Ready;
    if (f.kind !== expected) throw new FosError('EINVAL', `unexpected frame kind ${f.kind} during the handshake`);
    const body = unpackValue(f.body);
    const secret = this.host.secret;
    const advertised = this.host.advertised;
    if (this.state === 'hello') {
      const hello = checkHello(body, this.role === 'dialer');
      if (hello.node === this.host.node) {
        // The hello of a connection this process dialed to an address of its own (a node given its own address among its peers).
        if (this.role === 'acceptor' && hello.inc === this.ownHello.inc && this.host.dialedItself(hello.nonce)) {
          this.close('this node dialed itself', { tell: false, refused: false });
          return;
        }
        if (hello.inc === this.ownHello.inc) throw new FosError('EINVAL', `the peer calls itself ${hello.node}, as this node is called, with this very process's incarnation: a hello of this node's, replayed or come late`);
        throw new FosError('EINVAL', `the peer calls itself ${hello.node}, as this node is called: another process has this node's name (give one of them another name)`);
      }
      this.peerHello = hello;
      this.peer = hello.node;
      this.held = this.host.session(hello.node);
      this.state = 'auth';
      if (this.role === 'acceptor') {
        this.sendRaw(FrameKind.Hello, { ...this.ownHello, proof: proof(secret, 'acceptor', hello, this.ownHello) });
        return;
      }
      if (!proofMatches(proof(secret, 'acceptor', this.ownHello, hello), hello.proof)) {
        throw new FosError('EACCES', `authentication failed: node ${hello.node}, which answered, and node ${this.host.node} do not hold the same cluster secret (one has another, or none)`);
      }
      this.authenticated = true;
      // Refused before the Auth, so that the acceptor, which adopts the
      // connection as it sends its Ready, hears it as a refused handshake.
      this.checkIncarnation();
      // Only now, the acceptor proven, does the dialer say what it knows of their session, and where it listens.
      const auth: Auth = {
        proof: proof(secret, 'dialer', this.ownHello, hello),
        sid: this.held?.sid ?? '',
        received: this.held?.lastReceived ?? 0,
        epoch: this.host.epoch(hello.node),
        sole: this.host.soleTo(this, hello.node),
        listen: advertised,
      };
      this.sendRaw(FrameKind.Auth, auth);
      return;
    }
    const peer = this.peerHello!;
    if (this.role === 'acceptor') {
      const given = body as Partial<Auth> | null;
      if (given === null || typeof given !== 'object' || !proofMatches(proof(secret, 'dialer', peer, this.ownHello), given.proof)) {
        throw new FosError('EACCES', `authentication failed: node ${peer.node}, which dialed, and node ${this.host.node} do not hold the same cluster secret (one has another, or none)`);
      }
      this.authenticated = true;
      const auth = checkAuth(given);
      this.peerSole = auth.sole;
      const resumed = auth.sid !== '' && auth.sid === this.held?.sid;
      const sid = resumed
        ? auth.sid
        : newSessionId({ node: peer.node, inc: peer.inc, epoch: auth.epoch }, { node: this.host.node, inc: this.ownHello.inc, epoch: this.host.epoch(peer.node) });
      this.decide(resumed, sid);
      this.peerListen = auth.listen;
      const ready: Ready = { resumed, sid, received: resumed ? this.held!.lastReceived : 0, listen: advertised };
      this.sendRaw(FrameKind.Ready, ready);
      this.adopt(resumed ? auth.received : 0);
      return;
    }
    const ready = checkReady(body);
    if (ready.resumed && ready.sid !== this.held?.sid) throw new FosError('EINVAL', 'the peer resumes a session this node does not hold');
    this.decide(ready.resumed, ready.sid);
    this.peerListen = ready.listen;
    this.adopt(ready.resumed ? ready.received : 0);
  }

  /**
   * Takes the session the handshake chose, if what it chose still holds.
   * Never with an incarnation of the peer that a later one replaced, or
   * while another of its name lives (checkIncarnation); never
   * one this node ended: a handshake that began before (its Ready
   * names the ended one's id), or a stale incarnation of the peer, would
   * give both sides one id with two numberings of frames. A resumed
   * session must be the one this node held when the hello came; a new one
   * may also be a session of the same id that another connection to the
   * peer started meanwhile (two nodes dialing each other at once derive
   * the same id: both connections join it). Otherwise another connection
   * replaced the session while this one shook hands, and this one is
   * refused.
   */
  private decide(resumed: boolean, sid: string): void {
    const peer = this.peer!;
    this.checkIncarnation();
    if (!resumed && this.host.ended(peer, sid)) throw new FosError('EINVAL', 'the session it would start was ended here (a late handshake, or a stale incarnation of the peer)');
    const now = this.host.session(peer);
    const holds = now === this.held || (!resumed && (now === undefined || now.sid === sid));
    if (!holds) throw new FosError('EAGAIN', 'the session changed during the handshake');
    this.resumed = resumed;
    this.sid = sid;
  }

  /**
   * Refuses the peer's process when a later one of its name replaced it,
   * or another of its name holds a live session here (see
   * ConnectionHost.liveIncarnation): EEXIST both, the name is another
   * process's.
   */
  private checkIncarnation(): void {
    const peer = this.peer!;
    const inc = this.peerHello!.inc;
    if (this.host.retired(peer, inc)) throw new FosError('EEXIST', `this process of node ${peer} is a former incarnation: a later process of that name replaced it`);
    const live = this.host.liveIncarnation(peer);
    if (live !== undefined && live !== inc) {
      throw new FosError('EEXIST', `node name ${peer} is taken by a process heard here within three heartbeats: another is let in once it is that silent (a restart, or two nodes with one name)`);
    }
  }

  private adopt(peerReceived: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.decoder.setLimit(this.host.maxFrame);
    this.state = 'open';
    const refused = this.host.established(this, this.peerHello!, this.sid, this.resumed, peerReceived);
    if (refused !== undefined) this.refuse(refused);
  }

  /** The nonce of the side that dialed, known to both sides once the hellos are exchanged: it ranks two connections one node dialed. */
  get dialerNonce(): Uint8Array {
    return this.role === 'dialer' ? this.ownHello.nonce : this.peerHello!.nonce;
  }

  /** A dialer that sent its hello and has not heard the acceptor's. */
  get awaitingHello(): boolean {
    return this.role === 'dialer' && this.state === 'hello';
  }

  /** The nonce this side sent in its hello. */
  get ownNonce(): Uint8Array {
    return this.ownHello.nonce;
  }

  /** The peer's incarnation, once its hello came. */
  get peerIncarnation(): string | undefined {
    return this.peerHello?.inc;
  }

  /** The largest frame the peer takes. */
  get peerMaxFrame(): number {
    return this.peerHello?.maxFrame ?? HANDSHAKE_MAX_FRAME;
  }

  private sendRaw(kind: FrameKind, body: unknown): void {
    this.write(frameWithBody(kind, 0, packValue(body)));
  }
}

/**
 * Ends `socket` with a Close frame: [reason, final, code], so that the peer
 * reports the refusal under the same code (and, `final`, knows this node
 * is gone rather than the link broken). A peer that does not read or close
 * gets no more than a second.
 */
export function closeWith(socket: Socket, reason: string, final: boolean, code: ErrorCode): void {
  // A socket ended is not read any more: an error on it (a reset) ends it, and is nobody's news.
  socket.on('error', () => socket.destroy());
  socket.end(frameWithBody(FrameKind.Close, 0, packValue([reason.slice(0, 200), final, code])));
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** The reason a Close frame gives, whether its sender shuts down, and the code (EINVAL when it gives none it should). */
function closeReason(b: Buffer): { why: string; final: boolean; code: ErrorCode } {
  try {
    const v = unpackValue(b);
    if (Array.isArray(v) && typeof v[0] === 'string') {
      const code: ErrorCode = isErrorCode(v[2]) ? v[2] : 'EINVAL';
      return { why: v[0], final: v[1] === true, code };
    }
  } catch {
    // no readable reason
  }
  return { why: 'no reason given', final: false, code: 'EINVAL' };
}
