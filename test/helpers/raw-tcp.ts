// Raw node:net peers for the tests of a node's listening port: a socket that
// sends whatever bytes it is given and records what comes back (frames,
// the node's Close frame, who closed the connection and when), a dialer
// that speaks the handshake with the handshake helpers, and a relay that
// records what passes through it.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { packValue, unpackValue } from '../../src/envelope.js';
import { checkHello, newIncarnation, newNonce, proof, proofMatches, PROTOCOL_VERSION, type Hello } from '../../src/transport/tcp/handshake.js';
import { parseHostPort } from '../../src/transport/tcp/address.js';
import { FrameDecoder, FrameKind, frameWithBody, stampAck } from '../../src/transport/tcp/wire.js';

/** A frame as received, its body copied. */
export interface Frame {
  readonly kind: number;
  readonly seq: number;
  readonly ack: number;
  readonly body: Buffer;
}

export interface Closed {
  /** Milliseconds from the connect to the close. */
  readonly afterMs: number;
  /** The node closed it (an end of stream or a reset came before this side closed). */
  readonly byPeer: boolean;
  /** A socket error, if one ended it. */
  readonly error: string | undefined;
}

/** Encodes a frame; seq and ack as given (absurd values welcome). */
export function rawFrame(kind: number, body: Uint8Array, seq = 0, ack = 0): Buffer {
  const f = frameWithBody(kind as FrameKind, seq, body);
  stampAck(f, ack);
  return f;
}

export function helloBody(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { v: PROTOCOL_VERSION, node: 'raw', inc: newIncarnation(), nonce: newNonce(), maxFrame: 64 * 1024, ...over };
}

/** One connection to a node's port, driven byte by byte. */
export class RawConn {
  readonly frames: Frame[] = [];
  /** Every byte received, in order. */
  received = Buffer.alloc(0);
  readonly closed: Promise<Closed>;
  private readonly decoder = new FrameDecoder(2 ** 32 - 1);
  private decodeError: string | undefined;
  private endedHere = false;
  private waiters: (() => void)[] = [];

  /** The address the node sees this connection come from (kept: a closed socket forgets it). */
  readonly remoteOfNode: string;

