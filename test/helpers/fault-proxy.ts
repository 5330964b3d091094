// A fault-injecting TCP proxy for the tests across nodes: it listens on
// loopback and forwards every connection it accepts to `target`, and on
// request cuts the connections mid-stream (both sockets destroyed, in the
// middle of a frame when the cut comes at a byte offset), stalls them (no
// byte forwarded for a while, in either direction), or delays them (each
// chunk held for some milliseconds, order kept). It counts every fault it
// really injected, so that a test can assert the faults fired.
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A small seeded PRNG (mulberry32): the same seed gives the same faults. */
export function prng(seed: number): { next(): number; int(lo: number, hi: number): number; pick<T>(xs: readonly T[]): T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    /** An integer in [lo, hi]. */
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
  };
}

/** 'up': from the client (the dialing node) to the target; 'down': back. */
export type Direction = 'up' | 'down';

export interface FaultCounts {
  /** Connections accepted (a node dialing through the proxy). */
  accepted: number;
  /** Cuts that destroyed at least one live connection, whatever asked for them. */
  cuts: number;
  /** Of those, cuts made at an armed byte offset, in the middle of the stream. */
  offsetCuts: number;
  /** Stalls started while a connection was live. */
  stalls: number;
  /** Chunks forwarded late because a delay was set. */
  delayedChunks: number;
  /** Bytes forwarded each way, over every connection. */
  bytes: Record<Direction, number>;
}

export interface FaultProxy {
  /** Where nodes dial to reach `target` through the proxy. */
  readonly address: string;
  readonly counts: FaultCounts;
  /** Connections currently forwarded. */
  readonly live: number;
  /** Destroys every live connection at once; returns how many it cut. */
  cut(): number;
  /** Cuts every connection once `bytes` more bytes have been forwarded `dir` (the cut splits the chunk that crosses the offset). */
  cutAfter(bytes: number, dir: Direction): void;
  /** Forwards nothing (in direction `dir` only, if given) for `ms`: data waits, in order; resolves when the stall ends. */
  stall(ms: number, dir?: Direction): Promise<void>;
  /** Holds every chunk `ms` before forwarding it (0 ends the delay). */
  delay(ms: number): void;
  /** Disarms a pending cutAfter and ends the delay (a stall runs to its end). */
  calm(): void;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

/** Past this many bytes held for a direction, the proxy stops reading its source. */
const HIGH_WATER = 1 << 20;

interface Held {
  readonly chunk: Buffer;
  readonly at: number;
}

interface Pipe {
  readonly dir: Direction;
  readonly src: Socket;
  readonly dst: Socket;
  readonly queue: Held[];
  queued: number;
  ended: boolean;
  /** The source closed: once what it sent is forwarded, the pair goes. */
  closed: boolean;
  timer: NodeJS.Timeout | undefined;
  lastAt: number;
}

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly pipes: Pipe[];
  dead: boolean;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const m = /^(.*):(\d+)$/.exec(target);
  if (m === null) throw new Error(`target is HOST:PORT, got ${target}`);
  const [host, port] = [m[1]!, Number(m[2])];
  const pairs = new Set<Pair>();
  const counts: FaultCounts = { accepted: 0, cuts: 0, offsetCuts: 0, stalls: 0, delayedChunks: 0, bytes: { up: 0, down: 0 } };
  const stalledUntil: Record<Direction, number> = { up: 0, down: 0 };
  const stallTimers = new Map<NodeJS.Timeout, () => void>();
  let delayMs = 0;
  let armed: { dir: Direction; at: number } | undefined;
  let closing = false;

  /** Stops forwarding for `p` at once; its sockets are destroyed now, or on the next turn when `soon`. */
  const kill = (p: Pair, soon = false): boolean => {
    if (p.dead) return false;
    p.dead = true;
    pairs.delete(p);
    for (const pipe of p.pipes) clearTimeout(pipe.timer);
    const destroy = (): void => {
      p.client.destroy();
      p.upstream.destroy();
    };
    if (soon) setImmediate(destroy);
    else destroy();
    return true;
  };

  const cutAll = (soon = false): number => {
    let n = 0;
    for (const p of [...pairs]) if (kill(p, soon)) n++;
    if (n > 0) counts.cuts++;
    return n;
  };

