// tcp: round trips and one-way messages to a second node process over
// loopback, beside raw node:net doing the same between two processes.
import { fork, type ChildProcess } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { call, connect, lookup, type Ref } from '../../../src/index.js';
import type { BenchService } from '../services/bench-service.js';
import { burstTo } from './sinks.js';
import { windowFor, type Env, type RoundTripSubject, type ThroughputSubject } from './subject.js';

const FAR_NODE = fileURLToPath(new URL('../services/far-node.js', import.meta.url));
const RAW_NET = fileURLToPath(new URL('../workers/raw-net.js', import.meta.url));

/** A child process that says it is ready with one IPC message. */
async function child<T>(file: string, args: string[]): Promise<{ proc: ChildProcess; hello: T }> {
  const proc = fork(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
  const hello = await new Promise<T>((resolve, reject) => {
    proc.once('message', (m) => resolve(m as T));
    proc.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
  });
  return { proc, hello };
}

function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGKILL');
  return exited;
}

/** Starts a far node serving the bench service; resolves once this node sees its names. */
async function farNode(env: Env, what: string): Promise<{ ref: Ref; remote: ReturnType<typeof connect<BenchService>>; close: () => Promise<void> }> {
  const address = env.node.address;
  if (address === undefined) throw new Error('the tcp measurements need the bench node to listen');
  const name = env.name(what);
  const { proc } = await child<{ ready: string }>(FAR_NODE, [address, name]);
  const deadline = Date.now() + 10_000;
  let refs: Ref[] = [];
  while (refs.length === 0) {
    refs = await lookup(name).catch(() => []);
    if (refs.length === 0) {
      if (Date.now() > deadline) throw new Error(`${name} of the far node never showed`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return { ref: refs[0]!, remote: connect<BenchService>(refs[0]!, { timeout: 120_000 }), close: () => stop(proc) };
}

/** A call to a service on the main thread of another node process, over loopback. */
export const tcpCall: RoundTripSubject = {
  id: 'tcp',
  label: 'fos call, tcp, another node on loopback',
  family: 'fos',
  async open(env) {
    const far = await farNode(env, 'far-echo');
    return { probe: (payload) => ({ kind: 'async', run: () => call(far.ref, 'echo', [payload]) }), close: far.close };
  },
};

/** One-way sends (or sendMany batches) to a mailbox on another node process, counted there. */
function tcpSinkBy(id: string, label: string, batched: boolean): ThroughputSubject {
  return {
    id,
    label,
    family: 'fos',
    async open(env) {
      const far = await farNode(env, 'far-sink');
      const sink = await far.remote.sink();
      return { burst: burstTo(sink, 'tcp', (n) => far.remote.sunk(n), batched), close: far.close };
    },
  };
}

export const tcpSink = tcpSinkBy('tcp', 'fos send, tcp, another node on loopback', false);
export const tcpManySink = tcpSinkBy('tcp-many', 'fos sendMany, tcp, another node on loopback', true);

/** A socket to a raw node:net server process, reading u32 answers and echoed frames in order. */
async function rawSocket(mode: 'echo' | 'sink'): Promise<{ socket: Socket; read: (bytes: number) => Promise<Buffer>; close: () => Promise<void> }> {
  const { proc, hello } = await child<{ port: number }>(RAW_NET, [mode]);
  const socket = netConnect({ host: '127.0.0.1', port: hello.port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buffered: Buffer = Buffer.alloc(0);
  let want: { bytes: number; resolve: (b: Buffer) => void } | undefined;
  const deliver = (): void => {
    if (want === undefined || buffered.length < want.bytes) return;
    const out = buffered.subarray(0, want.bytes);
    buffered = buffered.subarray(want.bytes);
    const w = want;
    want = undefined;
    w.resolve(out);
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    deliver();
  });
  return {
    socket,
    read: (bytes) =>
      new Promise((resolve) => {
        want = { bytes, resolve };
        deliver();
      }),
    close: async () => {
      socket.destroy();
      await stop(proc);
    },
  };
}

function frameOf(payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(4 + payload.length);
  b.writeUInt32LE(payload.length, 0);
  b.set(payload, 4);
  return b;
}

/** A length-prefixed frame written to another process over loopback and echoed back: the floor under tcp. */
export const rawNetPingPong: RoundTripSubject = {
  id: 'raw-net',
  label: 'raw node:net ping-pong',
  family: 'baseline',
  async open() {
    const raw = await rawSocket('echo');
    return {
      probe(payload) {
        const frame = frameOf(payload);
        return {
          kind: 'async',
          run: async () => {
            raw.socket.write(frame);
            await raw.read(frame.length);
          },
        };
      },
      close: raw.close,
    };
  },
};

/** Length-prefixed frames written corked, a window at a time, to a process that counts them. */
export const rawNetSink: ThroughputSubject = {
  id: 'raw-net',
  label: 'raw node:net one-way, corked',
  family: 'baseline',
  async open() {
    const raw = await rawSocket('sink');
    const query = Buffer.alloc(4);
    const count = async (): Promise<number> => {
      raw.socket.write(query);
      return (await raw.read(4)).readUInt32LE(0);
    };
    let total = 0;
    return {
      async burst(data, bytes, ms) {
        const frame = frameOf(data as Uint8Array);
        const window = windowFor(bytes);
        const t0 = performance.now();
        const end = t0 + ms;
        let sent = 0;
        while (performance.now() < end) {
          raw.socket.cork();
          for (let i = 0; i < window; i++) raw.socket.write(frame);
          raw.socket.uncork();
          sent += window;
          // The count answers after every frame before the query: at most one window is ever in the pipe.
          await count();
        }
        total += sent;
        const got = await count();
        if (got !== total >>> 0) throw new Error(`the raw sink counted ${got} of ${total} frames`);
        return sent / ((performance.now() - t0) / 1000);
      },
      close: raw.close,
    };
  },
};

/** What the bench node must be for the tcp subjects: listening on loopback. */
export const BENCH_LISTEN = '127.0.0.1:0';