  private constructor(
    readonly socket: Socket,
    readonly localPort: number,
    private readonly startedAt: number,
  ) {
    this.remoteOfNode = `${socket.localAddress ?? '?'}:${localPort}`;
    let byPeer = false;
    let error: string | undefined;
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      if (this.decodeError === undefined) {
        try {
          for (const f of this.decoder.push(chunk)) this.frames.push({ kind: f.kind, seq: f.seq, ack: f.ack, body: Buffer.from(f.body) });
        } catch (e) {
          this.decodeError = (e as Error).message;
        }
      }
      this.wake();
    });
    socket.on('end', () => {
      if (!this.endedHere) byPeer = true;
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (!this.endedHere) byPeer = true;
      error = e.code ?? e.message;
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.wake();
        resolve({ afterMs: performance.now() - this.startedAt, byPeer, error });
      }),
    );
  }

  /** Connects to `address` (HOST:PORT). */
  static open(address: string): Promise<RawConn> {
    const { host, port } = parseHostPort(address);
    const startedAt = performance.now();
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        resolve(new RawConn(socket, socket.localPort!, startedAt));
      });
    });
  }

  get isClosed(): boolean {
    return this.socket.closed;
  }

  send(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  sendFrame(kind: number, body: unknown, seq = 0, ack = 0): void {
    this.send(rawFrame(kind, body instanceof Uint8Array ? body : packValue(body), seq, ack));
  }

  /** The reason, finality and code of the Close frame the node sent, if it sent one. */
  get closeReason(): { reason: string; final: boolean; code: unknown } | undefined {
    const f = this.frames.find((x) => x.kind === FrameKind.Close);
    if (f === undefined) return undefined;
    const v = unpackValue(f.body);
    return Array.isArray(v) && typeof v[0] === 'string' ? { reason: v[0], final: v[1] === true, code: v[2] } : { reason: `<unreadable: ${JSON.stringify(v)}>`, final: false, code: undefined };
  }

  /** The first frame received from index `from` on that `match` accepts; fails after `ms` or when the connection closes. */
  async frame(match: (f: Frame) => boolean, ms = 5000, from = 0): Promise<Frame> {
    const deadline = performance.now() + ms;
    for (;;) {
      const f = this.frames.slice(from).find(match);
      if (f !== undefined) return f;
      if (this.decodeError !== undefined) throw new Error(`the node sent a broken stream: ${this.decodeError}`);
      if (this.socket.closed) throw new Error(`connection closed before the frame came (close frame: ${JSON.stringify(this.closeReason)})`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no matching frame within ${ms} ms (got kinds ${this.frames.map((x) => x.kind).join(',')})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for the close, failing after `ms`. */
  async waitClosed(ms: number): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.closed,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the node did not close the connection within ${ms} ms`)), ms))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes this side (idempotent). */
  destroy(): void {
    this.endedHere = true;
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export interface RawSession {
  readonly conn: RawConn;
  readonly own: Hello;
  readonly peer: Hello;
  /** The session both sides now hold. */
  readonly sid: string;
  /** What the node's Ready said it had received. */
  readonly readyReceived: number;
}

export interface DialOptions {
  readonly name: string;
  readonly secret: string;
  /** The session to offer to resume ('' for a new one). */
  readonly sid?: string;
  /** What the Auth says this side received. */
  readonly received?: unknown;
  /** The seq and ack fields written into the Hello and Auth frames (0 as the protocol says). */
  readonly seq?: number;
  readonly ack?: number;
}

/** Dials `address` and runs the dialer's side of the handshake with the helpers; resolves once the node's Ready came. */
export async function rawDial(address: string, o: DialOptions): Promise<RawSession> {
  const conn = await RawConn.open(address);
  try {
    // As a node dials: its session (and where it listens) only in its Auth, once the node proved itself.
    const own = helloBody({ node: o.name }) as unknown as Hello;
    conn.sendFrame(FrameKind.Hello, own, o.seq ?? 0, o.ack ?? 0);
    const hf = await conn.frame((f) => f.kind === FrameKind.Hello);
    const peer = checkHello(unpackValue(hf.body), true);
    if (!proofMatches(proof(o.secret, 'acceptor', own, peer), peer.proof)) throw new Error('the node does not know the secret');
    const sid = o.sid ?? '';
    conn.sendFrame(FrameKind.Auth, { proof: proof(o.secret, 'dialer', own, peer), sid, received: o.received ?? 0, epoch: 0, sole: true, listen: '' }, o.seq ?? 0, o.ack ?? 0);
    const rf = await conn.frame((f) => f.kind === FrameKind.Ready);
    const ready = unpackValue(rf.body) as { resumed: boolean; sid: string; received: number };
    return { conn, own, peer, sid: ready.sid, readyReceived: ready.received };
  } catch (e) {
    conn.destroy();
    throw e;
  }
}

export interface Recording {
  /** Bytes from the dialer to the node, per connection, in the order connections came. */
  readonly up: Buffer[];
  /** Bytes from the node to the dialer, per connection. */
  readonly down: Buffer[];
}

/** A relay on loopback that forwards every connection to `target` and records both directions. */
export async function recordingRelay(target: string): Promise<{ address: string; recording: Recording; close(): Promise<void> }> {
  const { host, port } = parseHostPort(target);
  const recording: Recording = { up: [], down: [] };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const i = recording.up.length;
    recording.up.push(Buffer.alloc(0));
    recording.down.push(Buffer.alloc(0));
    const upstream = connect({ host, port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (b: Buffer) => {
      recording.up[i] = Buffer.concat([recording.up[i]!, b]);
      upstream.write(b);
    });
    upstream.on('data', (b: Buffer) => {
      recording.down[i] = Buffer.concat([recording.down[i]!, b]);
      client.write(b);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address() as { port: number };
  return {
    address: `127.0.0.1:${a.port}`,
    recording,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Cuts recorded bytes into frames (bodies copied). */
export function framesOf(bytes: Buffer): Frame[] {
  return new FrameDecoder(2 ** 32 - 1).push(bytes).map((f) => ({ kind: f.kind, seq: f.seq, ack: f.ack, body: Buffer.from(f.body) }));
}