  const pump = (p: Pair, pipe: Pipe): void => {
    clearTimeout(pipe.timer);
    pipe.timer = undefined;
    if (p.dead) return;
    const now = performance.now();
    if (now < stalledUntil[pipe.dir]) {
      pipe.timer = setTimeout(() => pump(p, pipe), stalledUntil[pipe.dir] - now + 1);
      return;
    }
    while (pipe.queue.length > 0) {
      const head = pipe.queue[0]!;
      if (head.at > now) {
        pipe.timer = setTimeout(() => pump(p, pipe), head.at - now + 1);
        return;
      }
      pipe.queue.shift();
      pipe.queued -= head.chunk.length;
      let chunk = head.chunk;
      let cutHere = false;
      if (armed !== undefined && armed.dir === pipe.dir && counts.bytes[pipe.dir] + chunk.length >= armed.at) {
        // The cut falls inside this chunk: forward what comes before it, then cut.
        chunk = chunk.subarray(0, Math.max(0, armed.at - counts.bytes[pipe.dir]));
        cutHere = true;
      }
      counts.bytes[pipe.dir] += chunk.length;
      if (chunk.length > 0 && !pipe.dst.write(chunk) && !pipe.src.isPaused()) {
        // The destination reads slowly: so does the proxy.
        pipe.src.pause();
        pipe.dst.once('drain', () => {
          if (!p.dead && pipe.queued < HIGH_WATER) pipe.src.resume();
        });
      }
      if (cutHere) {
        armed = undefined;
        // Nothing more is forwarded from now on; the sockets go on the next
        // turn, so that the bytes before the offset leave first.
        if (cutAll(true) > 0) counts.offsetCuts++;
        return;
      }
    }
    if (pipe.queued < HIGH_WATER / 4 && pipe.src.isPaused() && !pipe.ended) pipe.src.resume();
    if (pipe.closed) kill(p, true);
    else if (pipe.ended) pipe.dst.end();
  };

  const pipeOf = (p: Pair, dir: Direction, src: Socket, dst: Socket): Pipe => {
    const pipe: Pipe = { dir, src, dst, queue: [], queued: 0, ended: false, closed: false, timer: undefined, lastAt: 0 };
    src.on('data', (chunk: Buffer) => {
      if (p.dead) return;
      const at = Math.max(pipe.lastAt, performance.now() + delayMs);
      if (delayMs > 0) counts.delayedChunks++;
      pipe.lastAt = at;
      pipe.queue.push({ chunk, at });
      pipe.queued += chunk.length;
      if (pipe.queued > HIGH_WATER) src.pause();
      if (pipe.timer === undefined) pump(p, pipe);
    });
    src.on('end', () => {
      pipe.ended = true;
      if (pipe.timer === undefined) pump(p, pipe);
    });
    // A source that closes (it said all it had to say) takes the pair once its bytes are forwarded,
    // as a real network would deliver them; an error takes it at once.
    src.on('close', () => {
      pipe.ended = true;
      pipe.closed = true;
      if (pipe.timer === undefined) pump(p, pipe);
    });
    src.on('error', () => kill(p));
    return pipe;
  };

  const server: Server = createServer((client) => {
    if (closing) {
      client.destroy();
      return;
    }
    counts.accepted++;
    const upstream = connect({ host, port });
    const p: Pair = { client, upstream, pipes: [], dead: false };
    pairs.add(p);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    p.pipes.push(pipeOf(p, 'up', client, upstream), pipeOf(p, 'down', upstream, client));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const a = server.address();
  if (a === null || typeof a !== 'object') throw new Error('the fault proxy has no address');

  return {
    address: `127.0.0.1:${a.port}`,
    counts,
    get live() {
      return pairs.size;
    },
    cut: cutAll,
    cutAfter(bytes, dir) {
      if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`cutAfter: bytes is a count, got ${bytes}`);
      armed = { dir, at: counts.bytes[dir] + bytes };
    },
    stall(ms, dir) {
      if (pairs.size > 0) counts.stalls++;
      for (const d of dir === undefined ? (['up', 'down'] as const) : [dir]) stalledUntil[d] = Math.max(stalledUntil[d], performance.now() + ms);
      // A pipe looks at the stall whenever it pumps, and waits for its end.
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          stallTimers.delete(t);
          resolve();
        }, ms);
        stallTimers.set(t, resolve);
      });
    },
    delay(ms) {
      delayMs = Math.max(0, ms);
    },
    calm() {
      armed = undefined;
      delayMs = 0;
    },
    async close() {
      closing = true;
      for (const [t, resolve] of stallTimers) {
        clearTimeout(t);
        resolve();
      }
      stallTimers.clear();
      for (const p of [...pairs]) kill(p);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
